// Package htmlreport renders one run as a single self-contained HTML file
// (behavediff report, check --report): process tree, per-process timeline,
// findings with their evidence, workspace changes, syscall histogram and
// the run's metadata and limits. The file fetches nothing (a Content
// Security Policy forbids it), so it opens from file:// or a CI artifact.
//
// A run can hold millions of events; the report holds aggregates (distinct
// behaviours per process with counts, time buckets) under fixed caps that it
// states, and the page renders lazily and in pages, so its size and load
// time are bounded whatever the run's size.
package htmlreport
