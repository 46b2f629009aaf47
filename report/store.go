package report

import (
	"time"

	"github.com/behavediff/behavediff/store"
)

// Checks turns the document into the rows the trace database keeps for it
// (views checks and findings), one per spec, all stamped with at.
func Checks(d Document, at time.Time) []store.Check {
	var out []store.Check
	for _, s := range d.Specs {
		c := store.Check{
			RunID: s.RunID, Spec: s.Name, Command: orDefault(d.Command, "check"), Status: s.Status,
			FailOn: d.FailOn, Error: s.Error, At: at, ToolVersion: d.Tool.Version,
		}
		for _, f := range s.Findings {
			c.Findings = append(c.Findings, store.CheckFinding{
				Level: int(f.Level), RuleID: f.RuleID, Kind: f.Kind, Change: f.Change, Section: f.Section,
				Subject: f.Subject, Reason: f.Reason, Process: f.Process, Query: f.Query, Fingerprint: f.Fingerprint,
			})
		}
		out = append(out, c)
	}
	return out
}
