package recorder

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/behavediff/behavediff/store"
)

// Accuracy of the trace against what the kernel did (issue 8, items 5-11),
// recorded for real.

func countOf(tr *store.Trace, name string) (n uint64) {
	for _, c := range tr.Syscalls {
		if c.Name == name {
			n += c.Count
		}
	}
	return n
}

func TestTruthChdirArgvSignalSubshell(t *testing.T) {
	requireRoot(t)
	ws := t.TempDir()
	args := make([]string, 300)
	for i := range args {
		args[i] = fmt.Sprintf("argument-%03d-%s", i, strings.Repeat("x", 100))
	}
	writeFile(t, filepath.Join(ws, "run.sh"), `#!/bin/sh
mkdir -p w/a/b
cd w; cd a; cd b; cd ..
touch here
cd /tmp && cd "$OLDPWD"
/bin/echo `+strings.Join(args, " ")+` > /dev/null
python3 -c '
import os, signal
signal.signal(signal.SIGUSR1, lambda *a: None)
os.kill(os.getpid(), signal.SIGUSR1)
'
(cat /dev/null; exec tar --version > /dev/null)
`)
	r := record(t, ws, Spec{Args: []string{"/bin/sh", "./run.sh"}, Env: []string{"MY_API_TOKEN=hunter2", "PLAIN=visible"}}, nil)
	if r.res.Status != store.StatusOK {
		t.Fatalf("status %s: %s", r.res.Status, r.stderr)
	}
	tr := r.trace
	// chdir: the kernel's resulting cwd, never joined after the move.
	var dirs []string
	for _, f := range tr.Files {
		if f.Op == store.FileChdir && f.Result == 0 && f.Proc == 0 { // the script's own (mkdir -p chdirs too)
			dirs = append(dirs, f.Path)
		}
	}
	want := []string{ws + "/w", ws + "/w/a", ws + "/w/a/b", ws + "/w/a", "/tmp", ws + "/w/a"}
	if strings.Join(dirs, " ") != strings.Join(want, " ") {
		t.Errorf("chdir chain %q, want %q", dirs, want)
	}
	if findFile(tr, store.FileOpen, ws+"/w/a/here") == nil {
		t.Errorf("touch after cd .. not at %s/w/a/here", ws)
	}
	var echo, cat, tar, sub *store.Process
	for i := range tr.Processes {
		p := &tr.Processes[i]
		switch {
		case strings.HasSuffix(p.Exe, "/echo"):
			echo = p
		case strings.HasSuffix(p.Exe, "/cat"):
			cat = p
		case strings.HasSuffix(p.Exe, "/tar"):
			tar = p
		}
	}
	if echo == nil || cat == nil || tar == nil {
		t.Fatalf("echo/cat/tar missing: %+v", tr.Processes)
	}
	// 300 arguments of ~115 bytes: 34 KiB, over the 32 KiB cap: all that
	// fit are whole, and the cut is flagged.
	if !echo.ArgvTruncated || len(echo.Argv) < 250 || echo.Argv[1] != args[0] {
		t.Errorf("argv: %d args, truncated %v", len(echo.Argv), echo.ArgvTruncated)
	}
	// The subshell forked cat, then exec'd tar: cat's parent is the subshell.
	sub = &tr.Processes[cat.ParentIdx]
	if strings.HasSuffix(sub.Exe, "/tar") || !sub.Replaced {
		t.Errorf("cat's parent %+v, want the subshell (replaced by tar)", sub)
	}
	if !strings.Contains(tar.Chain, "/") || strings.Contains(tar.Chain, "> tar") {
		t.Errorf("chain %q: want full paths", tar.Chain)
	}
	// The environment, redacted.
	root := tr.Processes[0]
	env := strings.Join(root.Env, "\n")
	if !strings.Contains(env, "PLAIN=visible") || !strings.Contains(env, "MY_API_TOKEN=<redacted>") || strings.Contains(env, "hunter2") {
		t.Errorf("env of the first process:\n%s", env)
	}
	if countOf(tr, "rt_sigreturn") == 0 {
		t.Error("rt_sigreturn not counted")
	}
}

// A path deeper than the sensor's walk is never stored as a plausible
// absolute path: the cwd of a 4 KiB+ deep directory is cut and marked.
func TestTruthDeepPath(t *testing.T) {
	requireRoot(t)
	ws := t.TempDir()
	// 70 levels of 61-byte names under /tmp (outside the workspace, whose
	// changes are read from the host): 4270 bytes, deeper than PATH_MAX.
	writeFile(t, filepath.Join(ws, "run.py"), `import os
os.chdir("/tmp")
for n in range(70):
    d = "d%02d_" % n + "y" * 56
    os.mkdir(d)
    os.chdir(d)
    if n == 39:
        open("mid", "w").close()
open("deepfile", "w").close()
`)
	r := record(t, ws, Spec{Args: []string{"python3", "run.py"}}, nil)
	if r.res.Status != store.StatusOK || r.res.ExitCode != 0 {
		t.Fatalf("status %s exit %d: %s", r.res.Status, r.res.ExitCode, r.stderr)
	}
	var deep, mid *store.FileEvent
	for i := range r.trace.Files {
		f := &r.trace.Files[i]
		switch {
		case strings.HasSuffix(f.Path, "/deepfile"):
			deep = f
		case strings.HasSuffix(f.Path, "/mid"):
			mid = f
		}
	}
	if deep == nil {
		t.Fatal("no event for deepfile")
	}
	if deep.PathState != store.PathTruncated || !strings.HasPrefix(deep.Path, "...") {
		t.Errorf("deep path %q state %d: want truncated, starting with ...", deep.Path, deep.PathState)
	}
	// 40 levels (2.4 KiB; the old walk stopped at 64 steps) walk fully.
	if mid == nil || mid.PathState != store.PathKernel || !strings.HasPrefix(mid.Path, "/tmp/d00_") || strings.Count(mid.Path, "/") != 42 {
		t.Errorf("40 deep: %+v", mid)
	}
}

// 20k fork+execs: counts of exited processes leave the kernel map as the run
// goes, so nothing is lost and the run is complete.
func TestTruthManyProcesses(t *testing.T) {
	requireRoot(t)
	r := record(t, "", Spec{Args: []string{"/bin/sh", "-c", `i=0; while [ $i -lt 20000 ]; do /bin/true; i=$((i+1)); done`}}, nil)
	if r.res.Status != store.StatusOK || r.res.Lost != 0 {
		t.Fatalf("status %s lost %d (%v): %s", r.res.Status, r.res.Lost, r.trace.Run.LostByClass, r.stderr)
	}
	if n := len(r.trace.Processes); n < 20001 {
		t.Errorf("%d processes, want 20001", n)
	}
	if n := countOf(r.trace, "execve"); n < 20000 {
		t.Errorf("execve counted %d times, want >= 20000", n)
	}
}
