package duckdbtest

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/behavediff/behavediff/baseline/baselinetest"
	"github.com/behavediff/behavediff/export"
	"github.com/behavediff/behavediff/store"
)

var ctx = context.Background()

func writeTrace(t *testing.T, db *store.DB, tr *store.Trace) int64 {
	t.Helper()
	tr.Run.LostByClass = map[string]int64{"file": 2}
	return baselinetest.Store(ctx, t, db, tr)
}

// DuckDB reads the Parquet export with Hive partitions: row counts of
// every view and a few joins equal SQLite's.
func TestDuckDBReadsExport(t *testing.T) {
	dir := t.TempDir()
	db, err := store.Open(ctx, filepath.Join(dir, "traces.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for seed := uint64(1); seed <= 3; seed++ {
		b := baselinetest.Benign(seed)
		b.Open(1, "/root/.aws/credentials", baselinetest.ORdonly, baselinetest.ENOENT)
		c := b.Exec(1, "/usr/bin/curl", "curl", "https://drop.example.org")
		b.DNS(c, "drop.example.org", 1)
		b.Priv(1, "unshare", "flags=CLONE_NEWUSER", -1)
		id := writeTrace(t, db, b.T)
		if _, err := db.AddChecks(ctx, []store.Check{{RunID: id, Spec: "build", Command: "check", Status: "fail", FailOn: "medium",
			Findings: []store.CheckFinding{{Level: 3, RuleID: "BD-DNS", Kind: "dns", Change: "added", Section: "network.dns",
				Subject: "drop.example.org", Reason: "looks up a new DNS name", Fingerprint: "f"}}}}); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "warehouse")
	if _, err := export.Export(ctx, db, export.Options{Format: export.Parquet, Dir: out}); err != nil {
		t.Fatal(err)
	}
	duck, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer duck.Close()
	for _, v := range export.Views {
		q := fmt.Sprintf("CREATE VIEW %s AS SELECT * FROM read_parquet('%s/%s/*/*/*.parquet', hive_partitioning = true)", v.Name, out, v.Name)
		if _, err := duck.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", v.Name, err)
		}
	}
	one := func(engine string, q string) int64 {
		t.Helper()
		var n int64
		var err error
		if engine == "duckdb" {
			err = duck.QueryRowContext(ctx, q).Scan(&n)
		} else {
			var res *store.Result
			res, err = db.Query(ctx, q)
			if err == nil {
				n = res.Rows[0][0].(int64)
			}
		}
		if err != nil {
			t.Fatalf("%s: %v\n%s", engine, err, q)
		}
		return n
	}
	queries := []string{
		"SELECT count(*) FROM file_events f JOIN processes p ON p.run_id = f.run_id AND p.idx = f.proc_idx WHERE f.op = 'exec'",
		"SELECT count(DISTINCT n.domain) FROM net_events n JOIN runs r ON r.id = n.run_id WHERE n.op = 'dns'",
		"SELECT count(*) FROM findings f JOIN checks c ON c.id = f.check_id JOIN runs r ON r.id = c.run_id WHERE f.level = 'high'",
		"SELECT sum(count) FROM syscalls s JOIN processes p ON p.run_id = s.run_id AND p.idx = s.proc_idx",
		"SELECT count(*) FROM priv_events WHERE error = 'EPERM' OR result < 0",
	}
	for _, v := range export.Views {
		queries = append(queries, "SELECT count(*) FROM "+v.Name)
	}
	for _, q := range queries {
		s, d := one("sqlite", q), one("duckdb", q)
		if s != d || s == 0 {
			t.Errorf("%s: sqlite %d, duckdb %d (want equal and > 0)", q, s, d)
		}
	}
	// The partition columns: one date, one run per run.
	if n := one("duckdb", "SELECT count(DISTINCT run) FROM runs WHERE date = current_date"); n != 3 {
		t.Errorf("runs partitions of today: %d, want 3", n)
	}
}
