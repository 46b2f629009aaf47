package main

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/behavediff/behavediff/diff"
	"github.com/behavediff/behavediff/report"
)

// A risky check writes its report in every format at once while the
// terminal gets text, appends the job summary, and stores its verdict and
// findings in the trace database.
func TestCheckReportsAndStoredFindings(t *testing.T) {
	requireRoot(t)
	dir := newProject(t)
	app := scenarioFile(t, "benign.sh") + "\n" + scenarioFile(t, filepath.Join("risky", "secret-egress.sh"))
	if err := os.WriteFile(filepath.Join(dir, "app.sh"), []byte(app), 0o755); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	summary := filepath.Join(out, "summary.md")
	if err := os.WriteFile(summary, []byte("# earlier step\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runCLI(t, "check",
		"--output", "sarif="+filepath.Join(out, "r.sarif"),
		"--output", "junit="+filepath.Join(out, "r.xml"),
		"--output", filepath.Join(out, "r.json"),
		"--summary-file", summary, "--report", filepath.Join(out, "html"))
	if code != exitFindings {
		t.Fatalf("exit %d, want 1\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "✗ app") {
		t.Errorf("terminal did not get the text report:\n%s", stdout)
	}
	d, err := report.ReadDocument(filepath.Join(out, "r.json"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Verdict != diff.StatusFail || len(d.Specs) != 1 || d.Specs[0].BaselineFile != ".behavediff/baselines/app.yaml" {
		t.Errorf("JSON report: verdict %s, specs %+v", d.Verdict, d.Specs)
	}
	sarif, _ := os.ReadFile(filepath.Join(out, "r.sarif"))
	if !strings.Contains(string(sarif), `"ruleId": "BD-SECRET-READ"`) {
		t.Errorf("SARIF lacks the secret read:\n%s", sarif)
	}
	var j report.JUnitSuites
	if b, _ := os.ReadFile(filepath.Join(out, "r.xml")); xml.Unmarshal(b, &j) != nil || j.Tests != 1 || j.Failures != 1 {
		t.Errorf("JUnit: %+v", j)
	}
	if b, err := os.ReadFile(filepath.Join(out, "html", "app.html")); err != nil || !strings.Contains(string(b), "BD-SECRET-READ") {
		t.Errorf("--report: %v", err)
	}
	if code, _, stderr := runCLI(t, "report", "app", "-o", filepath.Join(out, "last.html")); code != exitOK {
		t.Errorf("report: exit %d: %s", code, stderr)
	}
	// diff writes the same formats; --baseline NAME locates findings in NAME's files.
	ds := filepath.Join(out, "diff.sarif")
	if code, _, stderr := runCLI(t, "diff", "--baseline", "app", "last", "--output", "sarif="+ds); code != exitFindings {
		t.Errorf("diff: exit %d: %s", code, stderr)
	}
	if b, _ := os.ReadFile(ds); !strings.Contains(string(b), `"uri": ".behavediff/baselines/app.yaml"`) {
		t.Errorf("diff SARIF lacks the baseline location:\n%.3000s", b)
	}
	sum, _ := os.ReadFile(summary)
	if !strings.HasPrefix(string(sum), "# earlier step\n## behavediff check: ❌ fail") {
		t.Errorf("summary was not appended:\n%s", sum)
	}

	code, q, stderr := runCLI(t, "query", "--format", "json",
		"SELECT c.spec, c.status, c.run_id, f.rule_id, f.fingerprint FROM checks c JOIN findings f ON f.check_id = c.id WHERE f.kind = 'secret-read'")
	if code != 0 {
		t.Fatalf("query: exit %d: %s", code, stderr)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(q), &rows); err != nil {
		t.Fatalf("%v\n%s", err, q)
	}
	if len(rows) != 1 || rows[0]["status"] != "fail" || int64(rows[0]["run_id"].(float64)) != d.Specs[0].RunID {
		t.Errorf("stored check: %v, want one failed check of run %d", rows, d.Specs[0].RunID)
	}
	for _, f := range d.Specs[0].Findings {
		if f.Kind == "secret-read" && rows[0]["fingerprint"] != f.Fingerprint {
			t.Errorf("stored fingerprint %v, report %s", rows[0]["fingerprint"], f.Fingerprint)
		}
	}
}

// Two matrix shards check into their own databases and reports; merge
// makes one database and one report with the spec exactly once.
func TestShardedCheckMerge(t *testing.T) {
	requireRoot(t)
	dir := newProject(t)
	var dbs, jsons []string
	ran := 0
	for k := 1; k <= 2; k++ {
		db := filepath.Join(dir, fmt.Sprintf("shard-%d.db", k))
		js := filepath.Join(dir, fmt.Sprintf("shard-%d.json", k))
		code, out, stderr := runCLI(t, "check", "--shard", fmt.Sprintf("%d/2", k), "--db", db, "--output", js)
		if code != exitOK {
			t.Fatalf("shard %d: exit %d\n%s\n%s", k, code, out, stderr)
		}
		d, err := report.ReadDocument(js)
		if err != nil {
			t.Fatal(err)
		}
		ran += len(d.Specs)
		dbs, jsons = append(dbs, db), append(jsons, js)
	}
	if ran != 1 {
		t.Fatalf("spec app ran in %d shards, want exactly 1", ran)
	}
	all := filepath.Join(dir, "all.db")
	if code, _, stderr := runCLI(t, append([]string{"merge", "-o", all}, dbs...)...); code != exitOK {
		t.Fatalf("merge dbs: exit %d: %s", code, stderr)
	}
	code, q, stderr := runCLI(t, "query", "--db", all, "--format", "csv",
		"SELECT c.spec, c.status, o.source FROM checks c JOIN run_origins o ON o.run_id = c.run_id")
	if code != exitOK || strings.Count(q, "app,pass,") != 1 {
		t.Errorf("merged checks: exit %d\n%s\n%s", code, q, stderr)
	}
	md := filepath.Join(dir, "all.md")
	if code, _, stderr := runCLI(t, append([]string{"merge", "-o", md}, jsons...)...); code != exitOK {
		t.Fatalf("merge reports: exit %d: %s", code, stderr)
	}
	if b, _ := os.ReadFile(md); !strings.Contains(string(b), "1 spec: 1 passed") {
		t.Errorf("merged summary:\n%s", b)
	}
	wh := filepath.Join(dir, "warehouse")
	if code, _, stderr := runCLI(t, "export", "--db", all, "--format", "parquet", "--out", wh); code != exitOK {
		t.Fatalf("export: exit %d: %s", code, stderr)
	}
	for _, v := range []string{"runs", "processes", "file_events", "syscalls", "checks"} {
		if fs, _ := filepath.Glob(filepath.Join(wh, v, "date=*", "run=*", v+".parquet")); len(fs) != 1 {
			t.Errorf("export %s: files %v, want one: the shard's replay", v, fs)
		}
	}
	if code, _, _ := runCLI(t, "export", "--db", all, "--format", "csv", "--out", wh); code != exitUsage {
		t.Errorf("export --format csv: exit %d", code)
	}
	if code, _, _ := runCLI(t, "check", "--shard", "3/2"); code != exitUsage {
		t.Errorf("--shard 3/2: exit %d, want %d", code, exitUsage)
	}
}
