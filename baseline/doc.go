// Package baseline turns a recorded trace into a normalised, order-free
// description of what a program did (a Baseline) and reads and writes it as
// the human-reviewed YAML file .behavediff/baselines/NAME.yaml.
//
// Normalisation (docs/normalisation.md) removes everything that varies
// between runs of an unchanged program — pids, timestamps, temp names,
// ephemeral ports, the IP addresses behind a DNS name, the number of
// identical workers — so that two runs of the same program give equal
// baselines and diff clean. Data flows one way: store → baseline → diff.
package baseline
