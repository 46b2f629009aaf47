package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/behavediff/behavediff/diff"
	"github.com/behavediff/behavediff/store"
)

// tamper.sh is what untrusted code run with --keep-changes tries: rewrite
// the approved baseline to allow everything, replace the trace database
// (rename over the file the recorder holds open), plant a setuid copy of a
// binary, and read other runs' records.
const tamperScript = `
B=.behavediff
printf 'version: 1\nallow: {files: ["**"], network: ["**"]}\n' > $B/baselines/app.yaml 2>/dev/null && echo wrote-baseline
cp /bin/true $B/evil.db 2>/dev/null; mv $B/evil.db $B/traces.db 2>/dev/null && echo replaced-db
rm -f $B/traces.db 2>/dev/null
cp /bin/id suid-id && chmod 4755 suid-id
echo "seen=[$(ls -A $B 2>&1)]"
`

func fileSum(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// --keep-changes cannot be used to rewrite a baseline or the trace
// database, nor to plant a setuid binary, and .behavediff is invisible
// inside; a later check still catches a risky variant, and a run that tries
// the tampering is rated critical.
func TestKeepChangesCannotTamper(t *testing.T) {
	requireRoot(t)
	dir := newProject(t)
	bd := filepath.Join(dir, ".behavediff")
	baselineBefore := fileSum(t, filepath.Join(bd, "baselines", "app.yaml"))
	if err := os.WriteFile(filepath.Join(dir, "tamper.sh"), []byte(tamperScript), 0o755); err != nil {
		t.Fatal(err)
	}
	db, err := store.OpenReadOnly(context.Background(), filepath.Join(bd, "traces.db"))
	if err != nil {
		t.Fatal(err)
	}
	runsBefore, err := db.Runs(context.Background())
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	code, out, stderr := runCLI(t, "record", "--keep-changes", "--", "/bin/sh", "tamper.sh")
	if code != 0 {
		t.Fatalf("record: exit %d\n%s\n%s", code, out, stderr)
	}
	if strings.Contains(out, "wrote-baseline") || strings.Contains(out, "replaced-db") || !strings.Contains(out, "seen=[]") {
		t.Errorf("inside the sandbox .behavediff was visible or writable:\n%s", out)
	}
	if got := fileSum(t, filepath.Join(bd, "baselines", "app.yaml")); got != baselineBefore {
		t.Errorf("baseline rewritten:\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(bd, "evil.db")); err == nil {
		t.Error("a file was planted in .behavediff")
	}
	db, err = store.OpenReadOnly(context.Background(), filepath.Join(bd, "traces.db"))
	if err != nil {
		t.Fatalf("trace database after the run: %v", err)
	}
	runsAfter, err := db.Runs(context.Background())
	db.Close()
	if err != nil || len(runsAfter) != len(runsBefore)+1 {
		t.Fatalf("trace database has %d runs (%v), want %d", len(runsAfter), err, len(runsBefore)+1)
	}
	if last := runsAfter[0]; last.Status != store.StatusOK {
		t.Errorf("the tampering run is stored %s, want ok", last.Status)
	}
	st, err := os.Stat(filepath.Join(dir, "suid-id"))
	if err != nil {
		t.Fatalf("the plain change was not kept: %v", err)
	}
	if st.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 {
		t.Errorf("--keep-changes restored a setuid bit: %v", st.Mode())
	}
	if !strings.Contains(stderr, "tried to change behavediff's own file "+filepath.Join(bd, "baselines", "app.yaml")) {
		t.Errorf("record did not say the command tried to change the baseline:\n%s", stderr)
	}
	if !strings.Contains(stderr, "setuid/setgid bits dropped") {
		t.Errorf("record did not say it dropped the setuid bit:\n%s", stderr)
	}
	os.Remove(filepath.Join(dir, "suid-id"))

	// check still fails on a risky variant: the baseline is the approved one.
	benign := scenarioFile(t, "benign.sh")
	risky := benign + "\n" + scenarioFile(t, filepath.Join("risky", "secret-egress.sh"))
	if err := os.WriteFile(filepath.Join(dir, "app.sh"), []byte(risky), 0o755); err != nil {
		t.Fatal(err)
	}
	if code, r := checkJSON(t); code != exitFindings || r.Specs[0].Status != diff.StatusFail {
		t.Fatalf("check of a risky variant after the tampering run: exit %d %+v", code, r)
	}
	// The tampering itself, in the checked program, is critical.
	if err := os.WriteFile(filepath.Join(dir, "app.sh"), []byte(benign+"\n"+tamperScript), 0o755); err != nil {
		t.Fatal(err)
	}
	code, r := checkJSON(t)
	if code != exitFindings {
		t.Fatalf("check of the tampering variant: exit %d %+v", code, r)
	}
	found := false
	for _, f := range r.Specs[0].Findings {
		if f.Kind == "behavediff-files" && f.Level == diff.Critical {
			found = true
		}
	}
	if !found {
		t.Errorf("no critical behavediff-files finding: %+v", r.Specs[0].Findings)
	}
}

// sandboxProcs lists host pids whose command line holds marker.
func sandboxProcs(marker string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), marker) {
			out = append(out, e.Name())
		}
	}
	return out
}

// SIGKILL of behavediff mid-run: the sandbox's processes are gone within
// 2 s (the watchdog kills the cgroup), so nothing runs untraced.
func TestSIGKILLKillsSandbox(t *testing.T) {
	requireRoot(t)
	bin := buildCLI(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "t.db")
	b := make([]byte, 4)
	rand.Read(b)
	marker := "4711" + hex.EncodeToString(b) // unique, and a valid sleep argument
	marker = strings.Map(func(r rune) rune {
		if r >= 'a' {
			return r - 'a' + '0'
		}
		return r
	}, marker)
	cmd := exec.Command(bin, "record", "--db", db, "--workspace", dir, "--", "/bin/sh", "-c", "sleep "+marker+" & sleep "+marker)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, db)
	deadline := time.Now().Add(10 * time.Second)
	for len(sandboxProcs(marker)) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the sandboxed sleeps never started")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	killed := time.Now()
	for {
		left := sandboxProcs(marker)
		if len(left) == 0 {
			break
		}
		if time.Since(killed) > 2*time.Second {
			t.Fatalf("2 s after SIGKILL of behavediff the sandbox still runs: pids %v", left)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("sandbox gone %s after the recorder was killed", time.Since(killed).Round(time.Millisecond))
}

// The run row and show carry the limits, and a limit that was hit is named.
func TestLimitsShownAndNamed(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, ".behavediff"), 0o755)
	t.Chdir(dir)
	code, _, stderr := runCLI(t, "record", "--disk", "64M", "--tmpfs-size", "16M", "--cpus", "1", "--memory", "268435456",
		"--", "/bin/sh", "-c", "dd if=/dev/zero of=big bs=1M count=100 2>/dev/null; true")
	if code != 0 || !strings.Contains(stderr, "disk limit 64 MiB reached") {
		t.Fatalf("record: exit %d, want 0 and the disk limit named:\n%s", code, stderr)
	}
	code, out, _ := runCLI(t, "query", "--format", "csv", "SELECT memory_limit, pids_limit, disk_limit, tmpfs_limit, cpu_limit, limits_hit FROM runs")
	if want := "268435456,4096,67108864,16777216,1,disk limit 64 MiB reached"; code != 0 || !strings.Contains(out, want) {
		t.Errorf("run row:\n%s\nwant %s", out, want)
	}
	code, out, _ = runCLI(t, "show", "last")
	if code != 0 || !strings.Contains(out, "Limits:    memory 256 MiB, 4096 processes, disk 64 MiB, /tmp 16 MiB, 1 CPUs") ||
		!strings.Contains(out, "LIMIT REACHED: disk limit 64 MiB reached") {
		t.Errorf("show:\n%s", out)
	}
	// Without --cpus there is no hard cap (the sandbox yields by weight
	// instead): the row says NULL, show says so, and the defaults are there.
	if code, _, stderr := runCLI(t, "record", "--", "true"); code != 0 {
		t.Fatalf("record: exit %d\n%s", code, stderr)
	}
	code, out, _ = runCLI(t, "query", "--format", "csv", "SELECT memory_limit, pids_limit, cpu_limit IS NULL FROM runs ORDER BY id DESC LIMIT 1")
	if want := "4294967296,4096,1"; code != 0 || !strings.Contains(out, want) {
		t.Errorf("default run row:\n%s\nwant %s", out, want)
	}
	code, out, _ = runCLI(t, "show", "last")
	if code != 0 || !strings.Contains(out, "/tmp 1 GiB, CPU no cap (low weight)\n") {
		t.Errorf("show of a default run:\n%s", out)
	}
}

// The user namespace end to end: in a workspace owned by uid 1000 the
// command is 1000 inside (and so in the stored processes), cannot read a
// root-owned 0600 host file, and --keep-changes applies its create, modify,
// rename and delete with the owner's ids, not the host ids of the range.
func TestUserNamespaceKeepChanges(t *testing.T) {
	requireRoot(t)
	secretDir, err := os.MkdirTemp("/var/tmp", "bd-cli-secret-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(secretDir)
	os.Chmod(secretDir, 0o755)
	secret := filepath.Join(secretDir, "opasswd")
	if err := os.WriteFile(secret, []byte("ROOT ONLY"), 0o600); err != nil {
		t.Fatal(err)
	}
	ws := t.TempDir()
	for name, body := range map[string]string{"a.txt": "a\n", "c.txt": "c\n"} {
		if err := os.WriteFile(filepath.Join(ws, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{ws, filepath.Join(ws, "a.txt"), filepath.Join(ws, "c.txt")} {
		if err := os.Chown(p, 1000, 1000); err != nil {
			t.Fatal(err)
		}
	}
	db := filepath.Join(t.TempDir(), "traces.db")
	script := "id -u; cat " + secret + " 2>/dev/null || echo unreadable; echo new > new.txt && echo more >> a.txt && mv a.txt b.txt && rm c.txt && echo wrote"
	code, out, stderr := runCLI(t, "record", "--db", db, "--workspace", ws, "--keep-changes", "--", "/bin/sh", "-c", script)
	if code != 0 || out != "1000\nunreadable\nwrote\n" {
		t.Fatalf("record: exit %d, stdout %q, want 1000, unreadable, wrote; stderr %s", code, out, stderr)
	}
	for name, want := range map[string]string{"new.txt": "new\n", "b.txt": "a\nmore\n"} {
		p := filepath.Join(ws, name)
		b, err := os.ReadFile(p)
		if err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", name, b, err, want)
			continue
		}
		st, _ := os.Stat(p)
		if sys := st.Sys().(*syscall.Stat_t); sys.Uid != 1000 || sys.Gid != 1000 {
			t.Errorf("%s kept as %d:%d, want 1000:1000", name, sys.Uid, sys.Gid)
		}
	}
	for _, gone := range []string{"a.txt", "c.txt"} {
		if _, err := os.Stat(filepath.Join(ws, gone)); err == nil {
			t.Errorf("%s still there after --keep-changes", gone)
		}
	}
	code, out, _ = runCLI(t, "query", "--db", db, "--format", "csv", "SELECT DISTINCT uid FROM processes")
	if code != 0 || strings.TrimSpace(out) != "uid\n1000" {
		t.Errorf("stored uids:\n%s\nwant only 1000 (the uid inside)", out)
	}
}
