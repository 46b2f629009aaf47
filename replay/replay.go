package replay

import (
	"bytes"
	"context"
	"fmt"

	"github.com/behavediff/behavediff/recorder"
	"github.com/behavediff/behavediff/store"
)

// Run replays spec: secret env values are taken from lookup (the replaying
// environment), stdin from the spec, and the new run is linked to replayOf.
func Run(ctx context.Context, db *store.DB, spec recorder.Spec, replayOf int64, lookup func(string) (string, bool), o recorder.Options) (recorder.Result, error) {
	s, err := spec.Unredact(lookup)
	if err != nil {
		return recorder.Result{}, err
	}
	o.Spec = s
	o.ReplayOf = replayOf
	if len(s.Stdin) > 0 {
		o.Stdin = bytes.NewReader(s.Stdin)
	}
	return recorder.Record(ctx, db, o)
}

// SpecOfRun loads the spec stored with a recorded run.
func SpecOfRun(ctx context.Context, db *store.DB, runID int64) (recorder.Spec, error) {
	b, err := db.Spec(ctx, runID)
	if err != nil {
		return recorder.Spec{}, fmt.Errorf("spec of run %d: %w", runID, err)
	}
	if len(b) == 0 {
		return recorder.Spec{}, fmt.Errorf("run %d has no stored spec", runID)
	}
	return recorder.UnmarshalSpec(b)
}
