// Package diff compares a run's normalised behaviour with its approved
// baseline and rates every difference by risk (docs/risk.md), then renders
// the result like a snapshot-test report.
package diff
