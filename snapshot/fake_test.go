package snapshot

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/behavediff/behavediff/baseline/baselinetest"
	"github.com/behavediff/behavediff/recorder"
	"github.com/behavediff/behavediff/store"
)

// fakeRunner replays specs by building recorded traces with baselinetest:
// the workflows run exactly as over the trace database, without root.
type fakeRunner struct {
	mu     sync.Mutex
	runs   map[int64]*store.Trace
	nextID int64
	// build makes the trace a replay of spec records (seed varies per run).
	build func(spec recorder.Spec, seed uint64) *store.Trace
	// onReplay runs before each replay (tests cancel contexts from it).
	onReplay func(spec recorder.Spec)
}

func newFake(build func(spec recorder.Spec, seed uint64) *store.Trace) *fakeRunner {
	return &fakeRunner{runs: map[int64]*store.Trace{}, build: build}
}

// add stores a trace as a recorded run and returns its id.
func (f *fakeRunner) add(tr *store.Trace) int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nextID++
	tr.Run.ID = f.nextID
	f.runs[tr.Run.ID] = tr
	return tr.Run.ID
}

func (f *fakeRunner) Replay(ctx context.Context, spec recorder.Spec, replayOf int64) (recorder.Result, error) {
	if f.onReplay != nil {
		f.onReplay(spec)
	}
	f.mu.Lock()
	seed := uint64(f.nextID + 100)
	f.mu.Unlock()
	tr := f.build(spec, seed)
	tr.Run.Name = spec.Name
	if ctx.Err() != nil {
		tr.Run.Status = store.StatusInterrupted
	}
	id := f.add(tr)
	return recorder.Result{RunID: id, Status: tr.Run.Status, ExitCode: tr.Run.ExitCode}, nil
}

func (f *fakeRunner) Resolve(ctx context.Context, ref string) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var best int64
	for id, tr := range f.runs {
		if (fmt.Sprint(id) == ref || tr.Run.Name == ref || ref == "last") && id > best {
			best = id
		}
	}
	if best == 0 {
		return 0, noRun{fmt.Errorf("no run %s", ref)}
	}
	return best, nil
}

func (f *fakeRunner) Load(ctx context.Context, id int64) (*store.Trace, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	tr, ok := f.runs[id]
	if !ok {
		return nil, fmt.Errorf("no run %d", id)
	}
	return tr, nil
}

func (f *fakeRunner) Spec(ctx context.Context, id int64) (recorder.Spec, error) {
	tr, err := f.Load(ctx, id)
	if err != nil {
		return recorder.Spec{}, err
	}
	return recorder.Spec{Name: tr.Run.Name, Args: tr.Run.Command}, nil
}

// newProject makes a project with the named specs (each runs build.sh).
func newProject(t *testing.T, names ...string) Project {
	t.Helper()
	p := Project{Root: t.TempDir()}
	for _, n := range names {
		if err := p.SaveSpec(recorder.Spec{Version: recorder.SpecVersion, Name: n, Args: []string{"sh", "build.sh"}, Workspace: p.Root}); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// benign is a replay that behaves as approved.
func benign(spec recorder.Spec, seed uint64) *store.Trace { return baselinetest.Benign(seed).T }

// risky reads an SSH key and connects to a new host, exiting 3.
func risky(spec recorder.Spec, seed uint64) *store.Trace {
	b := baselinetest.Benign(seed)
	b.Read(1, "/root/.ssh/id_rsa")
	b.DNS(1, "evil.example", 1)
	b.Answer(1, "evil.example", "203.0.113.7")
	b.Connect(1, "203.0.113.7", 443, 0)
	b.T.Run.ExitCode = 3
	b.T.Run.Stderr = []byte("line1\nTraceback: boom\n")
	return b.T
}

// approveBenign records a benign run of each spec and approves it.
func approveBenign(t *testing.T, p Project, r *fakeRunner, names ...string) {
	t.Helper()
	for _, n := range names {
		tr := baselinetest.Benign(uint64(len(n))).T
		tr.Run.Name = n
		r.add(tr)
		pl, err := p.PlanApprove(context.Background(), r, n, ApproveOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Write(pl, pl.AcceptRisk()); err != nil {
			t.Fatal(err)
		}
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

var _ = filepath.Join

// builderOf continues a recorded trace with more events.
func builderOf(tr *store.Trace) *baselinetest.Builder {
	b := baselinetest.New(99, tr.Run.Workspace)
	b.T = tr
	return b
}
