package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/behavediff/behavediff/store"
)

// project with one stored (synthetic) run and a spec "app"; no sandbox needed.
func badInputProject(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, ".behavediff", "specs"), 0o755)
	os.MkdirAll(filepath.Join(dir, ".behavediff", "baselines"), 0o755)
	os.WriteFile(filepath.Join(dir, ".behavediff", "specs", "app.yaml"), []byte("version: 1\nname: app\nargs: [/bin/true]\nworkspace: .\ntimeout: 1m0s\n"), 0o644)
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(dir, ".behavediff", "traces.db"))
	if err != nil {
		t.Fatal(err)
	}
	w, err := db.BeginRun(ctx, store.Run{Name: "app", Command: []string{"/bin/true"}, Workspace: dir, StartedAt: time.Now(), ExitCode: -1})
	if err != nil {
		t.Fatal(err)
	}
	w.AddFile(store.FileEvent{Op: store.FileOpen, Path: "/etc/hostname", Result: 3})
	if err := w.Finish(ctx, store.Final{Processes: []store.Process{{Idx: 0, ParentIdx: -1, Pid: 7, Exe: "/bin/true", Argv: []string{"/bin/true"}}}, Status: store.StatusOK, EndedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	t.Chdir(dir)
	return dir
}

func TestSnapshotBadInput(t *testing.T) {
	dir := badInputProject(t)
	bl := func(name, content string) {
		os.WriteFile(filepath.Join(dir, ".behavediff", "baselines", name+".yaml"), []byte(content), 0o644)
	}
	bl("broken", "version: 1\ncommand: [x]\nfiles:\n  read:\n    - /etc/hostname\n  raed:\n    - /x\n")
	bl("future", "version: 99\ncommand: [x]\n")

	tests := []struct {
		name string
		args []string
		code int
		want string // in stdout+stderr
	}{
		{"unknown run (show)", []string{"show", "999"}, exitUsage, "no run 999"},
		{"unknown run (diff)", []string{"diff", "1", "999"}, exitUsage, "no run 999"},
		{"unknown run name", []string{"show", "nosuchname"}, exitUsage, "nosuchname"},
		{"unknown spec (check)", []string{"check", "nosuch"}, exitCheckErr, "no such spec"},
		{"unknown spec (replay)", []string{"replay", "nosuch"}, exitUsage, "nosuch"},
		{"malformed baseline (diff)", []string{"diff", "--baseline", "broken", "1"}, exitUsage, "broken.yaml:6"},
		{"malformed baseline (check)", []string{"check", "--format", "json", "app"}, exitCheckErr, ""},
		{"newer baseline", []string{"diff", "--baseline", "future", "1"}, exitUsage, "newer"},
		{"missing baseline (diff)", []string{"diff", "--baseline", "absent", "1"}, exitUsage, "absent"},
		{"bad fail-on", []string{"diff", "--fail-on", "severe", "1", "1"}, exitUsage, "unknown level"},
		{"bad format", []string{"check", "--format", "xml"}, exitUsage, "unknown --format"},
		{"approve unnamed run without --name", []string{"approve", "--yes", "--name", "../x", "1"}, exitUsage, "bad spec name"},
		{"write query refused", []string{"query", "DELETE FROM runs"}, exitUsage, "read-only"},
		{"query wants one statement", []string{"query", "SELECT 1; SELECT 2"}, exitUsage, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "malformed baseline (check)" {
				bl("app", "version: 1\nfiles: [oops\n")
				defer os.Remove(filepath.Join(dir, ".behavediff", "baselines", "app.yaml"))
			}
			code, out, stderr := runCLI(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, stderr)
			}
			if !strings.Contains(out+stderr, tt.want) {
				t.Errorf("output does not mention %q:\nstdout: %s\nstderr: %s", tt.want, out, stderr)
			}
			if strings.Contains(out+stderr, "panic") || strings.Contains(out+stderr, "goroutine ") {
				t.Errorf("panicked:\n%s%s", out, stderr)
			}
		})
	}
}

// A diff of a run with itself is clean, and JSON output is machine-readable.
func TestDiffSameRunClean(t *testing.T) {
	badInputProject(t)
	code, out, stderr := runCLI(t, "diff", "--format", "json", "1", "last")
	if code != exitOK || !strings.Contains(out, `"status": "pass"`) {
		t.Fatalf("exit %d\n%s\n%s", code, out, stderr)
	}
}
