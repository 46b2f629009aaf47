package baseline

import (
	"context"
	"fmt"
	"sync"

	"github.com/behavediff/behavediff/store"
)

// FromRuns loads and normalises stored runs side by side: loading a
// million-event trace is most of a diff's cost, and the runs are
// independent. Each trace is dropped as soon as it is normalised, so peak
// memory holds at most one raw trace per run being loaded.
func FromRuns(ctx context.Context, db *store.DB, o Options, ids ...int64) ([]*Baseline, error) {
	out := make([]*Baseline, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t, err := db.LoadDistinct(ctx, id)
			if err != nil {
				errs[i] = err
				return
			}
			b, err := FromTrace(t, o)
			if err != nil {
				errs[i] = fmt.Errorf("normalise run %d: %w", id, err)
				return
			}
			out[i] = b
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
