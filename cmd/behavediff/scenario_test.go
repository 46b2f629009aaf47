package main

import (
	"encoding/json"
	"github.com/behavediff/behavediff/internal/testenv"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/behavediff/behavediff/diff"
)

// These scenario tests drive the real CLI in-process against a real
// containerd daemon, real eBPF and a real SQLite file: record, approve, then
// check replays of a benign program and of risky variants of it.

func requireRoot(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t, "snapshot scenarios (containerd, eBPF)")
	testenv.RequireBinaries(t, "containerd", "runc", "python3")
	if testing.Short() {
		t.Skip("end-to-end scenarios skipped in -short mode")
	}
}

func scenarioFile(t *testing.T, rel string) string { return scenarioFileB(t, rel) }

func scenarioFileB(t testing.TB, rel string) string {
	t.Helper()
	// Relative to this source file: the tests chdir into their project.
	_, self, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(self), "..", "..", "testdata", "scenarios", rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// newProject makes a project dir holding app.sh = the benign program, records
// it as spec "app" and approves it.
func newProject(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app.sh"), []byte(scenarioFile(t, "benign.sh")), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, ".behavediff"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	if code, _, stderr := runCLI(t, "record", "--name", "app", "--", "/bin/sh", "app.sh"); code != 0 {
		t.Fatalf("record: exit %d: %s", code, stderr)
	}
	if code, out, stderr := runCLI(t, "approve", "--yes", "app"); code != 0 {
		t.Fatalf("approve: exit %d: %s %s", code, out, stderr)
	}
	return dir
}

func checkJSON(t *testing.T) (int, diff.Report) {
	t.Helper()
	code, out, stderr := runCLI(t, "check", "--format", "json")
	var r diff.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("check output is not JSON (exit %d): %v\n%s\n%s", code, err, out, stderr)
	}
	return code, r
}

func TestScenarioBenignPassesReplays(t *testing.T) {
	requireRoot(t)
	newProject(t)
	// 10 replays of a program with random temp names, times, a random local
	// port and a varying number of workers: every one diffs clean, not
	// even a low finding.
	for i := 0; i < 10; i++ {
		code, r := checkJSON(t)
		if code != exitOK || len(r.Specs) != 1 || r.Specs[0].Status != diff.StatusPass {
			t.Fatalf("replay %d: exit %d report %+v", i+1, code, r)
		}
		if fs := r.Specs[0].Findings; len(fs) != 0 {
			t.Fatalf("replay %d of an unchanged program has findings: %+v", i+1, fs)
		}
	}
}

func TestScenarioRiskyVariantsFail(t *testing.T) {
	requireRoot(t)
	dir := newProject(t)
	benign := scenarioFile(t, "benign.sh")
	tests := []struct {
		variant string
		want    map[string]diff.Level // finding kind → level
	}{
		{"secret-egress.sh", map[string]diff.Level{"secret-read": diff.Critical, "egress": diff.Critical}},
		{"delete-outside.sh", map[string]diff.Level{"write-outside": diff.High}},
		{"download-exec.sh", map[string]diff.Level{"download-exec": diff.Critical}},
		{"priv.sh", map[string]diff.Level{"priv": diff.Critical}},
		{"persistence.sh", map[string]diff.Level{"persistence": diff.Critical}},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSuffix(tt.variant, ".sh"), func(t *testing.T) {
			app := benign + "\n" + scenarioFile(t, filepath.Join("risky", tt.variant))
			if err := os.WriteFile(filepath.Join(dir, "app.sh"), []byte(app), 0o755); err != nil {
				t.Fatal(err)
			}
			code, r := checkJSON(t)
			if code != exitFindings || r.Specs[0].Status != diff.StatusFail {
				t.Fatalf("exit %d status %s, want 1/fail; findings %+v", code, r.Specs[0].Status, r.Specs[0].Findings)
			}
			got := map[string]diff.Level{}
			for _, f := range r.Specs[0].Findings {
				if f.Level > got[f.Kind] {
					got[f.Kind] = f.Level
				}
				if f.Change == diff.Added && (f.Process == "" || !strings.Contains(f.Query, "behavediff query")) {
					t.Errorf("finding %s %s lacks its process chain or query hint: %+v", f.Kind, f.Subject, f)
				}
			}
			for kind, lvl := range tt.want {
				if got[kind] != lvl {
					t.Errorf("finding %s: level %v, want %v (all: %+v)", kind, got[kind], lvl, r.Specs[0].Findings)
				}
			}
		})
	}
	// Back to the benign program: the baseline was never touched.
	if err := os.WriteFile(filepath.Join(dir, "app.sh"), []byte(benign), 0o755); err != nil {
		t.Fatal(err)
	}
	if code, r := checkJSON(t); code != exitOK {
		t.Fatalf("benign again: exit %d %+v", code, r)
	}
}

func TestCheckMissingBaselineWritesPending(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "app.sh"), []byte("echo hi > out.txt\n"), 0o755)
	os.Mkdir(filepath.Join(dir, ".behavediff"), 0o755)
	t.Chdir(dir)
	if code, _, stderr := runCLI(t, "record", "--name", "fresh", "--", "/bin/sh", "app.sh"); code != 0 {
		t.Fatalf("record: %d %s", code, stderr)
	}
	code, out, _ := runCLI(t, "check", "fresh")
	if code != exitCheckErr || !strings.Contains(out, "no baseline yet") {
		t.Fatalf("check without baseline: exit %d\n%s", code, out)
	}
	pending := filepath.Join(dir, ".behavediff", "baselines", "fresh.yaml.new")
	if _, err := os.Stat(pending); err != nil {
		t.Fatalf("no pending baseline: %v", err)
	}
	if _, err := os.Stat(strings.TrimSuffix(pending, ".new")); err == nil {
		t.Fatal("check approved a baseline by itself")
	}
}

// approve --runs N replays the spec N times and approves the union; the
// result still passes check and records how many runs it merged.
func TestApproveRunsUnion(t *testing.T) {
	requireRoot(t)
	dir := newProject(t)
	if code, out, stderr := runCLI(t, "approve", "--yes", "--runs", "3", "app"); code != 0 {
		t.Fatalf("approve --runs 3: exit %d\n%s\n%s", code, out, stderr)
	}
	b, err := os.ReadFile(filepath.Join(dir, ".behavediff", "baselines", "app.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "runs: 3") {
		t.Errorf("baseline does not say it merged 3 runs:\n%s", b)
	}
	if code, r := checkJSON(t); code != exitOK {
		t.Fatalf("check after approve --runs: exit %d %+v", code, r)
	}
}

// A run that lost events is stored 'incomplete', says so on stderr and exits
// non-zero unless --allow-loss; check treats such a run as inconclusive.
func TestRecordLossExitCode(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, ".behavediff"), 0o755)
	_, self, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(self), "..", "..", "testdata", "helpers", "syscall_heavy.c")
	if msg, err := exec.Command("gcc", "-O2", "-static", "-o", filepath.Join(dir, "flood"), src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, msg)
	}
	t.Chdir(dir)
	code, _, stderr := runCLI(t, "record", "--ring-buffer-bytes", "4096", "--", "./flood", "30000")
	if code != exitUsage || !strings.Contains(stderr, "trace incomplete") || !strings.Contains(stderr, "events lost") {
		t.Fatalf("lossy record: exit %d, want %d with a loss message\n%s", code, exitUsage, stderr)
	}
	code, _, stderr = runCLI(t, "record", "--allow-loss", "--ring-buffer-bytes", "4096", "--", "./flood", "30000")
	if code != 0 || !strings.Contains(stderr, "incomplete") {
		t.Fatalf("--allow-loss: exit %d\n%s", code, stderr)
	}
	code, out, _ := runCLI(t, "query", "--format", "csv", "SELECT status, lost_events > 0 FROM runs ORDER BY id")
	if code != 0 || strings.Count(out, "incomplete,1") != 2 {
		t.Fatalf("stored runs:\n%s", out)
	}
}
