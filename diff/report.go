package diff

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/behavediff/behavediff/internal/errwriter"
)

// Spec statuses.
const (
	StatusPass         = "pass"         // nothing at or above --fail-on
	StatusFail         = "fail"         // new risky behaviour
	StatusInconclusive = "inconclusive" // the run cannot be judged (lost events, timeout, ...)
	StatusError        = "error"        // behavediff could not check the spec
	StatusNew          = "new"          // no baseline yet
	StatusSkipped      = "skipped"      // not checked: the check was interrupted first
)

// Report is the result of checking one or more specs.
type Report struct {
	Specs []SpecResult `json:"specs"`
	// Unreferenced lists baselines that no spec uses (never checked).
	Unreferenced []string `json:"unreferenced_baselines,omitempty"`
	Interrupted  bool     `json:"interrupted,omitempty"` // the check was stopped (Ctrl-C)
}

// SpecResult is the result for one spec.
type SpecResult struct {
	Name     string    `json:"name"`
	RunID    int64     `json:"run_id,omitempty"`
	Status   string    `json:"status"`
	Findings []Finding `json:"findings"`
	Error    string    `json:"error,omitempty"`

	ExitCode   *int     `json:"exit_code,omitempty"`   // the replayed command's exit code
	StderrTail string   `json:"stderr_tail,omitempty"` // last lines of a failing replay's stderr
	Pending    string   `json:"pending,omitempty"`     // pending baseline written for review
	DurationMS int64    `json:"duration_ms,omitempty"` // how long the spec took to check
	Next       []string `json:"next,omitempty"`        // commands to run next (inspect, review, allow)
}

var statusMark = map[string]string{
	StatusPass: "✓", StatusFail: "✗", StatusInconclusive: "?", StatusError: "!", StatusNew: "+", StatusSkipped: "-",
}

// WriteText renders the report for humans, snapshot-test style: one header
// per spec with ✓/✗, its findings grouped by level with reason, process
// chain and a query to see the events, and a summary line. The output
// holds no times or other run-to-run noise, so it can be golden-tested.
func WriteText(w io.Writer, r Report) error {
	ew := errwriter.New(w)
	counts := map[string]int{}
	for i, s := range r.Specs {
		if i > 0 {
			ew.Printf("\n")
		}
		counts[s.Status]++
		mark := statusMark[s.Status]
		if mark == "" {
			mark = "?"
		}
		head := mark + " " + s.Name
		if s.RunID != 0 {
			head += fmt.Sprintf(" (run %d)", s.RunID)
		}
		switch s.Status {
		case StatusNew:
			head += ": no baseline yet; review the run, then: behavediff approve " + s.Name
		case StatusInconclusive, StatusError, StatusSkipped:
			head += ": " + s.Status
			if s.Error != "" {
				head += ": " + s.Error
			}
		default:
			if n := len(s.Findings); n > 0 {
				head += fmt.Sprintf(": %s", plural(n, "difference", "differences"))
				if wl := Worst(s.Findings); wl > None {
					head += ", worst " + wl.String()
				}
			}
			if s.Error != "" {
				head += " (" + s.Error + ")"
			}
		}
		if s.DurationMS > 0 {
			head += fmt.Sprintf(" [%.1fs]", float64(s.DurationMS)/1000)
		}
		ew.Printf("%s\n", head)
		writeFindings(ew, s.Findings)
		if s.StderrTail != "" {
			ew.Printf("  stderr (last lines):\n")
			for _, l := range strings.Split(s.StderrTail, "\n") {
				ew.Printf("    | %s\n", l)
			}
		}
		if s.Pending != "" {
			ew.Printf("  pending: %s\n", s.Pending)
		}
		for _, n := range s.Next {
			ew.Printf("  next: %s\n", n)
		}
	}
	for _, u := range r.Unreferenced {
		ew.Printf("\n! baseline %s has no spec: it is never checked (delete it, or record the spec again)", u)
	}
	if len(r.Unreferenced) > 0 {
		ew.Printf("\n")
	}
	ew.Printf("\n%s, %d passed, %d failed", plural(len(r.Specs), "spec", "specs"), counts[StatusPass], counts[StatusFail])
	for _, st := range []string{StatusInconclusive, StatusError, StatusNew, StatusSkipped} {
		if counts[st] > 0 {
			ew.Printf(", %d %s", counts[st], st)
		}
	}
	if r.Interrupted {
		ew.Printf(" (interrupted)")
	}
	ew.Printf("\n")
	return ew.Err()
}

func writeFindings(ew *errwriter.Writer, fs []Finding) {
	for lvl := Critical; lvl >= None; lvl-- {
		first := true
		for _, f := range fs {
			if f.Level != lvl {
				continue
			}
			if first {
				label := strings.ToUpper(lvl.String())
				if lvl == None {
					label = "INFO"
				}
				ew.Printf("  %s\n", label)
				first = false
			}
			sign := "+"
			if f.Change == Removed {
				sign = "-"
			}
			ew.Printf("    %s %s  %s\n", sign, f.Kind, f.Subject)
			ew.Printf("        %s\n", f.Reason)
			if len(f.Examples) > 0 {
				ew.Printf("        e.g.:  %s\n", strings.Join(f.Examples, ", "))
			}
			if f.Rule != "" {
				r := f.Rule
				if len(f.Peers) > 0 {
					r += "  (peers: " + strings.Join(f.Peers, ", ") + ")"
				}
				ew.Printf("        rule:  %s\n", r)
			}
			if f.Process != "" {
				ew.Printf("        by:    %s\n", f.Process)
			}
			if f.Query != "" {
				ew.Printf("        query: %s\n", f.Query)
			}
		}
	}
}

// WriteJSON renders the report as indented JSON (levels as names).
func WriteJSON(w io.Writer, r Report) error {
	r.Specs = append([]SpecResult(nil), r.Specs...)
	for i := range r.Specs {
		if r.Specs[i].Findings == nil {
			r.Specs[i].Findings = []Finding{}
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
