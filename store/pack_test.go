package store

import (
	"math"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The writer packs pairs of file columns into one bound value; the columns
// stored must be exactly the event's, at the extremes of every field (a
// program picks its flags and mode: all 32 bits set must stay positive and
// apart), not only what LoadTrace (which packs too) reads back.
func TestFileColumnsStoredUnpacked(t *testing.T) {
	db, _ := openTemp(t)
	events := []FileEvent{
		{Proc: 0, Op: FileOpen, Path: "/a", Flags: 0xFFFFFFFF, Mode: 0xFFFFFFFF, Result: math.MinInt64, TS: math.MaxInt64, PathState: PathTruncated},
		{Proc: math.MaxInt32, Op: FileRename, Path: "/a", Path2: "/b", Flags: 0x80000000, Mode: 0x80000000, Result: math.MaxInt64, TS: -1, PathState: PathUnresolved},
		{Proc: -1, Op: FileChmod, Path: "/a", Flags: 1, Mode: 0o7777, Result: 0},
		{Proc: 0, Op: FileOpen, Path: "/a", Flags: 0xFFFFFFFF, Mode: 0xFFFFFFFF, Result: math.MinInt64, TS: 5, PathState: PathTruncated},             // a repeat: a _file_rep row
		{Proc: 7, Op: FileOpen, Path: "/a", Flags: 0xFFFFFFFF, Mode: 0xFFFFFFFF, Result: math.MinInt64, TS: math.MaxInt64, PathState: PathTruncated}, // another process's repeat
	}
	w, err := db.BeginRun(ctx, Run{Command: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range events {
		if err := w.AddFile(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Finish(ctx, Final{Status: StatusOK}); err != nil {
		t.Fatal(err)
	}
	type row struct {
		Proc, Op, Flags, Mode, Result, TS int64
		Path, Path2                       string
		Dup, PFlags                       *int64
	}
	res, err := db.Query(ctx, `SELECT f.proc, f.op, f.flags, f.mode, f.result, f.ts, s.s, COALESCE(s2.s, ''), f.dup, f.pflags
		FROM _file f JOIN _str s ON s.run_id = f.run_id AND s.id = f.path
		LEFT JOIN _str s2 ON s2.run_id = f.run_id AND s2.id = f.path2 WHERE f.run_id = ? ORDER BY f.seq`, w.ID())
	if err != nil {
		t.Fatal(err)
	}
	var got []row
	for _, r := range res.Rows {
		x := row{Proc: r[0].(int64), Op: r[1].(int64), Flags: r[2].(int64), Mode: r[3].(int64), Result: r[4].(int64), TS: r[5].(int64),
			Path: r[6].(string), Path2: r[7].(string)}
		if r[8] != nil {
			v := r[8].(int64)
			x.Dup = &v
		}
		if r[9] != nil {
			v := r[9].(int64)
			x.PFlags = &v
		}
		got = append(got, x)
	}
	one := func(v int64) *int64 { return &v }
	want := []row{
		{0, int64(FileOpen), 0xFFFFFFFF, 0xFFFFFFFF, math.MinInt64, math.MaxInt64, "/a", "", nil, one(int64(PathTruncated))},
		{math.MaxInt32, int64(FileRename), 0x80000000, 0x80000000, math.MaxInt64, -1, "/a", "/b", nil, one(int64(PathUnresolved))},
		{-1, int64(FileChmod), 1, 0o7777, 0, 0, "/a", "", nil, nil},
		// a repeat whose time no group can hold: a full row marked dup
		{7, int64(FileOpen), 0xFFFFFFFF, 0xFFFFFFFF, math.MinInt64, math.MaxInt64, "/a", "", one(1), one(int64(PathTruncated))},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("stored _file columns (-want +got):\n%s", d)
	}

	// The other repeat: a group naming the first event (seq 1), its one
	// element ts 5 at the group's own seq.
	res, err = db.Query(ctx, `SELECT seq, of, proc, result, evs FROM _file_rep WHERE run_id = ? ORDER BY seq`, w.ID())
	if err != nil {
		t.Fatal(err)
	}
	wantRep := [][]any{{int64(4), int64(1), int64(0), int64(math.MinInt64), "[20480]"}}
	if d := cmp.Diff(wantRep, res.Rows); d != "" {
		t.Errorf("stored _file_rep rows (-want +got):\n%s", d)
	}
	tr, err := db.LoadTrace(ctx, w.ID())
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(events, tr.Files); d != "" {
		t.Errorf("LoadTrace (-stored +loaded):\n%s", d)
	}
}

// LoadDistinct's file query goes through the partial index of first events
// (migration 011), in recording order without a sort: the index must keep
// answering it (INDEXED BY fails the query if it cannot).
func TestDistinctQueryUsesFirstIndex(t *testing.T) {
	db, _ := openTemp(t)
	plan := queryPlan(t, db, distinctFilesQuery, 1)
	if len(plan) != 1 || !strings.Contains(plan[0], "USING COVERING INDEX _file_first") {
		t.Errorf("plan %q, want one search using covering index _file_first (no sort, no row lookups)", plan)
	}
}

// The open-time probe descends each table's primary key once: no scan of a
// whole table, no sort.
func TestProbeQueriesNeverScan(t *testing.T) {
	db, _ := openTemp(t)
	for _, q := range probeQueries {
		plan := queryPlan(t, db, q)
		for _, d := range plan {
			if strings.Contains(d, "TEMP B-TREE") {
				t.Errorf("%s: plan %q sorts", q, plan)
			}
		}
	}
}

// queryPlan returns the detail lines of EXPLAIN QUERY PLAN q.
func queryPlan(t *testing.T, db *DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}
