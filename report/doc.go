// Package report renders the result of a check or diff (diff.Report) for
// the places CI users already look: text for the terminal, a versioned JSON
// document (docs/report.md), SARIF 2.1.0 for code scanning, JUnit XML for
// test tabs and Markdown for job summaries. It also merges the reports of
// several shards into one, keeping every finding and the worst verdict.
//
// Every format is rendered from one Document (Build), so a fact such as a
// finding's rule id or fingerprint is computed once and reads the same in
// all of them.
package report
