package snapshot

import (
	"fmt"
	"strings"

	"github.com/behavediff/behavediff/diff"
	"github.com/behavediff/behavediff/store"
)

// FailOn is the --fail-on setting shared by check and diff: fail when a
// finding is at or above Level; Never only reports.
type FailOn struct {
	Level diff.Level
	Never bool
}

// ParseFailOn reads --fail-on: a level name (low, medium, high, critical;
// "info" fails on any difference, informational ones included), or "none"
// to report without failing.
func ParseFailOn(s string) (FailOn, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "none", "never":
		return FailOn{Never: true}, nil
	}
	l, err := diff.ParseLevel(s)
	if err != nil {
		return FailOn{}, fmt.Errorf("--fail-on: %w (or none to never fail)", err)
	}
	return FailOn{Level: l}, nil
}

func (f FailOn) String() string {
	if f.Never {
		return "none"
	}
	if f.Level == diff.None {
		return "info"
	}
	return f.Level.String()
}

// Judge decides a comparison's status and which findings to show, the same
// way for check and diff: a finding that fails the run is always shown;
// informational ones only with verbose (or when they are what fails it).
func (f FailOn) Judge(fs []diff.Finding, verbose bool) (status string, shown []diff.Finding) {
	min := diff.Low
	if verbose || (!f.Never && f.Level == diff.None) {
		min = diff.None
	}
	shown = diff.AtLeast(fs, min)
	if f.Never || len(diff.AtLeast(fs, f.Level)) == 0 {
		return diff.StatusPass, shown
	}
	return diff.StatusFail, shown
}

// RunStatus is why a run cannot be judged ("" when it can): lost events or
// an interrupted or failed recording mean behaviour may be missing. A
// timeout is judged (its exit-code finding says it timed out).
func RunStatus(r store.Run) string {
	switch r.Status {
	case store.StatusOK, store.StatusTimeout:
		return ""
	case store.StatusIncomplete:
		return fmt.Sprintf("%d events lost: behaviour may be missing", r.LostEvents)
	default:
		msg := "run " + r.Status
		if r.Error != "" {
			msg += ": " + r.Error
		}
		return msg
	}
}

// stderrTail is the last lines of a run's stored stderr, for a failing
// replay's report.
func stderrTail(b []byte, lines, max int) string {
	s := strings.TrimRight(string(b), "\n")
	if s == "" {
		return ""
	}
	if len(s) > max {
		s = s[len(s)-max:]
		if i := strings.IndexByte(s, '\n'); i >= 0 {
			s = s[i+1:]
		}
	}
	ls := strings.Split(s, "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return strings.Join(ls, "\n")
}
