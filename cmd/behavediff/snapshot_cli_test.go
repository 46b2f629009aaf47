package main

import (
	"bufio"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/behavediff/behavediff/baseline"
	"github.com/behavediff/behavediff/diff"
	"github.com/behavediff/behavediff/snapshot"
	"github.com/behavediff/behavediff/store"
)

// addRun stores a synthetic finished run of spec "app" (exit code exit)
// that reads /etc/hostname plus the given extra file events.
func addRun(t *testing.T, dir string, exit int, extra ...store.FileEvent) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dir, ".behavediff", "traces.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w, err := db.BeginRun(ctx, store.Run{Name: "app", Command: []string{"/bin/true"}, Workspace: dir, StartedAt: time.Now(), ExitCode: -1})
	if err != nil {
		t.Fatal(err)
	}
	w.AddFile(store.FileEvent{Op: store.FileOpen, Path: "/etc/hostname", Result: 3})
	for _, e := range extra {
		w.AddFile(e)
	}
	if err := w.Finish(ctx, store.Final{Processes: []store.Process{{Idx: 0, ParentIdx: -1, Pid: 7, Exe: "/bin/true", Argv: []string{"/bin/true"}}}, Status: store.StatusOK, ExitCode: exit, EndedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
}

var (
	secretRead = store.FileEvent{Op: store.FileOpen, Path: "/root/.ssh/id_rsa", Result: 3}
	cronWrite  = store.FileEvent{Op: store.FileOpen, Path: "/etc/cron.d/job", Flags: 0x241, Result: 3}
)

// riskyPending approves run 1 of "app", then tries approve --yes on a run
// that reads an SSH key and writes a cron job: refused, left pending.
func riskyPending(t *testing.T) string {
	t.Helper()
	dir := badInputProject(t)
	if code, out, stderr := runCLI(t, "approve", "--yes", "app"); code != exitOK {
		t.Fatalf("approve: %d\n%s%s", code, out, stderr)
	}
	addRun(t, dir, 0, secretRead, cronWrite)
	code, out, stderr := runCLI(t, "approve", "--yes", "last")
	if code != exitFindings {
		t.Fatalf("approve --yes of a secret read and a cron job: exit %d, want %d\n%s%s", code, exitFindings, out, stderr)
	}
	for _, want := range []string{"refused", "$HOME/.ssh/id_rsa", "/etc/cron.d/job", "behavediff review app"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("refusal does not mention %q:\n%s", want, stderr)
		}
	}
	return dir
}

func baselineOf(t *testing.T, dir string) *baseline.Baseline {
	t.Helper()
	b, err := baseline.Load(filepath.Join(dir, ".behavediff", "baselines", "app.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func reads(b *baseline.Baseline) string {
	var out []string
	for _, s := range []string{"files.read", "files.write", "files.create"} {
		for _, e := range b.Section(s) {
			out = append(out, s+":"+e.Value)
		}
	}
	return strings.Join(out, " ")
}

func TestApproveGuardCLI(t *testing.T) {
	dir := riskyPending(t)
	if got := reads(baselineOf(t, dir)); strings.Contains(got, "id_rsa") || strings.Contains(got, "cron") {
		t.Fatalf("refused approval wrote the baseline: %s", got)
	}
	pending := filepath.Join(dir, ".behavediff", "baselines", "app.yaml.new")
	if _, err := os.Stat(pending); err != nil {
		t.Fatalf("refused approval left nothing to review: %v", err)
	}
	if code, _, stderr := runCLI(t, "approve", "--yes", "--accept-risk", "critical", "last"); code != exitOK {
		t.Fatalf("--accept-risk critical: %d %s", code, stderr)
	}
	if got := reads(baselineOf(t, dir)); !strings.Contains(got, "id_rsa") {
		t.Errorf("accepted approval: %s", got)
	}
	if _, err := os.Stat(pending); err == nil {
		t.Error("approving left the pending file")
	}
}

func TestReviewNonInteractive(t *testing.T) {
	dir := riskyPending(t)
	// --accept refuses critical changes as approve --yes does.
	code, _, stderr := runCLI(t, "review", "--accept", "app")
	if code != exitFindings || !strings.Contains(stderr, "refused") {
		t.Fatalf("review --accept: %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "review", "--reject", "app"); code != exitOK {
		t.Fatalf("review --reject: %d %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, ".behavediff", "baselines", "app.yaml.new")); err == nil {
		t.Error("reject left the pending file")
	}
	if got := reads(baselineOf(t, dir)); strings.Contains(got, "id_rsa") {
		t.Errorf("reject changed the baseline: %s", got)
	}
	if code, _, stderr := runCLI(t, "review"); code != exitOK || !strings.Contains(stderr, "nothing pending") {
		t.Errorf("review with nothing pending: %d %s", code, stderr)
	}
	// Without a terminal and without --accept/--reject, review refuses.
	riskyPendingAgain(t, dir)
	if code, _, stderr := runCLI(t, "review", "app"); code != exitUsage || !strings.Contains(stderr, "not a terminal") {
		t.Errorf("review without a terminal: %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "review", "--accept", "--accept-risk", "critical", "app"); code != exitOK {
		t.Fatalf("review --accept --accept-risk critical: %d %s", code, stderr)
	}
	if got := reads(baselineOf(t, dir)); !strings.Contains(got, "id_rsa") || !strings.Contains(got, "/etc/cron.d/job") {
		t.Errorf("accept: %s", got)
	}
}

// Pending files from a CI artifact: review --from imports, then decides.
func TestReviewFromArtifact(t *testing.T) {
	dir := riskyPending(t)
	artifact := t.TempDir()
	pending := filepath.Join(dir, ".behavediff", "baselines", "app.yaml.new")
	data, _ := os.ReadFile(pending)
	os.WriteFile(filepath.Join(artifact, "app.yaml.new"), data, 0o644)
	os.Remove(pending)
	code, _, stderr := runCLI(t, "review", "--from", artifact, "--accept", "--accept-risk", "critical")
	if code != exitOK || !strings.Contains(stderr, "imported app") {
		t.Fatalf("review --from: %d %s", code, stderr)
	}
	if got := reads(baselineOf(t, dir)); !strings.Contains(got, "id_rsa") {
		t.Errorf("baseline after review --from: %s", got)
	}
}

func riskyPendingAgain(t *testing.T, dir string) {
	t.Helper()
	if code, _, stderr := runCLI(t, "approve", "--yes", "last"); code != exitFindings {
		t.Fatalf("approve --yes again: %d %s", code, stderr)
	}
}

// review on a real pseudo-terminal: accept the cron job, reject the SSH
// key read, and the baseline ends with exactly the accepted change.
func TestReviewInteractivePTY(t *testing.T) {
	dir := riskyPending(t)
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	defer ptmx.Close()
	defer tty.Close()
	a := &app{stdin: tty, stdout: tty, stderr: tty, getenv: func(string) string { return "" }, color: "never"}
	done := make(chan int, 1)
	go func() { done <- a.run(context.Background(), []string{"review", "app"}) }()

	out := bufio.NewReader(ptmx)
	var seen strings.Builder
	answered := map[string]bool{}
	for {
		// Read up to the next prompt.
		var chunk strings.Builder
		for !strings.HasSuffix(chunk.String(), "[q]uit? ") {
			r, _, err := out.ReadRune()
			if err != nil {
				t.Fatalf("reading the review: %v\nso far:\n%s", err, seen.String()+chunk.String())
			}
			chunk.WriteRune(r)
			if strings.Contains(chunk.String(), "review: app:") && strings.HasSuffix(chunk.String(), "\n") {
				break
			}
		}
		seen.WriteString(chunk.String())
		c := chunk.String()
		if !strings.HasSuffix(c, "[q]uit? ") {
			break
		}
		ans := "s"
		switch {
		case strings.Contains(c, "/etc/cron.d/job"):
			ans, answered["cron"] = "a", true
			for _, want := range []string{"CRITICAL", "reason:", "by:", "query:"} {
				if !strings.Contains(c, want) {
					t.Errorf("change shown without %q:\n%s", want, c)
				}
			}
		case strings.Contains(c, "id_rsa"):
			ans, answered["key"] = "r", true
		}
		if _, err := io.WriteString(ptmx, ans+"\n"); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case code := <-done:
		if code != exitOK {
			t.Fatalf("review exit %d\n%s", code, seen.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("review did not finish\n%s", seen.String())
	}
	t.Log(seen.String())
	if !answered["cron"] || !answered["key"] {
		t.Fatalf("review did not show both changes:\n%s", seen.String())
	}
	got := reads(baselineOf(t, dir))
	if !strings.Contains(got, "/etc/cron.d/job") || strings.Contains(got, "id_rsa") {
		t.Errorf("baseline after review: %s\nreview:\n%s", got, seen.String())
	}
}

// A failed approve outside any project leaves no .behavediff behind.
func TestApproveOutsideProjectLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	code, _, stderr := runCLI(t, "approve", "--yes", "build")
	if code != exitUsage || !strings.Contains(stderr, `no spec or run named "build"`) {
		t.Errorf("approve outside a project: %d %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, ".behavediff")); !os.IsNotExist(err) {
		t.Errorf("failed approve left .behavediff behind (%v)", err)
	}
}

func TestDiffRefusesAnotherSpec(t *testing.T) {
	dir := badInputProject(t)
	if code, _, stderr := runCLI(t, "approve", "--yes", "--name", "other", "1"); code != exitOK {
		t.Fatalf("approve --name other: %d %s", code, stderr)
	}
	_ = dir
	code, _, stderr := runCLI(t, "diff", "--baseline", "other", "1")
	if code != exitUsage || !strings.Contains(stderr, `run 1 is of spec "app", not "other"`) {
		t.Errorf("diff --baseline of another spec: %d %s", code, stderr)
	}
	if code, out, stderr := runCLI(t, "diff", "--any-spec", "--baseline", "other", "1"); code != exitOK || !strings.Contains(out, "warning") {
		t.Errorf("--any-spec: %d %s %s", code, out, stderr)
	}
}

func TestDiffExitCodeAndFailOnNone(t *testing.T) {
	dir := badInputProject(t)
	if code, _, stderr := runCLI(t, "approve", "--yes", "app"); code != exitOK {
		t.Fatal(stderr)
	}
	addRun(t, dir, 3)
	code, out, _ := runCLI(t, "diff", "--baseline", "app", "last")
	if code != exitFindings || !strings.Contains(out, "exit-code") || !strings.Contains(out, "now exits 3") {
		t.Errorf("changed exit code: %d\n%s", code, out)
	}
	if !strings.Contains(out, "next: inspect: behavediff show") {
		t.Errorf("report does not say what to run next:\n%s", out)
	}
	// none: report, never fail — the same for diff as for check.
	if code, out, _ := runCLI(t, "diff", "--fail-on", "none", "--baseline", "app", "last"); code != exitOK || !strings.Contains(out, "exit-code") {
		t.Errorf("--fail-on none: %d\n%s", code, out)
	}
}

func TestCheckWithoutSpecs(t *testing.T) {
	dir := badInputProject(t)
	os.Remove(filepath.Join(dir, ".behavediff", "specs", "app.yaml"))
	code, _, stderr := runCLI(t, "check")
	if code != exitCheckErr || !strings.Contains(stderr, "no specs") {
		t.Errorf("check with no specs: %d %s", code, stderr)
	}
}

func TestCLIPolish(t *testing.T) {
	if code, _, stderr := runCLI(t, "chekc"); code != exitUsage || !strings.Contains(stderr, `did you mean "check"`) {
		t.Errorf("typo: %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "check", "--fial-on", "high"); code != exitUsage || !strings.Contains(stderr, "did you mean --fail-on?") {
		t.Errorf("flag typo: %d %s", code, stderr)
	}
	if code, out, _ := runCLI(t, "version"); code != exitOK || strings.TrimSpace(out) == "behavediff dev" || !strings.HasPrefix(out, "behavediff ") {
		t.Errorf("version: %d %q", code, out)
	}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		code, out, stderr := runCLI(t, "completion", sh)
		if code != exitOK || !strings.Contains(out, "review") || !strings.Contains(out, "fail-on") || !strings.Contains(out, "accept-risk") {
			t.Errorf("completion %s: %d %s\n%s", sh, code, stderr, out)
		}
	}
	if code, _, stderr := runCLI(t, "--color=sometimes", "help"); code != exitUsage || !strings.Contains(stderr, "auto, always or never") {
		t.Errorf("bad --color: %d %s", code, stderr)
	}
	got := colorize("✗ app (run 3): 1 difference\n  HIGH\n✓ other\n")
	if !strings.Contains(got, ansiRed) || !strings.Contains(got, ansiGreen) {
		t.Errorf("colorize: %q", got)
	}
	// Not a terminal (a buffer): no colour unless always.
	a := &app{stdout: io.Discard, color: "auto", getenv: func(string) string { return "" }}
	if a.colorOn(&strings.Builder{}) {
		t.Error("colour on a non-terminal")
	}
	a.color = "always"
	if !a.colorOn(&strings.Builder{}) {
		t.Error("--color=always ignored")
	}
	a.color, a.getenv = "auto", func(k string) string { return map[string]string{"NO_COLOR": "1"}[k] }
	if a.colorOn(os.Stdout) {
		t.Error("NO_COLOR ignored")
	}
}

func TestInit(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, ".git"), 0o755)
	sub := filepath.Join(dir, "src", "pkg")
	os.MkdirAll(sub, 0o755)
	t.Chdir(sub)
	if code, _, stderr := runCLI(t, "init"); code != exitOK {
		t.Fatalf("init: %d %s", code, stderr)
	}
	cfg, err := os.ReadFile(filepath.Join(dir, ".behavediff", "config.yaml"))
	if err != nil {
		t.Fatalf("init did not create config.yaml at the git root: %v", err)
	}
	for _, want := range []string{"fail-on", "allow:", "redact:", "image", "timeout"} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("config.yaml does not mention %s", want)
		}
	}
	ig, _ := os.ReadFile(filepath.Join(dir, ".behavediff", ".gitignore"))
	if !strings.Contains(string(ig), "*.new") || !strings.Contains(string(ig), "traces.db") {
		t.Errorf(".gitignore: %s", ig)
	}
	// A second init keeps the file; a config with a bad fail-on is an error.
	if code, _, _ := runCLI(t, "init"); code != exitOK {
		t.Errorf("second init: %d", code)
	}
	os.WriteFile(filepath.Join(dir, ".behavediff", "config.yaml"), []byte("version: 1\nfail-on: loud\n"), 0o644)
	if code, _, stderr := runCLI(t, "check"); code != exitUsage || !strings.Contains(stderr, "fail-on") {
		t.Errorf("bad config: %d %s", code, stderr)
	}
}

func TestQueryFromFileAndStdin(t *testing.T) {
	dir := badInputProject(t)
	f := filepath.Join(dir, "q.sql")
	os.WriteFile(f, []byte("SELECT name FROM runs\n"), 0o644)
	if code, out, stderr := runCLI(t, "query", "--format", "csv", "-f", f); code != exitOK || !strings.Contains(out, "app") {
		t.Errorf("query -f: %d %s %s", code, out, stderr)
	}
	var out, errb strings.Builder
	a := &app{stdin: strings.NewReader("SELECT count(*) AS n FROM runs"), stdout: &out, stderr: &errb}
	if code := a.run(context.Background(), []string{"query", "--format", "csv", "-"}); code != exitOK || !strings.Contains(out.String(), "n\n1") {
		t.Errorf("query -: %d %q %s", code, out.String(), errb.String())
	}
	a = &app{stdin: strings.NewReader("  \n"), stdout: io.Discard, stderr: &errb}
	if code := a.run(context.Background(), []string{"query", "-"}); code != exitUsage || !strings.Contains(errb.String(), "empty") {
		t.Errorf("empty stdin: %d %s", code, errb.String())
	}
}

func TestApproveSeveralAndAll(t *testing.T) {
	dir := badInputProject(t)
	os.WriteFile(filepath.Join(dir, ".behavediff", "specs", "web.yaml"), []byte("version: 1\nname: web\nargs: [/bin/true]\nworkspace: .\ntimeout: 1m0s\n"), 0o644)
	addRun(t, dir, 0)
	// The new run is named app; store one named web as well.
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dir, ".behavediff", "traces.db"))
	if err != nil {
		t.Fatal(err)
	}
	w, _ := db.BeginRun(ctx, store.Run{Name: "web", Command: []string{"/bin/true"}, Workspace: dir, StartedAt: time.Now()})
	w.Finish(ctx, store.Final{Processes: []store.Process{{Idx: 0, ParentIdx: -1, Pid: 9, Exe: "/bin/true", Argv: []string{"/bin/true"}}}, Status: store.StatusOK, EndedAt: time.Now()})
	db.Close()
	if code, out, stderr := runCLI(t, "approve", "--yes", "app", "web"); code != exitOK {
		t.Fatalf("approve app web: %d\n%s%s", code, out, stderr)
	}
	for _, n := range []string{"app", "web"} {
		if _, err := os.Stat(filepath.Join(dir, ".behavediff", "baselines", n+".yaml")); err != nil {
			t.Errorf("baseline %s: %v", n, err)
		}
	}
	if code, out, stderr := runCLI(t, "approve", "--yes", "--all"); code != exitOK || strings.Count(out, "unchanged") != 2 {
		t.Errorf("approve --all: %d\n%s%s", code, out, stderr)
	}
	if code, _, stderr := runCLI(t, "approve", "--yes", "--name", "x", "app", "web"); code != exitUsage || !strings.Contains(stderr, "one REF") {
		t.Errorf("--name with two REFs: %d %s", code, stderr)
	}
}

// On a terminal, check shows a live line with each running spec's elapsed
// time; elsewhere one line per start and end.
func TestCheckProgress(t *testing.T) {
	var buf strings.Builder
	a := &app{stderr: &syncWriter{w: &buf}}
	pr := a.newProgress(2)
	pr.live = true
	pr.wg.Add(1)
	go func() { // the ticker a terminal gets
		defer pr.wg.Done()
		<-pr.quit
	}()
	pr.event(snapshot.CheckEvent{Name: "build", Index: 0, Total: 2})
	time.Sleep(1100 * time.Millisecond)
	pr.mu.Lock()
	pr.redraw()
	pr.mu.Unlock()
	pr.event(snapshot.CheckEvent{Name: "build", Index: 0, Total: 2, Result: &diff.SpecResult{Status: "pass", DurationMS: 1100}})
	pr.stop()
	out := buf.String()
	if !strings.Contains(out, "replaying build 1s") || !strings.Contains(out, "build pass in 1.1s") {
		t.Errorf("live progress: %q", out)
	}
	buf.Reset()
	pr = a.newProgress(1)
	pr.event(snapshot.CheckEvent{Name: "web", Index: 0, Total: 1})
	pr.event(snapshot.CheckEvent{Name: "web", Index: 0, Total: 1, Result: &diff.SpecResult{Status: "fail", DurationMS: 2000}})
	pr.stop()
	if got := buf.String(); got != "check: [1/1] replaying web\ncheck: [1/1] web fail in 2s\n" {
		t.Errorf("plain progress: %q", got)
	}
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
