package recorder

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/behavediff/behavediff/bpf"
	"github.com/behavediff/behavediff/internal/linux"
	"github.com/behavediff/behavediff/store"
)

// fakeSink collects what the tracker derives (pure logic: no store needed).
type fakeSink struct {
	files []store.FileEvent
	net   []store.NetEvent
	priv  []store.PrivEvent
}

func (f *fakeSink) AddFile(e store.FileEvent) error { f.files = append(f.files, e); return nil }
func (f *fakeSink) AddNet(e store.NetEvent) error   { f.net = append(f.net, e); return nil }
func (f *fakeSink) AddPriv(e store.PrivEvent) error { f.priv = append(f.priv, e); return nil }

func sys(t *testing.T, pid uint32, name string, ret int64, mod func(*bpf.Event)) *bpf.Event {
	t.Helper()
	nr, ok := bpf.SyscallNr(name)
	if !ok {
		t.Fatalf("no syscall %s", name)
	}
	ev := &bpf.Event{Kind: bpf.KindSyscall, Pid: pid, Tid: pid, Nr: int32(nr), Ret: ret, TS: 2000}
	if mod != nil {
		mod(ev)
	}
	return ev
}

func TestTrackerProcessTree(t *testing.T) {
	s := &fakeSink{}
	tr := newTracker(s, 1000)
	events := []*bpf.Event{
		{Kind: bpf.KindExec, Pid: 10, PPid: 5, TS: 1100, Filename: "/bin/sh", Argv: []string{"sh", "-c", "cat x | wc"}, Cwd: "/ws"},
		{Kind: bpf.KindFork, Pid: 10, Child: 11, TS: 1200},
		{Kind: bpf.KindExec, Pid: 11, PPid: 10, TS: 1300, Filename: "/usr/bin/cat", Argv: []string{"cat", "x"}, Cwd: "/ws"},
		{Kind: bpf.KindFork, Pid: 10, Child: 12, TS: 1250},
		// A second exec of an image that already exec'd starts a new image.
		{Kind: bpf.KindExec, Pid: 11, PPid: 10, TS: 1400, Filename: "./tool", Argv: []string{"./tool"}, Cwd: "/ws"},
		{Kind: bpf.KindExit, Pid: 11, TS: 1500, ExitCode: 3},
		{Kind: bpf.KindExit, Pid: 12, TS: 1500, Signal: 9},
	}
	for _, ev := range events {
		if err := tr.handle(ev); err != nil {
			t.Fatal(err)
		}
	}
	got := tr.processes()
	want := []store.Process{
		{Idx: 0, Pid: 10, Ppid: 5, ParentIdx: -1, Exe: "/bin/sh", Argv: []string{"sh", "-c", "cat x | wc"}, Cwd: "/ws", Chain: "/bin/sh", StartedAt: 100},
		{Idx: 1, Pid: 11, Ppid: 10, ParentIdx: 0, Exe: "/usr/bin/cat", Argv: []string{"cat", "x"}, Cwd: "/ws", Chain: "/bin/sh > /usr/bin/cat", StartedAt: 200, Exited: true, ExitedAt: 400, Replaced: true},
		{Idx: 2, Pid: 12, Ppid: 10, ParentIdx: 0, Exe: "/bin/sh", Argv: []string{"sh", "-c", "cat x | wc"}, Cwd: "/ws", Chain: "/bin/sh > /bin/sh", StartedAt: 250, Exited: true, ExitedAt: 500, ExitSignal: 9},
		{Idx: 3, Pid: 11, Ppid: 10, ParentIdx: 0, Exe: "/ws/tool", Argv: []string{"./tool"}, Cwd: "/ws", Chain: "/bin/sh > /ws/tool", StartedAt: 400, Exited: true, ExitedAt: 500, ExitCode: 3},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("process table (-want +got):\n%s", d)
	}
	var execs []string
	for _, f := range s.files {
		if f.Op == store.FileExec {
			execs = append(execs, f.Path)
		}
	}
	if d := cmp.Diff([]string{"/bin/sh", "/usr/bin/cat", "/ws/tool"}, execs); d != "" {
		t.Errorf("exec file events (-want +got):\n%s", d)
	}
}

func TestTrackerFileAndNet(t *testing.T) {
	s := &fakeSink{}
	tr := newTracker(s, 1000)
	tr.handle(&bpf.Event{Kind: bpf.KindExec, Pid: 1, Filename: "/bin/sh", Argv: []string{"sh"}, Cwd: "/ws"})
	evs := []*bpf.Event{
		sys(t, 1, "openat", 3, func(e *bpf.Event) {
			e.Args = [6]uint64{uint64(0xffffffffffffff9c), 0, 0x241, 0o644}
			e.Str[0], e.Base[0] = "out/../a.txt", "/ws"
			e.Resolved = "/ws/a.txt" // the kernel's path of the fd wins
		}),
		// /proc/self/root is a way around path globs: the kernel's file wins.
		sys(t, 1, "openat", 4, func(e *bpf.Event) {
			e.Str[0], e.Resolved = "/proc/self/root/root/.npmrc", "/root/.npmrc"
		}),
		// A /proc/self file stays /proc/self.
		sys(t, 1, "openat", 5, func(e *bpf.Event) {
			e.Str[0], e.Resolved = "/proc/self/status", "/proc/42/status"
		}),
		// Failed: the caller's string, '..' kept (out may be a symlink).
		sys(t, 1, "openat", -2, func(e *bpf.Event) {
			e.Args = [6]uint64{uint64(0xffffffffffffff9c)}
			e.Str[0], e.Base[0] = "l/../.bashrc", "/tmp"
		}),
		sys(t, 1, "openat", -2, func(e *bpf.Event) { e.Str[0] = "/etc/missing" }),
		sys(t, 1, "renameat2", 0, func(e *bpf.Event) {
			e.Str = [2]string{"a.txt", "/ws/b.txt"}
			e.Base = [2]string{"/ws", ""}
		}),
		sys(t, 1, "unlinkat", 0, func(e *bpf.Event) { e.Str[0] = "/ws/d"; e.Args[2] = linux.AT_REMOVEDIR }),
		sys(t, 1, "connect", -101, func(e *bpf.Event) { e.Addr = inet4([4]byte{203, 0, 113, 5}, 443); e.SockType = 1 }),
		sys(t, 1, "sendto", 30, func(e *bpf.Event) {
			e.Addr = inet4([4]byte{127, 0, 0, 53}, 53)
			e.SockType = 2
			e.Payload = dnsMsg("updates.example.com", 1, false)
		}),
		// Two plain sends to one destination: one row.
		sys(t, 1, "sendto", 5, func(e *bpf.Event) { e.Addr = inet4([4]byte{127, 0, 0, 1}, 9999) }),
		sys(t, 1, "sendto", 5, func(e *bpf.Event) { e.Addr = inet4([4]byte{127, 0, 0, 1}, 9999) }),
		sys(t, 1, "unshare", -1, func(e *bpf.Event) { e.Args[0] = 0x10000000 | 0x40000000 }),
		sys(t, 1, "clone", 99, func(e *bpf.Event) { e.Args[0] = 0x11 }), // plain fork: not a privilege event
		sys(t, 1, "prctl", 0, func(e *bpf.Event) { e.Args[0] = 15 }),    // PR_SET_NAME: noise
	}
	for _, ev := range evs {
		if err := tr.handle(ev); err != nil {
			t.Fatal(err)
		}
	}
	wantFiles := []store.FileEvent{
		{Proc: 0, Op: store.FileExec, Path: "/bin/sh"},
		{Proc: 0, Op: store.FileOpen, Path: "/ws/a.txt", Flags: 0x241, Mode: 0o644, Result: 3, TS: 1000},
		{Proc: 0, Op: store.FileOpen, Path: "/root/.npmrc", Result: 4, TS: 1000},
		{Proc: 0, Op: store.FileOpen, Path: "/proc/self/status", Result: 5, TS: 1000},
		{Proc: 0, Op: store.FileOpen, Path: "/tmp/l/../.bashrc", PathState: store.PathUnresolved, Result: -2, TS: 1000},
		{Proc: 0, Op: store.FileOpen, Path: "/etc/missing", Result: -2, TS: 1000},
		{Proc: 0, Op: store.FileRename, Path: "/ws/a.txt", Path2: "/ws/b.txt", TS: 1000},
		{Proc: 0, Op: store.FileRmdir, Path: "/ws/d", Flags: linux.AT_REMOVEDIR, TS: 1000},
	}
	if d := cmp.Diff(wantFiles, s.files); d != "" {
		t.Errorf("file events (-want +got):\n%s", d)
	}
	wantNet := []store.NetEvent{
		{Proc: 0, Op: store.NetConnect, Family: linux.AF_INET, SockType: 1, Address: "203.0.113.5", Port: 443, Result: -101, TS: 1000},
		{Proc: 0, Op: store.NetDNS, Family: linux.AF_INET, SockType: 2, Address: "127.0.0.53", Port: 53, Domain: "updates.example.com", QType: 1, Result: 30, TS: 1000},
		{Proc: 0, Op: store.NetSend, Family: linux.AF_INET, Address: "127.0.0.1", Port: 9999, Result: 5, TS: 1000},
	}
	if d := cmp.Diff(wantNet, s.net); d != "" {
		t.Errorf("net events (-want +got):\n%s", d)
	}
	wantPriv := []store.PrivEvent{{Proc: 0, Syscall: "unshare", Args: "flags=CLONE_NEWUSER|CLONE_NEWNET", Result: -1, TS: 1000}}
	if d := cmp.Diff(wantPriv, s.priv); d != "" {
		t.Errorf("priv events (-want +got):\n%s", d)
	}
}

func TestSpecRedaction(t *testing.T) {
	s := Spec{Env: []string{"API_TOKEN=abc", "MODE=fast", "AWS_SECRET_ACCESS_KEY=x"}}
	r := s.Redacted()
	if d := cmp.Diff([]string{"API_TOKEN=" + RedactedValue, "MODE=fast", "AWS_SECRET_ACCESS_KEY=" + RedactedValue}, r.Env); d != "" {
		t.Errorf("redacted env (-want +got):\n%s", d)
	}
	env := map[string]string{"API_TOKEN": "from-ci", "AWS_SECRET_ACCESS_KEY": "k"}
	u, err := r.Unredact(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if u.Env[0] != "API_TOKEN=from-ci" {
		t.Errorf("unredact: %v", u.Env)
	}
	if _, err := r.Unredact(func(string) (string, bool) { return "", false }); err == nil {
		t.Error("missing secret on replay was not an error")
	}
	if got := BaseEnv([]string{"LANG=de_DE.UTF-8", "X=1"}); got[2] != "LANG=de_DE.UTF-8" || got[len(got)-1] != "X=1" {
		t.Errorf("BaseEnv merge: %v", got)
	}
}

// A subshell forks a child and then execs: the child's parent is the image
// that forked it (the subshell), never the program the subshell became.
func TestTrackerForkThenExec(t *testing.T) {
	s := &fakeSink{}
	tr := newTracker(s, 0)
	for _, ev := range []*bpf.Event{
		{Kind: bpf.KindExec, Pid: 10, Filename: "/bin/sh", Exe: "/usr/bin/dash", Argv: []string{"sh", "-c", "(cat /dev/null; tar --version)"}, Cwd: "/ws"},
		{Kind: bpf.KindFork, Pid: 10, Child: 11},
		{Kind: bpf.KindFork, Pid: 11, Child: 12},
		{Kind: bpf.KindExec, Pid: 12, Filename: "/bin/cat", Exe: "/usr/bin/cat", Cwd: "/ws"},
		{Kind: bpf.KindExit, Pid: 12},
		{Kind: bpf.KindExec, Pid: 11, Filename: "/bin/tar", Exe: "/usr/bin/tar", Cwd: "/ws"},
		{Kind: bpf.KindExit, Pid: 11, ExitCode: 2},
	} {
		if err := tr.handle(ev); err != nil {
			t.Fatal(err)
		}
	}
	type row struct {
		Exe, Chain string
		Parent     int32
		Replaced   bool
	}
	var got []row
	for _, p := range tr.processes() {
		got = append(got, row{p.Exe, p.Chain, p.ParentIdx, p.Replaced})
	}
	want := []row{
		{"/usr/bin/dash", "/usr/bin/dash", -1, false},
		{"/usr/bin/dash", "/usr/bin/dash > /usr/bin/dash", 0, true}, // the subshell, replaced by tar
		{"/usr/bin/cat", "/usr/bin/dash > /usr/bin/dash > /usr/bin/cat", 1, false},
		{"/usr/bin/tar", "/usr/bin/dash > /usr/bin/tar", 0, false},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("process tree (-want +got):\n%s", d)
	}
}

// The exec records the file the kernel ran, not the string: "sub/../x" with
// a symlinked sub runs another file than "$WS/x".
func TestTrackerExecKernelFile(t *testing.T) {
	s := &fakeSink{}
	tr := newTracker(s, 0)
	tr.handle(&bpf.Event{Kind: bpf.KindExec, Pid: 1, Filename: "sub/../build.sh", Exe: "/ws/a/build.sh",
		Argv: []string{"sub/../build.sh"}, Cwd: "/ws", Env: []string{"PATH=/bin", "NPM_TOKEN=abc", "db_password=x", "NOEQUALS"}})
	// A script: the kernel ran its interpreter; the script's path is the
	// string (kept with its '..', so unresolved).
	tr.handle(&bpf.Event{Kind: bpf.KindExec, Pid: 1, Filename: "/ws/s/../run.sh", Exe: "/usr/bin/dash", Interpreted: true, Cwd: "/ws"})
	// Without a kernel path (not walked): the string, marked unresolved.
	tr.handle(&bpf.Event{Kind: bpf.KindExec, Pid: 1, Filename: "sub/../build.sh", Argv: []string{"x"}, Cwd: "/ws"})
	want := []store.FileEvent{
		{Op: store.FileExec, Path: "/ws/a/build.sh"},
		{Proc: 1, Op: store.FileExec, Path: "/ws/s/../run.sh", PathState: store.PathUnresolved},
		{Proc: 2, Op: store.FileExec, Path: "/ws/sub/../build.sh", PathState: store.PathUnresolved},
	}
	if d := cmp.Diff(want, s.files); d != "" {
		t.Errorf("exec events (-want +got):\n%s", d)
	}
	p := tr.processes()[0]
	if d := cmp.Diff([]string{"PATH=/bin", "NPM_TOKEN=" + RedactedValue, "db_password=" + RedactedValue, "NOEQUALS"}, p.Env); d != "" {
		t.Errorf("env (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"sub/../build.sh"}, p.Argv); d != "" {
		t.Errorf("argv keeps the caller's string (-want +got):\n%s", d)
	}
}

// chdir records the cwd the kernel moved to; a relative chain of chdirs is
// never joined to the cwd after the move.
func TestTrackerChdir(t *testing.T) {
	s := &fakeSink{}
	tr := newTracker(s, 0)
	tr.handle(&bpf.Event{Kind: bpf.KindExec, Pid: 1, Exe: "/bin/sh", Cwd: "/w"})
	for _, c := range []struct{ str, resolved string }{{"a", "/w/a"}, {"b", "/w/a/b"}, {"..", "/w/a"}} {
		tr.handle(sys(t, 1, "chdir", 0, func(e *bpf.Event) { e.Str[0], e.Base[0], e.Resolved = c.str, "/w/a/b", c.resolved }))
	}
	tr.handle(sys(t, 1, "chdir", 0, func(e *bpf.Event) { e.Str[0], e.Resolved, e.Truncated = "deep", "/d9/deep", true }))
	var got []string
	for _, f := range s.files[1:] {
		got = append(got, f.Path)
	}
	if d := cmp.Diff([]string{"/w/a", "/w/a/b", "/w/a", ".../d9/deep"}, got); d != "" {
		t.Errorf("chdir paths (-want +got):\n%s", d)
	}
	if st := s.files[len(s.files)-1].PathState; st != store.PathTruncated {
		t.Errorf("truncated cwd state %d", st)
	}
}

// A compat syscall is a privilege event named by the i386 table.
func TestTrackerCompat(t *testing.T) {
	s := &fakeSink{}
	tr := newTracker(s, 0)
	tr.handle(&bpf.Event{Kind: bpf.KindExec, Pid: 1, Exe: "/ws/compat", Cwd: "/ws"})
	tr.handle(&bpf.Event{Kind: bpf.KindSyscall, Pid: 1, Nr: 5, Compat: true, CompatKilled: true, Args: [6]uint64{0x4c0000}, Str: [2]string{"/root/.npmrc"}})
	if len(s.priv) != 1 {
		t.Fatalf("priv events %+v", s.priv)
	}
	p := s.priv[0]
	want := "compat:syscall_5"
	if bpf.CompatSyscallName(5) == "open" {
		want = "compat:open"
	}
	if p.Syscall != want || p.Result != -1 || p.Args != `nr=5 args=0x4c0000,0x0,0x0 str0="/root/.npmrc" refused=SIGSYS` {
		t.Errorf("compat event %+v", p)
	}
}
