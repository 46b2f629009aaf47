package export_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/parquet-go/parquet-go"

	"github.com/behavediff/behavediff/baseline/baselinetest"
	"github.com/behavediff/behavediff/export"
	"github.com/behavediff/behavediff/store"
)

var ctx = context.Background()

// writeTrace stores tr as a finished run, interleaving events as a
// recorder does.
func writeTrace(t testing.TB, db *store.DB, tr *store.Trace) int64 {
	t.Helper()
	tr.Run.Stdout = []byte("out\x00put") // a blob that is not text
	return baselinetest.Store(ctx, t, db, tr)
}

// sampleDB has two runs touching every exported view, a stored check of
// each and a check without a run.
func sampleDB(t testing.TB) *store.DB {
	t.Helper()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "traces.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for seed := uint64(1); seed <= 2; seed++ {
		b := baselinetest.Benign(seed)
		b.Open(1, "/root/.aws/credentials", baselinetest.ORdonly, baselinetest.ENOENT)
		b.Priv(1, "unshare", "flags=CLONE_NEWUSER", -1)
		b.T.Run.LostByClass = map[string]int64{"file": 3}
		id := writeTrace(t, db, b.T)
		if _, err := db.AddChecks(ctx, []store.Check{{RunID: id, Spec: "build", Command: "check", Status: "fail", FailOn: "medium",
			Findings: []store.CheckFinding{{Level: 4, RuleID: "BD-SECRET-READ", Kind: "secret-read", Change: "added", Section: "files.read",
				Subject: "$HOME/.aws/credentials", Reason: "reads a secret", Fingerprint: fmt.Sprint(seed)}}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.AddChecks(ctx, []store.Check{{Spec: "broken", Command: "check", Status: "error", FailOn: "medium", Error: "bad baseline",
		Findings: []store.CheckFinding{{Level: 1, RuleID: "BD-X", Kind: "x", Change: "added", Section: "s", Subject: "y", Reason: "r", Fingerprint: "z"}}}}); err != nil {
		t.Fatal(err)
	}
	return db
}

// sqliteRows is a view's rows as the export should hold them, sorted.
func sqliteRows(t *testing.T, db *store.DB, v export.View) []string {
	t.Helper()
	res, err := db.Query(ctx, "SELECT * FROM "+v.Name)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range res.Rows {
		for i, c := range v.Columns {
			switch x := r[i].(type) {
			case []byte:
				if c.Type == export.Text {
					r[i] = string(x)
				}
			}
		}
		out = append(out, fmt.Sprintf("%q", r))
	}
	sort.Strings(out)
	return out
}

func files(t *testing.T, dir, view, ext string) []string {
	t.Helper()
	fs, err := filepath.Glob(filepath.Join(dir, view, "date=*", "run=*", view+ext))
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

func parquetRows(t *testing.T, v export.View, paths []string) []string {
	t.Helper()
	var out []string
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		pf, err := parquet.OpenFile(f, st.Size())
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if got, _ := pf.Lookup("behavediff.export.version"); got != fmt.Sprint(export.Version) {
			t.Errorf("%s: export version %q", p, got)
		}
		if n := len(pf.Schema().Fields()); n != len(v.Columns) || pf.Schema().Fields()[0].Name() != v.Columns[0].Name {
			t.Errorf("%s: schema %v", p, pf.Schema())
		}
		r := parquet.NewReader(pf)
		buf := make([]parquet.Row, 100)
		for {
			n, err := r.ReadRows(buf)
			for _, row := range buf[:n] {
				vals := make([]any, len(v.Columns))
				for _, val := range row {
					i := val.Column()
					if val.IsNull() {
						continue
					}
					switch v.Columns[i].Type {
					case export.Integer:
						vals[i] = val.Int64()
					case export.Text:
						vals[i] = string(val.ByteArray())
					case export.Blob:
						vals[i] = append([]byte(nil), val.ByteArray()...)
					}
				}
				out = append(out, fmt.Sprintf("%q", vals))
			}
			if err != nil {
				break
			}
		}
		r.Close()
		f.Close()
	}
	sort.Strings(out)
	return out
}

func jsonlRows(t *testing.T, v export.View, paths []string) []string {
	t.Helper()
	var out []string
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var m map[string]any
			dec := json.NewDecoder(strings.NewReader(sc.Text()))
			dec.UseNumber()
			if err := dec.Decode(&m); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			vals := make([]any, len(v.Columns))
			for i, c := range v.Columns {
				x, ok := m[c.Name]
				if !ok {
					t.Fatalf("%s: no key %s", p, c.Name)
				}
				switch y := x.(type) {
				case json.Number:
					vals[i], _ = y.Int64()
				case string:
					vals[i] = y
					if c.Type == export.Blob {
						vals[i], _ = base64.StdEncoding.DecodeString(y)
					}
				}
			}
			out = append(out, fmt.Sprintf("%q", vals))
		}
		f.Close()
	}
	sort.Strings(out)
	return out
}

// Every row of every exported view reads back, from Parquet with the same
// library and from JSON Lines, equal to the SQLite view.
func TestExportReadsBack(t *testing.T) {
	db := sampleDB(t)
	for _, f := range []export.Format{export.Parquet, export.JSONL} {
		dir := t.TempDir()
		st, err := export.Export(ctx, db, export.Options{Format: f, Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range export.Views {
			want := sqliteRows(t, db, v)
			if len(want) == 0 {
				t.Fatalf("view %s is empty in the sample: the test proves nothing", v.Name)
			}
			paths := files(t, dir, v.Name, "."+string(f))
			var got []string
			if f == export.Parquet {
				got = parquetRows(t, v, paths)
			} else {
				got = jsonlRows(t, v, paths)
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("%s %s (-sqlite +export):\n%s", f, v.Name, d)
			}
			if st.Rows[v.Name] != int64(len(want)) {
				t.Errorf("%s %s: stats say %d rows, want %d", f, v.Name, st.Rows[v.Name], len(want))
			}
		}
		// Partitions: per run and date; the check without a run under run=0.
		if fs := files(t, dir, "checks", "."+string(f)); len(fs) != 3 || !strings.Contains(strings.Join(fs, " "), "/run=0/") {
			t.Errorf("%s checks files %v: want run=1, run=2 and run=0", f, fs)
		}
	}
}

// Exporting named runs writes only theirs; an unknown run is an error.
func TestExportSelectedRuns(t *testing.T) {
	db := sampleDB(t)
	dir := t.TempDir()
	if _, err := export.Export(ctx, db, export.Options{Format: export.JSONL, Dir: dir, Runs: []int64{2}}); err != nil {
		t.Fatal(err)
	}
	fs, _ := filepath.Glob(filepath.Join(dir, "*", "date=*", "run=*"))
	for _, f := range fs {
		if !strings.HasSuffix(f, "run=2") {
			t.Errorf("unexpected partition %s", f)
		}
	}
	if len(fs) < 8 {
		t.Errorf("%d partitions for run 2, want one per view", len(fs))
	}
	if _, err := export.Export(ctx, db, export.Options{Format: export.JSONL, Dir: dir, Runs: []int64{99}}); err == nil {
		t.Error("unknown run accepted")
	}
	if _, err := export.ParseFormat("csv"); err == nil {
		t.Error("csv accepted")
	}
}

// The export schema is the views' columns, in order (docs/schema.md is
// tested against the views in package store).
func TestViewsMatchSchema(t *testing.T) {
	db := sampleDB(t)
	for _, v := range export.Views {
		res, err := db.Query(ctx, "SELECT name FROM pragma_table_info(?)", v.Name)
		if err != nil {
			t.Fatal(err)
		}
		var cols, want []string
		for _, r := range res.Rows {
			cols = append(cols, r[0].(string))
		}
		for _, c := range v.Columns {
			want = append(want, c.Name)
		}
		if d := cmp.Diff(cols, want); d != "" {
			t.Errorf("view %s (-database +export schema):\n%s", v.Name, d)
		}
	}
}

// A path that is not UTF-8 (Linux paths are bytes) is written with \xNN
// escapes, readable by any engine, and counted: never silently replaced.
func TestExportEscapesInvalidUTF8(t *testing.T) {
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "traces.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	b := baselinetest.Benign(1)
	b.Read(1, "/tmp/bad\xffname\xc3")
	writeTrace(t, db, b.T)
	for _, f := range []export.Format{export.Parquet, export.JSONL} {
		dir := t.TempDir()
		st, err := export.Export(ctx, db, export.Options{Format: f, Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		if st.Escaped != 1 {
			t.Errorf("%s: %d values escaped, want 1", f, st.Escaped)
		}
		var v export.View
		for _, x := range export.Views {
			if x.Name == "file_events" {
				v = x
			}
		}
		paths := files(t, dir, "file_events", "."+string(f))
		rows := jsonlRows
		if f == export.Parquet {
			rows = parquetRows
		}
		if got := strings.Join(rows(t, v, paths), "\n"); !strings.Contains(got, `/tmp/bad\\xffname\\xc3`) {
			t.Errorf("%s: escaped path not found in\n%.2000s", f, got)
		}
	}
}
