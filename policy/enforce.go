package policy

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/behavediff/behavediff/baseline"
	"github.com/behavediff/behavediff/recorder"
)

// ErrNoBaseline means --enforce was asked for a spec without an approved
// baseline.
var ErrNoBaseline = errors.New("no approved baseline to enforce")

// Enforcement is what enforcing b applies to a run.
func Enforcement(b *baseline.Baseline) (*recorder.Enforcement, []Skipped) {
	allow, skipped := Allowlist(b)
	if allow == nil {
		allow = []string{} // enforce "nothing allowed", not "no enforcement"
	}
	return &recorder.Enforcement{Allow: allow, Seccomp: Seccomp(b)}, skipped
}

// FromBaselines is recorder.Options.Enforce for a project: each run
// enforces the approved baseline of its spec's name, found at
// baselinePath(name). What the allow-list leaves out is noted on notes.
func FromBaselines(baselinePath func(name string) string, notes io.Writer) func(recorder.Spec) (*recorder.Enforcement, error) {
	return func(s recorder.Spec) (*recorder.Enforcement, error) {
		if s.Name == "" {
			return nil, fmt.Errorf("%w: --enforce needs a named spec (record --name NAME)", ErrNoBaseline)
		}
		path := baselinePath(s.Name)
		b, err := baseline.Load(path)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w for %s (%s): approve a run first with: behavediff approve %s", ErrNoBaseline, s.Name, path, s.Name)
		}
		if err != nil {
			return nil, err
		}
		enf, skipped := Enforcement(b)
		if notes != nil {
			for _, k := range skipped {
				fmt.Fprintf(notes, "behavediff: --enforce: %s not allowed: %s\n", k.Entry, k.Reason)
			}
		}
		return enf, nil
	}
}
