// Package policy turns an approved baseline into what `--enforce` applies
// to a run and `behavediff policy` prints: the egress allow-list (the
// baseline's network.egress endpoints) for the sandbox's egress proxy.
// It reads baselines and produces plain values; applying them is the
// recorder's job.
package policy
