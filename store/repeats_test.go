package store

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// repeatTrace is a seeded run whose file events mostly repeat earlier ones
// with another process, result or time, the shape a build or a loop has;
// some differ only in a field that makes them another behaviour (errno,
// path state, flags, an exec's process) and must stay first events.
func repeatTrace(seed int64, n int) *Trace {
	r := rand.New(rand.NewSource(seed))
	tr := sampleTrace()
	tr.Files = nil
	ops := []FileOp{FileOpen, FileStat, FileUnlink, FileRename, FileExec}
	states := []PathState{PathKernel, PathKernel, PathKernel, PathUnresolved, PathRaced, PathLate}
	for i := 0; i < n; i++ {
		e := FileEvent{
			Proc:      int32(r.Intn(3)),
			Op:        ops[r.Intn(len(ops))],
			Path:      fmt.Sprintf("/w/f%d", r.Intn(6)),
			Flags:     uint32(r.Intn(2)) * 0x80000,
			Result:    int64(r.Intn(5)),
			TS:        int64(i) * 1000,
			PathState: states[r.Intn(len(states))],
		}
		if r.Intn(5) == 0 {
			e.Result = -int64(1 + r.Intn(3))
		}
		if e.Op == FileRename {
			e.Path2 = fmt.Sprintf("/w/g%d", r.Intn(2))
		}
		tr.Files = append(tr.Files, e)
	}
	return tr
}

// Repeats stored narrow read back as the events recorded, through
// LoadTrace and through the public view, in recording order; LoadDistinct
// still gets the first of each behaviour.
func TestRepeatsRoundTrip(t *testing.T) {
	db, _ := openTemp(t)
	tr := repeatTrace(1, 3000)
	id := writeTrace(t, db, tr)

	var firsts, reps int64
	if err := db.r.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM _file WHERE run_id = ?1), (SELECT sum(json_array_length(evs)) FROM _file_rep WHERE run_id = ?1)", id).Scan(&firsts, &reps); err != nil {
		t.Fatal(err)
	}
	if firsts+reps != 3000 || reps < 2000 {
		t.Errorf("%d first rows + %d grouped repeats, want 3000 with most of them repeats", firsts, reps)
	}

	got, err := db.LoadTrace(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(tr.Files, got.Files, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("LoadTrace file events (-recorded +loaded):\n%s", d)
	}

	res, err := db.Query(ctx, `SELECT proc_idx, op, path, COALESCE(path2, ''), flags, result, ts, COALESCE(path_state, ''), seq
		FROM file_events WHERE run_id = ? ORDER BY seq`, id)
	if err != nil {
		t.Fatal(err)
	}
	var want [][]any
	for _, e := range tr.Files {
		want = append(want, []any{int64(e.Proc), FileOpNames[e.Op], e.Path, e.Path2, int64(e.Flags), e.Result, e.TS, stateName(e.PathState)})
	}
	var view [][]any
	last := int64(0)
	for _, row := range res.Rows {
		if seq := row[8].(int64); seq <= last {
			t.Fatalf("seq %d after %d", seq, last)
		} else {
			last = seq
		}
		view = append(view, row[:8])
	}
	if d := cmp.Diff(want, view); d != "" {
		t.Errorf("file_events (-recorded +view):\n%s", d)
	}

	// LoadDistinct: the first event of each behaviour, as before.
	dist, err := db.LoadDistinct(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[fileKeyT]bool{}
	var wantFirst []FileEvent
	for _, e := range tr.Files {
		if k := keyOf(e); !seen[k] {
			seen[k] = true
			wantFirst = append(wantFirst, e)
		}
	}
	if d := cmp.Diff(wantFirst, dist.Files, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("LoadDistinct (-first of each behaviour +loaded):\n%s", d)
	}

	// Deleting the run deletes its repeats.
	if _, err := db.w.ExecContext(ctx, "DELETE FROM _run WHERE id = ?", id); err != nil {
		t.Fatal(err)
	}
	if err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM _file_rep WHERE run_id = ?", id).Scan(&reps); err != nil || reps != 0 {
		t.Errorf("deleted run keeps %d repeat rows (%v)", reps, err)
	}
}

// Runs stored before schema 13 keep their repeats as full _file rows with
// dup = 1; they read back the same through LoadTrace and the view.
func TestRepeatsOldLayoutStillReads(t *testing.T) {
	db, _ := openTemp(t)
	tr := repeatTrace(2, 500)
	id := writeTrace(t, db, tr)
	for _, q := range []string{
		`INSERT INTO _file(run_id, seq, proc, op, path, path2, flags, mode, result, ts, pflags, dup)
		 SELECT r.run_id, r.seq + (j.value & 4095), r.proc, f.op, f.path, f.path2, f.flags, f.mode, r.result, j.value >> 12, f.pflags, 1
		 FROM _file_rep r JOIN json_each(r.evs) j JOIN _file f ON f.run_id = r.run_id AND f.seq = r.of WHERE r.run_id = ?1`,
		`DELETE FROM _file_rep WHERE run_id = ?1`,
	} {
		if _, err := db.w.ExecContext(ctx, q, id); err != nil {
			t.Fatal(err)
		}
	}
	got, err := db.LoadTrace(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(tr.Files, got.Files, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("LoadTrace of the old layout (-recorded +loaded):\n%s", d)
	}
	var n int
	if err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM file_events WHERE run_id = ?", id).Scan(&n); err != nil || n != 500 {
		t.Errorf("file_events has %d rows of the old layout (%v), want 500", n, err)
	}
}

// A repeat naming no stored first event is a damaged database: an error,
// never an event with another behaviour's fields.
func TestRepeatWithoutFirstIsAnError(t *testing.T) {
	db, _ := openTemp(t)
	id := writeTrace(t, db, repeatTrace(3, 200))
	if _, err := db.w.ExecContext(ctx, "UPDATE _file_rep SET of = 1000000 WHERE run_id = ? AND seq = (SELECT max(seq) FROM _file_rep WHERE run_id = ?)", id, id); err != nil {
		t.Fatal(err)
	}
	if _, err := db.LoadTrace(ctx, id); err == nil {
		t.Error("LoadTrace read a repeat of a missing event without an error")
	}
}

// Past the writer's bound on remembered behaviours, a new behaviour's
// events are all stored as first events (a superset for LoadDistinct) and
// repeats of the remembered ones still name their first: nothing is lost
// or misattributed either way.
func TestRepeatsPastDistinctBound(t *testing.T) {
	db, _ := openTemp(t)
	tr := repeatTrace(4, 2000)
	w, err := db.BeginRun(ctx, Run{Command: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	w.distinct.limit = 5
	for _, e := range tr.Files {
		if err := w.AddFile(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Finish(ctx, Final{Status: StatusOK, Processes: tr.Processes}); err != nil {
		t.Fatal(err)
	}
	got, err := db.LoadTrace(ctx, w.ID())
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(tr.Files, got.Files, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("LoadTrace past the bound (-recorded +loaded):\n%s", d)
	}
	var reps int
	if err := db.r.QueryRowContext(ctx, "SELECT sum(json_array_length(evs)) FROM _file_rep WHERE run_id = ?", w.ID()).Scan(&reps); err != nil || reps == 0 || reps > 1900 {
		t.Errorf("%d grouped repeats (%v): want some (of the 5 remembered behaviours), not most", reps, err)
	}
	dist, err := db.LoadDistinct(ctx, w.ID())
	if err != nil {
		t.Fatal(err)
	}
	have := map[fileKeyT]bool{}
	for _, e := range dist.Files {
		have[keyOf(e)] = true
	}
	for _, e := range tr.Files {
		if !have[keyOf(e)] {
			t.Fatalf("LoadDistinct past the bound misses behaviour %+v", e)
		}
	}
}

type fileKeyT struct {
	op          FileOp
	path, path2 string
	flags, mode uint32
	errno       int64
	proc        int32
	state       PathState
}

// keyOf is the behaviour of e as LoadDistinct documents it.
func keyOf(e FileEvent) fileKeyT {
	k := fileKeyT{op: e.Op, path: e.Path, path2: e.Path2, flags: e.Flags, mode: e.Mode, state: e.PathState}
	if e.Result < 0 {
		k.errno = e.Result
	}
	if e.Op == FileExec {
		k.proc = e.Proc
	}
	return k
}

func stateName(s PathState) string {
	return map[PathState]string{PathUnresolved: "unresolved", PathTruncated: "truncated", PathLate: "late", PathRaced: "raced"}[s]
}

// A damaged group is an error, never a guess.
func TestMalformedRepeatGroupIsAnError(t *testing.T) {
	for _, evs := range []string{"", "[", "[]]", "[1,]", "[,1]", "[1,x]", "[-5]", "[99999999999999999999]", "1,2", "[1 ,2]"} {
		db, _ := openTemp(t)
		id := writeTrace(t, db, repeatTrace(5, 100))
		if _, err := db.w.ExecContext(ctx, "UPDATE _file_rep SET evs = ? WHERE run_id = ?", evs, id); err != nil {
			t.Fatal(err)
		}
		if _, err := db.LoadTrace(ctx, id); err == nil {
			t.Errorf("evs %q: LoadTrace read it without an error", evs)
		}
	}
}

// repGroups splits a key's repeats into groups that span at most
// repSeqMax seqs, and refuses a time it cannot pack; what it writes reads
// back through eachRepeat.
func TestRepGroups(t *testing.T) {
	var g repGroups
	k := repKey{of: 1, result: 3, proc: 2}
	type ev struct{ seq, ts int64 }
	in := []ev{{2, 0}, {3, 10}, {2 + repSeqMax, repTSMax}, {3 + repSeqMax, 7}, {5000, 1}}
	for _, e := range in {
		if !g.add(k, e.seq, e.ts) {
			t.Fatalf("add %+v refused", e)
		}
	}
	if g.add(k, 5001, -1) || g.add(k, 5001, repTSMax+1) {
		t.Error("a time out of range was taken into a group")
	}
	if g.add(repKey{of: 9}, 6000, 4); g.n != 3 {
		t.Fatalf("%d groups, want 3 (2, then 3+repSeqMax starts one, then another key)", g.n)
	}
	var out []ev
	for i := 0; i < 2; i++ {
		base := g.groups[i].seq
		if err := eachRepeat(g.text(i), func(el int64) { out = append(out, ev{base + el&repSeqMax, el >> repSeqBits}) }); err != nil {
			t.Fatal(err)
		}
	}
	if d := cmp.Diff(in, out, cmp.AllowUnexported(ev{})); d != "" {
		t.Errorf("groups read back (-added +read):\n%s", d)
	}
	g.reset()
	if g.add(k, 7000, 1); g.n != 1 || g.text(0) != "[4096]" {
		t.Errorf("after reset: %d groups, text %q; want one, [4096]", g.n, g.text(0))
	}
}

// FuzzEachRepeat: any text, as a damaged or hostile database (a merge
// input) could hold, gives values or an error, never a panic; the values
// are non-negative.
func FuzzEachRepeat(f *testing.F) {
	for _, s := range []string{"[1]", "[0,4096,8193]", "[]", "[1,]", "[-1]", "[9223372036854775807]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_ = eachRepeat(s, func(v int64) {
			if v < 0 {
				t.Fatalf("%q gave %d", s, v)
			}
		})
	})
}
