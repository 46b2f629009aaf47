// Package snapshot is behavediff's snapshot-test workflow: where a project
// keeps its specs, baselines and pending changes (.behavediff/), what a REF
// on the command line names, how runs become a baseline (approve, with its
// risk guard and the union of several runs), how a replay is judged against
// its baseline (check: status, exit code, pending file, what to run next),
// and how pending changes are reviewed one finding at a time.
//
// It drives replay (through the Runner interface, so every workflow is
// testable on recorded traces without root), baseline and diff; it renders
// nothing: results are data (diff.Report) that cmd/behavediff and report
// renderers consume.
package snapshot
