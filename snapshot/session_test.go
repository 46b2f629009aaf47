package snapshot

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/behavediff/behavediff/baseline/baselinetest"
	"github.com/behavediff/behavediff/recorder"
	"github.com/behavediff/behavediff/store"
)

// perCall is a Store seen only through Runner: every Resolve and Load
// opens the database again (no readSession).
type perCall struct{ s *Store }

func (p perCall) Replay(ctx context.Context, spec recorder.Spec, of int64) (recorder.Result, error) {
	return p.s.Replay(ctx, spec, of)
}
func (p perCall) Resolve(ctx context.Context, ref string) (int64, error) {
	return p.s.Resolve(ctx, ref)
}
func (p perCall) Load(ctx context.Context, id int64) (*store.Trace, error) { return p.s.Load(ctx, id) }
func (p perCall) Spec(ctx context.Context, id int64) (recorder.Spec, error) {
	return p.s.Spec(ctx, id)
}

// A diff over the real trace database reads both runs through one handle
// and finds exactly what a diff opening the database per read finds;
// refs that name no run still say so.
func TestDiffRunsReadSession(t *testing.T) {
	ctx := context.Background()
	p := newProject(t, "build")
	path := filepath.Join(p.Dir(), "traces.db")
	db, err := store.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	a := benign(recorder.Spec{}, 1)
	a.Run.Name = "build"
	b := risky(recorder.Spec{}, 2)
	b.Run.Name = "build"
	baselinetest.Store(ctx, t, db, a)
	baselinetest.Store(ctx, t, db, b)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s := &Store{Path: path, Project: p}
	if _, ok := Runner(s).(sessionOpener); !ok {
		t.Fatal("Store does not offer a read session")
	}
	got, err := DiffRuns(ctx, s, "1", "last", DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := DiffRuns(ctx, perCall{s}, "1", "last", DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("diff through one handle (-per call +session):\n%s", d)
	}
	if len(got.Findings) == 0 || got.RunID != 2 {
		t.Errorf("a run that reads an SSH key and connects out, against a benign one: %+v", got)
	}
	pl, err := p.PlanApprove(ctx, s, "1", ApproveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Write(pl, pl.AcceptRisk()); err != nil {
		t.Fatal(err)
	}
	gotB, err := p.DiffBaseline(ctx, s, "build", "last", DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantB, err := p.DiffBaseline(ctx, perCall{s}, "build", "last", DiffOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(wantB, gotB); d != "" || len(gotB.Findings) == 0 {
		t.Errorf("diff --baseline through one handle (-per call +session):\n%s", d)
	}
	if _, err := DiffRuns(ctx, s, "1", "nope", DiffOptions{}); !errors.Is(err, ErrNoRun) {
		t.Errorf("unknown ref: %v, want ErrNoRun", err)
	}

	// No database yet: still "no run", and nothing is created.
	empty := &Store{Path: filepath.Join(t.TempDir(), "none", "traces.db")}
	if _, err := DiffRuns(ctx, empty, "1", "2", DiffOptions{}); !errors.Is(err, ErrNoRun) || !strings.Contains(err.Error(), "no trace database") {
		t.Errorf("no database: %v", err)
	}
	if _, err := os.Stat(filepath.Dir(empty.Path)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a diff without a database created %s", filepath.Dir(empty.Path))
	}
	// A file that is not a trace database: an error, not a panic.
	bad := filepath.Join(t.TempDir(), "traces.db")
	os.WriteFile(bad, []byte("not sqlite at all, just text"), 0o644)
	if _, err := DiffRuns(ctx, &Store{Path: bad}, "1", "2", DiffOptions{}); err == nil || !strings.Contains(err.Error(), "not a behavediff trace database") {
		t.Errorf("not a database: %v", err)
	}
}
