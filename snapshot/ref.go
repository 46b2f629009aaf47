package snapshot

import (
	"context"
	"errors"
	"fmt"

	"github.com/behavediff/behavediff/recorder"
)

// Ref is what a REF on the command line names: a spec of the project (Spec,
// with its newest run when it has one) or a recorded run (RunID only).
type Ref struct {
	Spec  string // spec name when REF names a spec file
	RunID int64  // the run REF names, or the spec's newest run; 0 when none
}

// Resolve reads REF the one way every command does: a spec name with a spec
// file wins (its newest run, if any), then a run id, a run's name or "last".
func (p Project) Resolve(ctx context.Context, r Runner, ref string) (Ref, error) {
	if p.HasSpec(ref) {
		id, err := r.Resolve(ctx, ref)
		if err != nil && !errors.Is(err, ErrNoRun) {
			return Ref{}, err
		}
		return Ref{Spec: ref, RunID: id}, nil
	}
	id, err := r.Resolve(ctx, ref)
	if errors.Is(err, ErrNoRun) {
		return Ref{}, fmt.Errorf("no spec or run named %q (specs live in %s; runs: behavediff runs): %w", ref, p.SpecPath("NAME"), err)
	}
	if err != nil {
		return Ref{}, err
	}
	return Ref{RunID: id}, nil
}

// SpecFor returns what to replay for REF: the spec file when REF names one,
// else the spec stored with the run (which the replay then links to).
func (p Project) SpecFor(ctx context.Context, r Runner, ref string) (spec recorder.Spec, replayOf int64, err error) {
	rf, err := p.Resolve(ctx, r, ref)
	if err != nil {
		return recorder.Spec{}, 0, err
	}
	if rf.Spec != "" {
		s, err := p.LoadSpec(rf.Spec)
		return s, 0, err
	}
	s, err := r.Spec(ctx, rf.RunID)
	return s, rf.RunID, err
}
