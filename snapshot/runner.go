package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/behavediff/behavediff/recorder"
	"github.com/behavediff/behavediff/replay"
	"github.com/behavediff/behavediff/store"
)

// Runner is how the workflows reach runs: replay a spec into a new run, and
// find and load recorded ones. Store implements it over the trace database
// and the recorder; unit tests implement it over recorded traces.
type Runner interface {
	// Replay records spec again as a new run linked to replayOf (0: none).
	// An error means behavediff failed; a run may still have been kept
	// (Result.RunID != 0).
	Replay(ctx context.Context, spec recorder.Spec, replayOf int64) (recorder.Result, error)
	// Resolve finds a run by id, name (its newest run) or "last".
	Resolve(ctx context.Context, ref string) (int64, error)
	// Load reads a run for building a baseline (store.DB.LoadDistinct). It
	// must be safe to call concurrently: a diff loads its two runs side by side.
	Load(ctx context.Context, id int64) (*store.Trace, error)
	// Spec returns the spec stored with a run.
	Spec(ctx context.Context, id int64) (recorder.Spec, error)
}

// ErrNoRun is returned by Store when a REF names no recorded run.
var ErrNoRun = errors.New("no such run")

// Store is the Runner over a trace database file and the recorder. The
// database is opened per call, so several replays may run at once; a
// workflow that only reads several times (a diff) holds one read-only
// handle instead (readSession).
type Store struct {
	Path    string           // trace database file
	Project Project          // when set, its .behavediff folder is set up before the database is created in it
	Options recorder.Options // template for replays (address, output, tool version)
	Lookup  func(string) (string, bool)
}

// Replay implements Runner.
func (s *Store) Replay(ctx context.Context, spec recorder.Spec, replayOf int64) (recorder.Result, error) {
	if s.Project.Root != "" {
		if err := s.Project.Ensure(); err != nil {
			return recorder.Result{}, err
		}
	}
	db, err := store.Open(ctx, s.Path)
	if err != nil {
		return recorder.Result{}, err
	}
	defer db.Close()
	lookup := s.Lookup
	if lookup == nil {
		lookup = os.LookupEnv
	}
	res, err := replay.Run(ctx, db, spec, replayOf, lookup, s.Options)
	if err != nil && res.RunID != 0 {
		err = fmt.Errorf("%w (run %d kept with status error)", err, res.RunID)
	}
	return res, err
}

// Resolve implements Runner. A missing database is "no run", and nothing is
// created on the way.
func (s *Store) Resolve(ctx context.Context, ref string) (int64, error) {
	if _, err := os.Stat(s.Path); errors.Is(err, os.ErrNotExist) {
		return 0, noRun{fmt.Errorf("no run %s: no trace database at %s yet (record a run first)", ref, s.Path)}
	}
	return readOnce(ctx, s, func(r *storeSession) (int64, error) { return r.Resolve(ctx, ref) })
}

// Load implements Runner.
func (s *Store) Load(ctx context.Context, id int64) (*store.Trace, error) {
	return readOnce(ctx, s, func(r *storeSession) (*store.Trace, error) { return r.Load(ctx, id) })
}

// Spec implements Runner.
func (s *Store) Spec(ctx context.Context, id int64) (recorder.Spec, error) {
	return readOnce(ctx, s, func(r *storeSession) (recorder.Spec, error) { return r.Spec(ctx, id) })
}

// readOnce serves one read of s through a session of its own: storeSession
// holds the one definition of each read.
func readOnce[T any](ctx context.Context, s *Store, read func(*storeSession) (T, error)) (T, error) {
	db, err := store.OpenReadOnly(ctx, s.Path)
	if err != nil {
		var zero T
		return zero, err
	}
	defer db.Close()
	return read(&storeSession{Store: s, db: db})
}

// sessionOpener is a Runner that can serve a workflow's reads through one
// open database: each open inspects the file and probes its tables.
type sessionOpener interface {
	readSession(ctx context.Context) (r Runner, done func(), err error)
}

// readSession returns r, or a Runner that reads through one open handle
// until done is called when r offers one.
func readSession(ctx context.Context, r Runner) (Runner, func(), error) {
	if o, ok := r.(sessionOpener); ok {
		return o.readSession(ctx)
	}
	return r, func() {}, nil
}

// readSession implements sessionOpener. Without a database file yet the
// Store itself serves (Resolve says there is no run, creating nothing).
func (s *Store) readSession(ctx context.Context) (Runner, func(), error) {
	if _, err := os.Stat(s.Path); err != nil {
		return s, func() {}, nil
	}
	db, err := store.OpenReadOnly(ctx, s.Path)
	if err != nil {
		return nil, nil, err
	}
	return &storeSession{Store: s, db: db}, func() { db.Close() }, nil
}

// storeSession is a Store whose reads share db; replays still open the
// database for writing themselves.
type storeSession struct {
	*Store
	db *store.DB
}

// Resolve implements Runner.
func (s *storeSession) Resolve(ctx context.Context, ref string) (int64, error) {
	id, err := s.db.ResolveRun(ctx, ref)
	if err != nil {
		return 0, noRun{err}
	}
	return id, nil
}

// Load implements Runner; the handle's pool serves concurrent loads.
func (s *storeSession) Load(ctx context.Context, id int64) (*store.Trace, error) {
	return s.db.LoadDistinct(ctx, id)
}

// Spec implements Runner.
func (s *storeSession) Spec(ctx context.Context, id int64) (recorder.Spec, error) {
	return replay.SpecOfRun(ctx, s.db, id)
}

// noRun keeps the store's message and marks it as ErrNoRun.
type noRun struct{ err error }

func (e noRun) Error() string   { return e.err.Error() }
func (e noRun) Unwrap() []error { return []error{ErrNoRun, e.err} }
