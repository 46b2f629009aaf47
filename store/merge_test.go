package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// shardDB writes a database like one CI shard leaves: two runs (the second
// a replay of the first) and a stored check with a finding.
func shardDB(t *testing.T, name string) (*DB, string) {
	t.Helper()
	db, path := openTemp(t)
	tr := sampleTrace()
	tr.Run.Name = name
	first := writeTrace(t, db, tr)
	tr2 := sampleTrace()
	tr2.Run.Name, tr2.Run.ReplayOf = name, first
	tr2.Files = append(tr2.Files, FileEvent{Proc: 1, Op: FileOpen, Path: "/only/in/" + name, Result: 3, TS: 77})
	second := writeTrace(t, db, tr2)
	if _, err := db.AddChecks(ctx, []Check{{RunID: second, Spec: name, Command: "check", Status: "fail", FailOn: "medium",
		Findings: []CheckFinding{{Level: 3, RuleID: "BD-EXEC", Kind: "exec", Change: "added", Section: "files.exec", Subject: "/usr/bin/curl", Reason: "r", Fingerprint: name}}}}); err != nil {
		t.Fatal(err)
	}
	return db, path
}

var publicViews = []string{"runs", "processes", "file_events", "net_events", "priv_events", "fs_changes", "syscalls", "lost_events", "checks", "findings"}

// viewRows is a view's rows for runs [lo, hi], with run ids (and check ids)
// shifted back by off, as sorted strings.
func viewRows(t *testing.T, db *DB, view string, lo, hi, off, checkOff int64) []string {
	t.Helper()
	runCol := "run_id"
	if view == "runs" {
		runCol = "id"
	}
	res, err := db.Query(ctx, fmt.Sprintf("SELECT * FROM %s WHERE %s BETWEEN ? AND ?", view, runCol), lo, hi)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range res.Rows {
		for i, c := range res.Columns {
			switch {
			case c == runCol || (view == "runs" && c == "replay_of"):
				if v, ok := r[i].(int64); ok {
					r[i] = v - off
				}
			case (view == "checks" && c == "id") || c == "check_id":
				r[i] = r[i].(int64) - checkOff
			}
		}
		out = append(out, fmt.Sprint(r))
	}
	sort.Strings(out)
	return out
}

// Two databases with overlapping run ids merge into one whose views hold
// every row of both, renumbered, with each run's origin.
func TestMergeDatabases(t *testing.T) {
	a, pa := shardDB(t, "alpha")
	b, pb := shardDB(t, "beta")
	out, pout := openTemp(t)
	writeTrace(t, out, sampleTrace()) // the output already has run 1
	stats, err := out.Merge(ctx, pa, pb)
	if err != nil {
		t.Fatal(err)
	}
	if len(stats) != 2 || stats[0].Runs != 2 || stats[0].Offset != 1 || stats[1].Offset != 3 || stats[1].Checks != 1 {
		t.Fatalf("stats %+v", stats)
	}
	for i, in := range []*DB{a, b} {
		off := stats[i].Offset
		for _, v := range publicViews {
			want := viewRows(t, in, v, 1, 2, 0, 0)
			got := viewRows(t, out, v, 1+off, 2+off, off, int64(i))
			if len(want) == 0 {
				t.Fatalf("view %s of the input is empty: the test proves nothing", v)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("view %s, input %d (-input +merged):\n%s", v, i, d)
			}
		}
	}
	res, err := out.Query(ctx, "SELECT run_id, source, source_run_id FROM run_origins ORDER BY run_id")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]any{{int64(2), pa, int64(1)}, {int64(3), pa, int64(2)}, {int64(4), pb, int64(1)}, {int64(5), pb, int64(2)}}
	if d := cmp.Diff(want, res.Rows); d != "" {
		t.Errorf("run_origins (-want +got):\n%s", d)
	}

	// Merging the merged database again keeps the first origins.
	again, _ := openTemp(t)
	out.Close()
	if _, err := again.Merge(ctx, pout); err != nil {
		t.Fatal(err)
	}
	res, _ = again.Query(ctx, "SELECT source, source_run_id FROM run_origins ORDER BY run_id")
	want = [][]any{{pout, int64(1)}, {pa, int64(1)}, {pa, int64(2)}, {pb, int64(1)}, {pb, int64(2)}}
	if d := cmp.Diff(want, res.Rows); d != "" {
		t.Errorf("nested origins (-want +got):\n%s", d)
	}

	// Not a trace database, and the output itself: refused, nothing copied.
	if _, err := again.Merge(ctx, filepath.Join("testdata", "nope.db")); err == nil {
		t.Error("missing input accepted")
	}
	v1 := filepath.Join(t.TempDir(), "v1.db")
	if b, err := os.ReadFile(filepath.Join("testdata", "schema-v1.db")); err != nil || os.WriteFile(v1, b, 0o644) != nil {
		t.Fatal(err)
	}
	if _, err := again.Merge(ctx, v1); !errors.Is(err, ErrMergeSchema) {
		t.Errorf("older schema: %v", err)
	}
	if _, err := again.Merge(ctx, again.Path()); !errors.Is(err, ErrMergeSchema) {
		t.Errorf("merge into itself: %v", err)
	}
}

// A storage table merge cannot place (no run_id) is an error, never a silent
// loss; the output is left as it was (the input is copied whole or not at all).
func TestMergeRefusesUnknownTable(t *testing.T) {
	in, pin := shardDB(t, "alpha")
	if _, err := in.w.ExecContext(ctx, "CREATE TABLE _future (k TEXT); INSERT INTO _future VALUES ('x')"); err != nil {
		t.Fatal(err)
	}
	out, _ := openTemp(t)
	_, err := out.Merge(ctx, pin)
	if !errors.Is(err, ErrMergeSchema) || !strings.Contains(err.Error(), "_future") {
		t.Fatalf("merge with an unknown table: %v", err)
	}
	res, _ := out.Query(ctx, "SELECT (SELECT count(*) FROM runs) + (SELECT count(*) FROM checks)")
	if res.Rows[0][0] != int64(0) {
		t.Errorf("a refused merge left %v rows", res.Rows[0][0])
	}
}
