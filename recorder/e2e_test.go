package recorder

import (
	"bytes"
	"context"
	"errors"
	"github.com/behavediff/behavediff/internal/linux"
	"github.com/behavediff/behavediff/internal/testenv"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/behavediff/behavediff/store"
)

// These tests use a real containerd daemon, real eBPF programs and a real
// SQLite file. They need root; CI runs as root, so there they always run.
func requireRoot(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t, "end-to-end recording (containerd, eBPF)")
	testenv.RequireBinaries(t, "containerd", "runc", "gcc", "python3")
	if testing.Short() {
		t.Skip("end-to-end recording skipped in -short mode")
	}
}

type recorded struct {
	res    Result
	trace  *store.Trace
	stdout string
	stderr string
	ws     string
}

func record(t *testing.T, ws string, spec Spec, mod func(*Options)) recorded {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "traces.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if ws == "" {
		ws = t.TempDir()
	}
	spec.Workspace = ws
	var out, errb bytes.Buffer
	o := Options{Spec: spec, Stdout: &out, Stderr: &errb, Progress: &errb}
	if mod != nil {
		mod(&o)
	}
	res, err := Record(ctx, db, o)
	if err != nil {
		t.Fatalf("Record: %v\nstderr: %s", err, errb.String())
	}
	tr, err := db.LoadTrace(ctx, res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	return recorded{res, tr, out.String(), errb.String(), ws}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o755); err != nil {
		t.Fatal(err)
	}
}

func findFile(tr *store.Trace, op store.FileOp, path string) *store.FileEvent {
	for i := range tr.Files {
		if tr.Files[i].Op == op && tr.Files[i].Path == path {
			return &tr.Files[i]
		}
	}
	return nil
}

func TestRecordEndToEnd(t *testing.T) {
	requireRoot(t)
	ws := t.TempDir()
	writeFile(t, filepath.Join(ws, "old.txt"), "old\n")
	writeFile(t, filepath.Join(ws, "run.sh"), `#!/bin/sh
cat /etc/hostname > /dev/null
/bin/echo child-ran
echo hello > new.txt
rm old.txt
mkdir sub
mv new.txt sub/moved.txt
python3 -c '
import socket
s = socket.socket()
s.settimeout(2)
try:
    s.connect(("203.0.113.5", 443))
except OSError as e:
    print("connect:", e.errno)
'
exit 4
`)
	r := record(t, ws, Spec{Args: []string{"/bin/sh", "./run.sh"}}, nil)
	if r.res.Status != store.StatusOK || r.res.ExitCode != 4 {
		t.Fatalf("status %s exit %d, want ok/4; stderr %s", r.res.Status, r.res.ExitCode, r.stderr)
	}
	if !strings.Contains(r.stdout, "child-ran") {
		t.Errorf("stdout not captured live: %q", r.stdout)
	}
	if !bytes.Contains(r.trace.Run.Stdout, []byte("child-ran")) {
		t.Errorf("stdout not stored: %q", r.trace.Run.Stdout)
	}
	tr := r.trace

	// Process tree: sh is the root, echo and python3 its children. Exe is
	// the file the kernel ran (the sandbox's root is the host's).
	sh, _ := filepath.EvalSymlinks("/bin/sh")
	if len(tr.Processes) == 0 || tr.Processes[0].Exe != sh {
		t.Fatalf("first process %+v, want %s", tr.Processes, sh)
	}
	root := tr.Processes[0]
	if root.ParentIdx != -1 || !root.Exited || root.ExitCode != 4 || root.Cwd != ws {
		t.Errorf("root process %+v: want parent -1, exit 4, cwd %s", root, ws)
	}
	var echo *store.Process
	for i := range tr.Processes {
		if filepath.Base(tr.Processes[i].Exe) == "echo" {
			echo = &tr.Processes[i]
		}
	}
	if echo == nil || echo.ParentIdx != root.Idx || strings.Join(echo.Argv, " ") != "/bin/echo child-ran" || !echo.Exited || echo.ExitCode != 0 {
		t.Errorf("echo child: %+v", echo)
	}

	// Files: read outside the workspace, writes and deletes inside it.
	if e := findFile(tr, store.FileOpen, "/etc/hostname"); e == nil || e.Result < 0 || e.Flags&3 != 0 {
		t.Errorf("read of /etc/hostname: %+v", e)
	}
	if e := findFile(tr, store.FileOpen, filepath.Join(ws, "new.txt")); e == nil || e.Flags&0x40 == 0 || e.Result < 0 {
		t.Errorf("create of new.txt: %+v", e)
	}
	if e := findFile(tr, store.FileUnlink, filepath.Join(ws, "old.txt")); e == nil || e.Result != 0 {
		t.Errorf("unlink old.txt: %+v", e)
	}
	if e := findFile(tr, store.FileMkdir, filepath.Join(ws, "sub")); e == nil || e.Result != 0 {
		t.Errorf("mkdir sub: %+v", e)
	}
	if e := findFile(tr, store.FileRename, filepath.Join(ws, "new.txt")); e == nil || e.Path2 != filepath.Join(ws, "sub/moved.txt") {
		t.Errorf("rename new.txt: %+v", e)
	}
	if echoExe, _ := filepath.EvalSymlinks("/bin/echo"); findFile(tr, store.FileExec, echoExe) == nil {
		t.Errorf("exec of /bin/echo not recorded as a file event")
	}

	// Network: the connect attempt fails inside the isolated namespace.
	var conn *store.NetEvent
	for i := range tr.Net {
		if tr.Net[i].Op == store.NetConnect && tr.Net[i].Address == "203.0.113.5" {
			conn = &tr.Net[i]
		}
	}
	if conn == nil || conn.Port != 443 || conn.Family != linux.AF_INET || conn.Result >= 0 {
		t.Errorf("connect to 203.0.113.5:443: %+v (all: %+v)", conn, tr.Net)
	} else if tr.Processes[conn.Proc].Exe != "/usr/bin/python3.11" && filepath.Base(tr.Processes[conn.Proc].Exe) != "python3" {
		t.Errorf("connect attributed to %s", tr.Processes[conn.Proc].Exe)
	}

	// Workspace changes were captured, and the real workspace is untouched.
	changes := map[string]string{}
	for _, c := range tr.Changes {
		changes[c.Path] = c.Change
	}
	if changes[filepath.Join(ws, "old.txt")] != "deleted" || changes[filepath.Join(ws, "sub/moved.txt")] != "created" {
		t.Errorf("changes: %v", changes)
	}
	if _, err := os.Stat(filepath.Join(ws, "old.txt")); err != nil {
		t.Errorf("real workspace changed: old.txt: %v", err)
	}
	if _, err := os.Stat(filepath.Join(ws, "sub")); err == nil {
		t.Errorf("real workspace changed: sub/ exists")
	}
	// Syscall counts are there, with errors for the failed connect.
	var sawConnectErr bool
	for _, s := range tr.Syscalls {
		if s.Name == "connect" && s.Errors > 0 {
			sawConnectErr = true
		}
	}
	if !sawConnectErr {
		t.Errorf("no connect error count in syscalls: %+v", tr.Syscalls)
	}
	if tr.Run.LostEvents != 0 {
		t.Errorf("lost %d events", tr.Run.LostEvents)
	}
}

// A busy host process outside the sandbox must leave no trace: the filter is
// in the kernel, on the container's cgroup.
func TestRecordIgnoresHostActivity(t *testing.T) {
	requireRoot(t)
	marker := filepath.Join(t.TempDir(), "host-marker")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			os.WriteFile(marker, []byte("x"), 0o644)
			exec.Command("/bin/true", "host-noise").Run()
		}
	}()
	r := record(t, "", Spec{Args: []string{"/bin/sh", "-c", "for i in 1 2 3; do cat /etc/hostname >/dev/null; sleep 0.1; done"}}, nil)
	close(stop)
	<-done
	for _, f := range r.trace.Files {
		if strings.Contains(f.Path, "host-marker") {
			t.Errorf("host file event leaked into the trace: %+v", f)
		}
	}
	for _, p := range r.trace.Processes {
		if len(p.Argv) > 1 && p.Argv[1] == "host-noise" {
			t.Errorf("host process leaked into the trace: %+v", p)
		}
	}
	if findFile(r.trace, store.FileOpen, "/etc/hostname") == nil {
		t.Errorf("the sandbox's own reads are missing")
	}
}

func TestRecordTimeout(t *testing.T) {
	requireRoot(t)
	start := time.Now()
	r := record(t, "", Spec{Args: []string{"/bin/sleep", "30"}, Timeout: Duration(time.Second)}, nil)
	if r.res.Status != store.StatusTimeout || !r.res.TimedOut {
		t.Fatalf("status %s, want timeout", r.res.Status)
	}
	if el := time.Since(start); el > 20*time.Second {
		t.Errorf("timeout took %s", el)
	}
	if r.trace.Run.Status != store.StatusTimeout {
		t.Errorf("stored status %s", r.trace.Run.Status)
	}
}

func TestRecordKeepChanges(t *testing.T) {
	requireRoot(t)
	ws := t.TempDir()
	writeFile(t, filepath.Join(ws, "gone.txt"), "bye")
	r := record(t, ws, Spec{Args: []string{"/bin/sh", "-c", "echo kept > kept.txt && rm gone.txt"}}, func(o *Options) { o.KeepChanges = true })
	if r.res.ExitCode != 0 {
		t.Fatalf("exit %d: %s", r.res.ExitCode, r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(ws, "kept.txt")); err != nil || string(b) != "kept\n" {
		t.Errorf("kept.txt not applied: %q %v", b, err)
	}
	if _, err := os.Stat(filepath.Join(ws, "gone.txt")); !os.IsNotExist(err) {
		t.Errorf("deletion not applied: %v", err)
	}
}

// cancelOnWrite cancels a context at the first write it sees.
type cancelOnWrite struct {
	once   sync.Once
	cancel context.CancelFunc
}

func (c *cancelOnWrite) Write(p []byte) (int, error) {
	c.once.Do(func() { time.AfterFunc(200*time.Millisecond, c.cancel) })
	return len(p), nil
}

// Ctrl-C (a cancelled context) kills the sandbox, and the run is kept and
// marked interrupted with what was recorded until then.
func TestRecordInterrupted(t *testing.T) {
	requireRoot(t)
	ctx, cancel := context.WithCancel(context.Background())
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Interrupt once the command is running (its first output), not after a
	// fixed time: on a loaded machine setting up may take longer than that.
	out := &cancelOnWrite{cancel: cancel}
	res, err := Record(ctx, db, Options{
		Spec:   Spec{Args: []string{"/bin/sh", "-c", "cat /etc/hostname; exec sleep 30"}, Workspace: t.TempDir()},
		Stdout: out, Stderr: out,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != store.StatusInterrupted {
		t.Fatalf("status %s, want interrupted", res.Status)
	}
	tr, err := db.LoadTrace(context.Background(), res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Run.Status != store.StatusInterrupted || findFile(tr, store.FileOpen, "/etc/hostname") == nil {
		t.Errorf("stored run %s; events before the interrupt kept: %v", tr.Run.Status, findFile(tr, store.FileOpen, "/etc/hostname") != nil)
	}
}

// -i forwards stdin, and the spec keeps a (capped) copy for replay.
func TestRecordStdin(t *testing.T) {
	requireRoot(t)
	r := record(t, "", Spec{Args: []string{"/bin/cat"}}, func(o *Options) { o.Stdin = strings.NewReader("to the sandbox\n") })
	if r.stdout != "to the sandbox\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	spec, err := UnmarshalSpec(r.trace.Run.Spec)
	if err != nil {
		t.Fatal(err)
	}
	if string(spec.Stdin) != "to the sandbox\n" {
		t.Errorf("spec stdin %q", spec.Stdin)
	}
}

func TestRecordCommandNotFound(t *testing.T) {
	requireRoot(t)
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = Record(context.Background(), db, Options{Spec: Spec{Args: []string{"no-such-program"}, Workspace: t.TempDir()}})
	if !errors.Is(err, ErrCommandNotFound) {
		t.Fatalf("err %v, want ErrCommandNotFound", err)
	}
}
