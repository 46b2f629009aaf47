package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/behavediff/behavediff/diff"
)

// End to end (root, real containerd, eBPF and SQLite): the snapshot loop
// after a failure — pending files, the approve guard, exit-code findings,
// an interrupted check and parallel checks.

func writeApp(t *testing.T, dir, script string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "app.sh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// A failing check leaves the pending baseline; approve --yes refuses the
// risky change in it and says which; review --reject drops it.
func TestE2EFailurePendingAndApproveGuard(t *testing.T) {
	requireRoot(t)
	dir := newProject(t)
	bpath := filepath.Join(dir, ".behavediff", "baselines", "app.yaml")
	before, _ := os.ReadFile(bpath)
	writeApp(t, dir, scenarioFile(t, "benign.sh")+"\n"+scenarioFile(t, "risky/secret-egress.sh"))

	code, out, _ := runCLI(t, "check")
	if code != exitFindings {
		t.Fatalf("check: exit %d\n%s", code, out)
	}
	for _, want := range []string{"pending: .behavediff/baselines/app.yaml.new", "next: review: behavediff review app", "next: inspect: behavediff show"} {
		if !strings.Contains(out, want) {
			t.Errorf("check report lacks %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(bpath + ".new"); err != nil {
		t.Fatalf("no pending baseline after a failing check: %v", err)
	}

	code, _, stderr := runCLI(t, "approve", "--yes", "app")
	if code != exitFindings || !strings.Contains(stderr, "refused") || !strings.Contains(stderr, "$HOME/.ssh/id_rsa") {
		t.Fatalf("approve --yes of a secret read: exit %d\n%s", code, stderr)
	}
	if after, _ := os.ReadFile(bpath); string(after) != string(before) {
		t.Fatal("refused approve changed the baseline")
	}
	if code, _, stderr := runCLI(t, "review", "--reject", "app"); code != exitOK {
		t.Fatalf("review --reject: %d %s", code, stderr)
	}
	if _, err := os.Stat(bpath + ".new"); !os.IsNotExist(err) {
		t.Errorf("pending file left after reject: %v", err)
	}
	if after, _ := os.ReadFile(bpath); string(after) != string(before) {
		t.Error("reject changed the baseline")
	}
}

// A command that now exits non-zero fails the check with a high exit-code
// finding, and the report shows the end of its stderr.
func TestE2EExitCodeChangeFails(t *testing.T) {
	requireRoot(t)
	dir := newProject(t)
	writeApp(t, dir, scenarioFile(t, "benign.sh")+"\necho 'fatal: the disk is full' >&2\nexit 3\n")
	code, r := checkJSON(t)
	if code != exitFindings || r.Specs[0].Status != diff.StatusFail {
		t.Fatalf("exit 3: check exit %d, status %s", code, r.Specs[0].Status)
	}
	s := r.Specs[0]
	var exitF *diff.Finding
	for i, f := range s.Findings {
		if f.Kind == "exit-code" {
			exitF = &s.Findings[i]
		}
	}
	if exitF == nil || exitF.Level != diff.High || exitF.Subject != "exit 3" {
		t.Fatalf("no high exit-code finding: %+v", s.Findings)
	}
	if s.ExitCode == nil || *s.ExitCode != 3 || !strings.Contains(s.StderrTail, "fatal: the disk is full") {
		t.Errorf("exit code %v, stderr tail %q", s.ExitCode, s.StderrTail)
	}
	code, out, _ := runCLI(t, "check")
	if code != exitFindings || !strings.Contains(out, "| fatal: the disk is full") {
		t.Errorf("text report does not show the stderr tail (exit %d):\n%s", code, out)
	}
}

// Ctrl-C during check: exit 130, the specs not run listed as skipped.
func TestE2EInterruptedCheck(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, ".behavediff"), 0o755)
	t.Chdir(dir)
	os.MkdirAll(filepath.Join(dir, ".behavediff", "specs"), 0o755)
	for n, args := range map[string]string{"a-slow": "[/bin/sleep, '60']", "b-fast": "[/bin/true]", "c-fast": "[/bin/true]"} {
		spec := "version: 1\nname: " + n + "\nargs: " + args + "\nworkspace: .\ntimeout: 2m0s\n"
		if err := os.WriteFile(filepath.Join(dir, ".behavediff", "specs", n+".yaml"), []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(4*time.Second, cancel)
	var outb, errb strings.Builder
	a := &app{stdin: strings.NewReader(""), stdout: &outb, stderr: &errb}
	start := time.Now()
	code := a.run(ctx, []string{"check", "--format", "json"})
	if code != exitInterrupted {
		t.Fatalf("interrupted check: exit %d, want 130\n%s\n%s", code, outb.String(), errb.String())
	}
	if d := time.Since(start); d > 40*time.Second {
		t.Errorf("interrupted check took %s", d)
	}
	if !strings.Contains(errb.String(), "not checked: b-fast, c-fast") {
		t.Errorf("skipped specs not listed:\n%s", errb.String())
	}
	var r diff.Report
	if err := json.Unmarshal([]byte(outb.String()), &r); err != nil {
		t.Fatalf("report: %v\n%s", err, outb.String())
	}
	var got []string
	for _, s := range r.Specs {
		got = append(got, s.Name+"="+s.Status)
	}
	if d := cmp.Diff([]string{"a-slow=inconclusive", "b-fast=skipped", "c-fast=skipped"}, got); d != "" || !r.Interrupted {
		t.Errorf("interrupted report (-want +got):\n%s", d)
	}
}

// --jobs 2 gives the same verdicts and findings as --jobs 1, with a
// duration per spec.
func TestE2ECheckJobs(t *testing.T) {
	requireRoot(t)
	dir := newProject(t)
	writeApp(t, dir, scenarioFile(t, "benign.sh"))
	os.WriteFile(filepath.Join(dir, "bad.sh"), []byte(scenarioFile(t, "benign.sh")+"\n"+scenarioFile(t, "risky/persistence.sh")), 0o755)
	// "bad" approved as benign, then made risky.
	os.WriteFile(filepath.Join(dir, "bad.sh.ok"), []byte(scenarioFile(t, "benign.sh")), 0o755)
	if code, _, stderr := runCLI(t, "record", "--name", "bad", "--", "/bin/sh", "bad.sh.ok"); code != 0 {
		t.Fatalf("record bad: %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "approve", "--yes", "bad"); code != 0 {
		t.Fatalf("approve bad: %d %s", code, stderr)
	}
	os.Rename(filepath.Join(dir, "bad.sh"), filepath.Join(dir, "bad.sh.ok"))
	verdicts := func(jobs string) []string {
		code, out, stderr := runCLI(t, "check", "--format", "json", "--jobs", jobs)
		var r diff.Report
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("--jobs %s: exit %d %v\n%s", jobs, code, err, stderr)
		}
		var v []string
		for _, s := range r.Specs {
			if s.DurationMS <= 0 {
				t.Errorf("--jobs %s: %s has no duration", jobs, s.Name)
			}
			var kinds []string
			for _, f := range s.Findings {
				kinds = append(kinds, f.Level.String()+" "+f.Kind)
			}
			sort.Strings(kinds)
			v = append(v, s.Name+"="+s.Status+" "+strings.Join(kinds, ","))
		}
		return v
	}
	one, two := verdicts("1"), verdicts("2")
	if d := cmp.Diff(one, two); d != "" {
		t.Errorf("--jobs 2 differs from --jobs 1 (-1 +2):\n%s", d)
	}
	if len(one) != 2 || !strings.HasPrefix(one[0], "app=pass") || !strings.HasPrefix(one[1], "bad=fail") {
		t.Errorf("verdicts: %q", one)
	}
	// A baseline without a spec is reported, and fails with --unreferenced=fail.
	os.WriteFile(filepath.Join(dir, ".behavediff", "baselines", "gone.yaml"), []byte("version: 1\ncommand: []\n"), 0o644)
	code, out, _ := runCLI(t, "check", "app")
	if code != exitOK || !strings.Contains(out, "baseline gone has no spec") {
		t.Errorf("orphan baseline (warn): exit %d\n%s", code, out)
	}
	if code, out, _ := runCLI(t, "check", "--unreferenced=fail", "app"); code != exitFindings {
		t.Errorf("orphan baseline (fail): exit %d\n%s", code, out)
	}
}
