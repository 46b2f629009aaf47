package store

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// testdata/schema-v1.db was written by the schema-version-1 build (strings
// interned once for all runs): two runs of sampleTrace, the second with one
// extra file event. Opening it must upgrade it without losing anything.
func TestMigrateFromV1(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "schema-v1.db"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "traces.db")
	if err := os.WriteFile(path, src, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var version int
	if err := db.r.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil || version != SchemaVersion() {
		t.Fatalf("schema version %d (%v), want %d", version, err, SchemaVersion())
	}

	first, second := sampleTrace(), sampleTrace()
	first.Run.ID = 1
	second.Run.ID, second.Run.Name = 2, "second"
	first.Proxy, second.Proxy = nil, nil // v1 had no proxy
	second.Files = append(second.Files, FileEvent{Proc: 1, Op: FileOpen, Path: "/only/in/second", TS: 99})
	ignore := cmpopts.IgnoreFields(Run{}, "StartedAt", "EndedAt")
	for _, want := range []*Trace{first, second} {
		got, err := db.LoadTrace(ctx, want.Run.ID)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got, cmpopts.EquateEmpty(), ignore); d != "" {
			t.Errorf("run %d after migration (-want +got):\n%s", want.Run.ID, d)
		}
	}

	// The views resolve strings per run.
	res, err := db.Query(ctx, "SELECT run_id, exe, path FROM file_events WHERE path = '/only/in/second'")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([][]any{{int64(2), "/usr/bin/curl", "/only/in/second"}}, res.Rows); d != "" {
		t.Errorf("file_events after migration (-want +got):\n%s", d)
	}

	// A new run written after the upgrade gets its own dense string ids.
	tr := sampleTrace()
	id := writeTrace(t, db, tr)
	got, err := db.LoadTrace(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(tr, got, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("new run after migration (-want +got):\n%s", d)
	}
	res, err = db.Query(ctx, "SELECT min(id), max(id), count(*) FROM _str WHERE run_id = ?", id)
	if err != nil {
		t.Fatal(err)
	}
	if r := res.Rows[0]; r[0] != int64(1) || r[1] != r[2] {
		t.Errorf("new run's string ids: min %v max %v count %v, want 1..count", r[0], r[1], r[2])
	}
}

// Deleting a run deletes its strings and leaves the other runs' intact.
func TestDeleteRunDeletesStrings(t *testing.T) {
	db, path := openTemp(t)
	a, b := sampleTrace(), sampleTrace()
	ida, idb := writeTrace(t, db, a), writeTrace(t, db, b)
	raw := rawDB(t, path)
	if _, err := raw.Exec("DELETE FROM _run WHERE id = ?", ida); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := raw.QueryRow("SELECT count(*) FROM _str WHERE run_id = ?", ida).Scan(&n); err != nil || n != 0 {
		t.Errorf("deleted run keeps %d strings (%v)", n, err)
	}
	got, err := db.LoadTrace(ctx, idb)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(b, got, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("other run after delete (-want +got):\n%s", d)
	}
}

// Runs migrated from version 1 keep global, sparse string ids; they load
// through the sparse lookup.
func TestLoadSparseStringIDs(t *testing.T) {
	db, path := openTemp(t)
	w, err := db.BeginRun(ctx, Run{Name: "sparse", Command: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(ctx, Final{Status: StatusOK}); err != nil {
		t.Fatal(err)
	}
	raw := rawDB(t, path)
	if _, err := raw.Exec(`INSERT INTO _str(run_id, id, s) VALUES (?1, 9000000, '/far'), (?1, 3, '/near')`, w.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO _file(run_id, seq, proc, op, path, path2, flags, mode, result, ts)
		VALUES (?, 1, 0, 3, 9000000, 3, 0, 0, 0, 0)`, w.ID()); err != nil {
		t.Fatal(err)
	}
	got, err := db.LoadTrace(ctx, w.ID())
	if err != nil {
		t.Fatal(err)
	}
	want := []FileEvent{{Op: FileRename, Path: "/far", Path2: "/near"}}
	if d := cmp.Diff(want, got.Files); d != "" {
		t.Errorf("files (-want +got):\n%s", d)
	}
	// A dangling id is an error, not an empty path.
	if _, err := raw.Exec(`UPDATE _file SET path = 8999999 WHERE run_id = ?`, w.ID()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.LoadTrace(ctx, w.ID()); err == nil {
		t.Error("LoadTrace with a dangling string id: no error")
	}
}
