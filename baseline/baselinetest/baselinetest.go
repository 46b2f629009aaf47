package baselinetest

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/behavediff/behavediff/internal/linux"
	"github.com/behavediff/behavediff/store"
)

// Open flags, for tests that build file events by hand.
const (
	ORdonly = linux.O_RDONLY
	OWronly = linux.O_WRONLY
	ORdwr   = linux.O_RDWR
	OCreat  = linux.O_CREAT
	OExcl   = linux.O_EXCL
	OTrunc  = linux.O_TRUNC
)

// Errnos as negative results.
const (
	ENOENT       = -2
	EACCES       = -13
	EEXIST       = -17
	EROFS        = -30
	ENETUNREACH  = -101
	ECONNREFUSED = -111
	EPERM        = -1
)

// Builder appends events to a trace. Times advance by a seed-dependent
// jitter so two builders with different seeds never agree on timestamps.
type Builder struct {
	T   *store.Trace
	R   *rand.Rand
	now int64
	pid int32
}

// New starts a trace for command run in workspace.
func New(seed uint64, workspace string, command ...string) *Builder {
	r := rand.New(rand.NewPCG(seed, seed*7919+1))
	b := &Builder{R: r, pid: int32(1000 + r.IntN(30000))}
	b.T = &store.Trace{Run: store.Run{
		ID: int64(seed) + 1, Name: "build", Command: command, Workspace: workspace,
		ExitCode: 0, Status: store.StatusOK, ToolVersion: fmt.Sprintf("v0.%d", seed),
	}}
	return b
}

func (b *Builder) ts() int64 {
	b.now += int64(1000 + b.R.IntN(100000))
	return b.now
}

// Exec starts a new process image (fork+exec) under parent (-1 for the
// first process) and records its exec event. It returns the image's Idx.
func (b *Builder) Exec(parent int32, exe string, argv ...string) int32 {
	idx := b.Fork(parent)
	p := &b.T.Processes[idx]
	p.Exe, p.Argv = exe, argv
	b.T.Files = append(b.T.Files, store.FileEvent{Proc: idx, Op: store.FileExec, Path: exe, TS: b.ts()})
	b.fixChains()
	return idx
}

// Env adds to the environment ("NAME=VALUE") an image was started with.
func (b *Builder) Env(proc int32, env ...string) {
	b.T.Processes[proc].Env = append(b.T.Processes[proc].Env, env...)
}

// Fork starts a child image that does not exec (it inherits exe and argv).
func (b *Builder) Fork(parent int32) int32 {
	idx := int32(len(b.T.Processes))
	b.pid += int32(1 + b.R.IntN(40))
	p := store.Process{Idx: idx, Pid: b.pid, ParentIdx: parent, StartedAt: b.ts(), Cwd: b.T.Run.Workspace}
	if parent >= 0 {
		pp := b.T.Processes[parent]
		p.Exe, p.Argv, p.Ppid = pp.Exe, pp.Argv, pp.Pid
	}
	b.T.Processes = append(b.T.Processes, p)
	b.fixChains()
	return idx
}

func (b *Builder) fixChains() {
	for i := range b.T.Processes {
		chain := ""
		for j, n := int32(i), 0; j >= 0 && n < 64; n++ {
			base := b.T.Processes[j].Exe
			if chain == "" {
				chain = base
			} else {
				chain = base + " > " + chain
			}
			j = b.T.Processes[j].ParentIdx
		}
		b.T.Processes[i].Chain = chain
	}
}

// File appends a file event.
func (b *Builder) File(proc int32, op store.FileOp, path string, flags uint32, result int64) {
	b.T.Files = append(b.T.Files, store.FileEvent{Proc: proc, Op: op, Path: path, Flags: flags, Result: result, TS: b.ts()})
}

// File2 appends a two-path file event (rename, link, symlink).
func (b *Builder) File2(proc int32, op store.FileOp, path, path2 string, result int64) {
	b.T.Files = append(b.T.Files, store.FileEvent{Proc: proc, Op: op, Path: path, Path2: path2, Result: result, TS: b.ts()})
}

// Open appends an open; Read and Write are shorthands.
func (b *Builder) Open(proc int32, path string, flags uint32, result int64) {
	b.File(proc, store.FileOpen, path, flags, result)
}
func (b *Builder) Read(proc int32, path string)  { b.Open(proc, path, ORdonly, 3) }
func (b *Builder) Write(proc int32, path string) { b.Open(proc, path, OWronly|OCreat|OTrunc, 3) }

// Chmod appends a chmod.
func (b *Builder) Chmod(proc int32, path string, mode uint32) {
	b.T.Files = append(b.T.Files, store.FileEvent{Proc: proc, Op: store.FileChmod, Path: path, Mode: mode, TS: b.ts()})
}

// Net appends a network event.
func (b *Builder) Net(proc int32, op store.NetOp, family uint16, sockType uint16, addr string, port uint16, result int64) {
	b.T.Net = append(b.T.Net, store.NetEvent{Proc: proc, Op: op, Family: family, SockType: sockType, Address: addr, Port: port, Result: result, TS: b.ts()})
}

// DNS appends a DNS query sent to the sandbox resolver.
func (b *Builder) DNS(proc int32, name string, qtype uint16) {
	b.T.Net = append(b.T.Net, store.NetEvent{Proc: proc, Op: store.NetDNS, Family: 2, SockType: 2, Address: "127.0.0.53", Port: 53, Domain: name, QType: qtype, Result: 40, TS: b.ts()})
}

// Answer appends a DNS answer that gave addr for name.
func (b *Builder) Answer(proc int32, name, addr string) {
	fam, qtype := uint16(2), uint16(1)
	if strings.Contains(addr, ":") {
		fam, qtype = 10, 28
	}
	b.T.Net = append(b.T.Net, store.NetEvent{Proc: proc, Op: store.NetDNSAnswer, Family: fam, SockType: 2, Address: addr, Port: 53, Domain: name, QType: qtype, Result: 60, TS: b.ts()})
}

// Connect appends a TCP connect.
func (b *Builder) Connect(proc int32, addr string, port uint16, result int64) {
	fam := uint16(2)
	if strings.Contains(addr, ":") {
		fam = 10
	}
	b.Net(proc, store.NetConnect, fam, 1, addr, port, result)
}

// Priv appends a privilege event.
func (b *Builder) Priv(proc int32, syscall, args string, result int64) {
	b.T.Priv = append(b.T.Priv, store.PrivEvent{Proc: proc, Syscall: syscall, Args: args, Result: result, TS: b.ts()})
}

// Syscall adds to a syscall count.
func (b *Builder) Syscall(proc int32, name string, count uint64) {
	b.T.Syscalls = append(b.T.Syscalls, store.SyscallCount{Proc: proc, Name: name, Count: count})
}

// Change appends a workspace change.
func (b *Builder) Change(path, change string, dir bool) {
	c := store.FSChange{Path: path, Change: change, Size: -1, IsDir: dir}
	if change != "deleted" && !dir {
		c.Size = int64(b.R.IntN(5000))
		c.SHA256 = fmt.Sprintf("%064x", b.R.Uint64())
	}
	b.T.Changes = append(b.T.Changes, c)
}

// RandName returns n random characters from alphabet.
func (b *Builder) RandName(n int, alphabet string) string {
	out := make([]byte, n)
	for i := range out {
		out[i] = alphabet[b.R.IntN(len(alphabet))]
	}
	return string(out)
}

// UUID returns a random UUID text.
func (b *Builder) UUID() string {
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", b.R.Uint32(), b.R.IntN(1<<16), b.R.IntN(1<<16), b.R.IntN(1<<16), b.R.Uint64()&(1<<48-1))
}

// Benign is the approved behaviour of a small build script: a shell that
// runs a Python generator (which forks and execs workers, uses temp files,
// resolves pypi.org and tries to connect, serves on an ephemeral loopback
// port) and mktemp. Every nondeterministic detail depends on seed.
// It returns the builder so tests can add variations; the processes are
// Idx 0 (sh), 1 (python3), 2 (mktemp).
func Benign(seed uint64) *Builder {
	pyAlpha := "abcdefghijklmnopqrstuvwxyz0123456789_"
	mkAlpha := "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	ws := fmt.Sprintf("/builds/runner-%s/proj", []string{"a", "b", "c"}[seed%3])
	b := New(seed, ws, "sh", "build.sh")
	sh := b.Exec(-1, "/bin/sh", "sh", "build.sh")
	for _, p := range []string{"/etc/ld.so.cache", "/lib/x86_64-linux-gnu/libc.so.6", "/etc/os-release", ws + "/build.sh"} {
		b.Read(sh, p)
	}
	// PATH search for python3 before the successful exec.
	b.File(sh, store.FileExec, "/usr/local/bin/python3", 0, ENOENT)
	b.Env(sh, "PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/root", fmt.Sprintf("RUN_ID=%d", seed), "API_TOKEN=<redacted>")
	py := b.Exec(sh, "/usr/bin/python3", "python3", "gen.py", "--out", ws+"/out")
	b.Env(py, "PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/root", fmt.Sprintf("RUN_ID=%d", seed), "PYTHONUNBUFFERED=1")
	b.Read(py, "/usr/lib/python3.12/os.py")
	b.Read(py, "/usr/lib/python3.12/__pycache__/os.cpython-312.pyc")
	b.Read(py, ws+"/gen.py")
	b.Open(py, "/usr/lib/python3.12/site-packages/yaml/__init__.py", ORdonly, ENOENT)
	b.Read(py, fmt.Sprintf("/proc/%d/status", b.T.Processes[py].Pid))
	b.Read(py, "/proc/self/maps")
	// tempfile.NamedTemporaryFile and tempfile.mkdtemp.
	tmpf := "/tmp/tmp" + b.RandName(8, pyAlpha)
	b.Open(py, tmpf, ORdwr|OCreat|OExcl, 4)
	b.File(py, store.FileUnlink, tmpf, 0, 0)
	dir := "/tmp/" + b.UUID()
	b.File(py, store.FileMkdir, dir, 0, 0)
	b.Open(py, dir+"/cache.json", OWronly|OCreat|OTrunc, 5)
	b.File(py, store.FileRmdir, dir, 0, 0)
	// Name resolution and an egress attempt to one of pypi.org's addresses.
	b.Net(py, store.NetConnect, 2, 2, "127.0.0.53", 53, 0)
	b.DNS(py, "pypi.org", 1)
	b.DNS(py, "pypi.org", 28)
	ip := fmt.Sprintf("151.101.%d.%d", b.R.IntN(255), 1+b.R.IntN(254))
	b.Answer(py, "pypi.org", ip)
	b.Connect(py, ip, 443, ENETUNREACH)
	// A loopback server on an ephemeral port, and a client to it.
	port := uint16(32768 + b.R.IntN(60999-32768))
	b.Net(py, store.NetBind, 2, 1, "127.0.0.1", 0, 0)
	b.Net(py, store.NetListen, 2, 1, "127.0.0.1", port, 0)
	b.Connect(py, "127.0.0.1", port, 0)
	// Workers: some forks, some execs, in varying numbers.
	for i, n := 0, 1+b.R.IntN(4); i < n; i++ {
		w := b.Fork(py)
		b.Read(w, ws+"/data/input.txt")
	}
	for i, n := 0, 1+b.R.IntN(4); i < n; i++ {
		w := b.Exec(py, "/usr/bin/python3", "python3", "worker.py", "--parent", fmt.Sprint(b.T.Processes[py].Pid))
		b.Read(w, ws+"/worker.py")
		b.Write(w, fmt.Sprintf("%s/out/part-%s.json", ws, b.UUID()))
		b.Syscall(w, "read", uint64(100+b.R.IntN(800)))
	}
	b.Write(py, ws+"/out/build-info.txt")
	mk := b.Exec(sh, "/usr/bin/mktemp", "mktemp")
	b.Open(mk, "/tmp/tmp."+b.RandName(10, mkAlpha), ORdwr|OCreat|OExcl, 3)
	b.File(sh, store.FileUnlink, ws+"/stale.log", 0, 0)
	b.File(sh, store.FileMkdir, ws+"/out", 0, EEXIST)
	b.Read(sh, "/dev/pts/"+fmt.Sprint(b.R.IntN(8)))
	for _, s := range []string{"read", "write", "openat", "close", "mmap", "execve", "clone", "wait4"} {
		b.Syscall(sh, s, uint64(10+b.R.IntN(500)))
		b.Syscall(py, s, uint64(10+b.R.IntN(500)))
	}
	b.Syscall(py, "socket", 3)
	b.Syscall(py, "connect", 3)
	b.Change(ws+"/out", "created", true)
	b.Change(ws+"/out/build-info.txt", "created", false)
	b.Change(ws+"/stale.log", "deleted", false)
	return b
}
