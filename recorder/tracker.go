package recorder

import (
	"path"
	"strings"

	"github.com/behavediff/behavediff/bpf"
	"github.com/behavediff/behavediff/store"
)

// sink receives the events the tracker derives; store.RunWriter implements
// it. Kept as an interface so the event mapping can be tested as pure logic.
type sink interface {
	AddFile(store.FileEvent) error
	AddNet(store.NetEvent) error
	AddPriv(store.PrivEvent) error
}

// Open flags used to synthesise creat(2).
const (
	oWronly     = 0x1
	oCreat      = 0x40
	oTrunc      = 0x200
	atFdcwd     = -100
	atRemovedir = 0x200
)

// tracker turns the sensor's raw events into the store's model: it keeps the
// process table (host pid → current process image), resolves paths, decodes
// addresses and DNS queries, and classifies syscalls. It runs on one
// goroutine; nothing in it is shared.
type tracker struct {
	sink  sink
	base  uint64 // monotonic ns at run start; event times are relative to it
	procs []store.Process
	cur   map[uint32]int32 // host tgid → index of its current image
	execd []bool           // per image: has it exec'd its own program
	sent  map[sendKey]struct{}
	// answered holds the (name, address) pairs of DNS answers recorded.
	answered map[[2]string]struct{}
	name     func(int) string

	// malformed counts payloads to or from port 53 that did not parse as
	// DNS, by store.Malformed* kind: never silently dropped. nil until one.
	malformed map[string]int64
}

func (t *tracker) countMalformed(kind string) {
	if t.malformed == nil {
		t.malformed = map[string]int64{}
	}
	t.malformed[kind]++
}

type sendKey struct {
	proc   int32
	family uint16
	addr   string
	port   uint16
	failed bool
}

func newTracker(s sink, base uint64) *tracker {
	return &tracker{
		sink:     s,
		base:     base,
		cur:      map[uint32]int32{},
		sent:     map[sendKey]struct{}{},
		answered: map[[2]string]struct{}{},
		name:     bpf.SyscallName,
	}
}

func (t *tracker) rel(ts uint64) int64 {
	if ts < t.base {
		return 0
	}
	return int64(ts - t.base)
}

// proc returns the image index for a host pid, creating an orphan image when
// the sensor never showed how the process came to be (it then has no parent).
func (t *tracker) proc(pid uint32, ts uint64) int32 {
	if i, ok := t.cur[pid]; ok {
		return i
	}
	return t.newImage(pid, 0, -1, ts)
}

func (t *tracker) newImage(pid, ppid uint32, parent int32, ts uint64) int32 {
	idx := int32(len(t.procs))
	p := store.Process{Idx: idx, Pid: int32(pid), Ppid: int32(ppid), ParentIdx: parent, StartedAt: t.rel(ts)}
	if parent >= 0 {
		pp := t.procs[parent]
		p.Exe, p.Argv, p.Cwd, p.UID = pp.Exe, pp.Argv, pp.Cwd, pp.UID
		p.Ppid = pp.Pid
	}
	t.procs = append(t.procs, p)
	t.execd = append(t.execd, false)
	t.cur[pid] = idx
	return idx
}

func (t *tracker) handle(ev *bpf.Event) error {
	switch ev.Kind {
	case bpf.KindFork:
		parent := t.proc(ev.Pid, ev.TS)
		t.newImage(ev.Child, ev.Pid, parent, ev.TS)
		return nil
	case bpf.KindExec:
		return t.exec(ev)
	case bpf.KindExit:
		i := t.proc(ev.Pid, ev.TS)
		p := &t.procs[i]
		p.Exited, p.ExitedAt, p.ExitCode, p.ExitSignal = true, t.rel(ev.TS), ev.ExitCode, ev.Signal
		return nil
	case bpf.KindSyscall:
		return t.syscall(ev)
	}
	return nil
}

func (t *tracker) exec(ev *bpf.Event) error {
	idx, known := t.cur[ev.Pid]
	switch {
	case !known:
		// The container's first process (runc init becoming the command), or
		// a process whose fork we did not see.
		parent := int32(-1)
		if pi, ok := t.cur[ev.PPid]; ok {
			parent = pi
		}
		idx = t.newImage(ev.Pid, ev.PPid, parent, ev.TS)
	case t.execd[idx]:
		// A second exec replaces an image that ran its own program: keep the
		// old one in the tree and start a new image under the same parent.
		old := &t.procs[idx]
		old.Exited, old.ExitedAt = true, t.rel(ev.TS)
		idx = t.newImage(ev.Pid, uint32(old.Ppid), old.ParentIdx, ev.TS)
	}
	p := &t.procs[idx]
	cwd := ev.Cwd
	exe := resolvePath(ev.Filename, cwd)
	p.Exe, p.Argv, p.Cwd, p.UID = exe, ev.Argv, cwd, ev.UID
	if ev.PPid != 0 && p.ParentIdx < 0 {
		p.Ppid = int32(ev.PPid)
	}
	t.execd[idx] = true
	return t.sink.AddFile(store.FileEvent{Proc: idx, Op: store.FileExec, Path: exe, Result: 0, TS: t.rel(ev.TS)})
}

// resolvePath makes a path absolute the way the kernel saw it: an absolute
// path is cleaned; a relative one is joined to the kernel-walked base (the
// cwd or dirfd path). Without a base the relative text is kept as is rather
// than guessed.
func resolvePath(p, base string) string {
	switch {
	case p == "":
		return base
	case strings.HasPrefix(p, "/"):
		return path.Clean(p)
	case base == "":
		return p
	}
	return path.Clean(base + "/" + p)
}

// pathArg resolves string argument i of a syscall record.
func pathArg(ev *bpf.Event, i int) string { return resolvePath(ev.Str[i], ev.Base[i]) }

func (t *tracker) syscall(ev *bpf.Event) error {
	name := t.name(int(ev.Nr))
	idx := t.proc(ev.Pid, ev.TS)
	ts := t.rel(ev.TS)
	file := func(op store.FileOp, p, p2 string, flags, mode uint32) error {
		return t.sink.AddFile(store.FileEvent{Proc: idx, Op: op, Path: p, Path2: p2, Flags: flags, Mode: mode, Result: ev.Ret, TS: ts})
	}
	a := ev.Args
	switch name {
	case "open":
		return file(store.FileOpen, t.openPath(ev, 0), "", uint32(a[1]), uint32(a[2]))
	case "openat":
		return file(store.FileOpen, t.openPath(ev, 0), "", uint32(a[2]), uint32(a[3]))
	case "openat2":
		// open_how lives in user memory; the sensor delivers its flags and
		// mode in Args[4] and Args[5] when it could read them.
		return file(store.FileOpen, t.openPath(ev, 0), "", uint32(a[4]), uint32(a[5]))
	case "creat":
		return file(store.FileOpen, t.openPath(ev, 0), "", oCreat|oWronly|oTrunc, uint32(a[1]))
	case "unlink":
		return file(store.FileUnlink, pathArg(ev, 0), "", 0, 0)
	case "unlinkat":
		if a[2]&atRemovedir != 0 {
			return file(store.FileRmdir, pathArg(ev, 0), "", uint32(a[2]), 0)
		}
		return file(store.FileUnlink, pathArg(ev, 0), "", uint32(a[2]), 0)
	case "rmdir":
		return file(store.FileRmdir, pathArg(ev, 0), "", 0, 0)
	case "rename", "renameat", "renameat2":
		var flags uint32
		if name == "renameat2" {
			flags = uint32(a[4])
		}
		return file(store.FileRename, pathArg(ev, 0), pathArg(ev, 1), flags, 0)
	case "mkdir":
		return file(store.FileMkdir, pathArg(ev, 0), "", 0, uint32(a[1]))
	case "mkdirat":
		return file(store.FileMkdir, pathArg(ev, 0), "", 0, uint32(a[2]))
	case "link", "linkat":
		return file(store.FileLink, pathArg(ev, 0), pathArg(ev, 1), 0, 0)
	case "symlink", "symlinkat":
		// The target is link text, not a path the kernel resolves now.
		return file(store.FileSymlink, ev.Str[0], pathArg(ev, 1), 0, 0)
	case "chmod":
		return file(store.FileChmod, pathArg(ev, 0), "", 0, uint32(a[1]))
	case "fchmod":
		return file(store.FileChmod, pathArg(ev, 0), "", 0, uint32(a[1]))
	case "fchmodat", "fchmodat2":
		return file(store.FileChmod, pathArg(ev, 0), "", 0, uint32(a[2]))
	case "chown", "lchown", "fchown", "fchownat":
		return file(store.FileChown, pathArg(ev, 0), "", 0, 0)
	case "truncate", "ftruncate":
		return file(store.FileTruncate, pathArg(ev, 0), "", 0, 0)
	case "utime", "utimes", "utimensat", "futimesat":
		return file(store.FileUtimes, pathArg(ev, 0), "", 0, 0)
	case "mknod":
		return file(store.FileMknod, pathArg(ev, 0), "", 0, uint32(a[1]))
	case "mknodat":
		return file(store.FileMknod, pathArg(ev, 0), "", 0, uint32(a[2]))
	case "execve", "execveat":
		if ev.Ret == 0 {
			return nil // a successful exec was recorded from the exec event itself
		}
		return file(store.FileExec, pathArg(ev, 0), "", 0, 0)
	case "memfd_create":
		return file(store.FileMemfd, "memfd:"+ev.Str[0], "", uint32(a[1]), 0)
	case "chdir", "fchdir":
		p := pathArg(ev, 0)
		if ev.Ret == 0 && p != "" {
			t.procs[idx].Cwd = p
		}
		return file(store.FileChdir, p, "", 0, 0)
	case "socket":
		return t.sink.AddNet(store.NetEvent{Proc: idx, Op: store.NetSocket, Family: uint16(a[0]), SockType: uint16(a[1] & 0xf), Result: ev.Ret, TS: ts})
	case "connect", "bind", "listen", "accept", "accept4":
		op := store.NetAccept
		switch name {
		case "connect":
			op = store.NetConnect
		case "bind":
			op = store.NetBind
		case "listen":
			op = store.NetListen
		}
		sa := parseSockaddr(ev.Addr)
		fam := sa.Family
		if fam == 0 {
			fam = ev.SockFamily
		}
		return t.sink.AddNet(store.NetEvent{Proc: idx, Op: op, Family: fam, SockType: ev.SockType, Address: sa.Address, Port: sa.Port, Result: ev.Ret, TS: ts})
	case "sendto", "sendmsg", "sendmmsg", "write":
		// write(2) records come only for sockets whose peer is port 53: Go's
		// resolver sends its DNS queries that way.
		return t.send(ev, idx, ts)
	case "read", "recvfrom", "recvmsg":
		// Recorded only when received from port 53.
		return t.answer(ev, idx, ts)
	}
	// Everything else the sensor records is a privilege or namespace call;
	// decodePriv also drops the harmless ones (a plain fork's clone).
	if args, ok := decodePriv(name, a, ev.Str); ok {
		return t.sink.AddPriv(store.PrivEvent{Proc: idx, Syscall: name, Args: args, Result: ev.Ret, TS: ts})
	}
	return nil
}

// openPath prefers the path of the file the kernel actually opened (symlinks
// resolved) over the text the program passed, except for /proc/self paths,
// which stay distinguishable from /proc/<pid>.
func (t *tracker) openPath(ev *bpf.Event, i int) string {
	if ev.Resolved != "" && ev.Ret >= 0 && !strings.HasPrefix(ev.Str[i], "/proc/self") && !strings.HasPrefix(ev.Str[i], "/proc/thread-self") {
		return ev.Resolved
	}
	return pathArg(ev, i)
}

// send records a DNS query when the payload parses as one, and otherwise the
// first send per process to each destination: sends are the data path and a
// per-packet row would bury the behaviour in volume (the syscalls view still
// counts every call).
func (t *tracker) send(ev *bpf.Event, idx int32, ts int64) error {
	sa := parseSockaddr(ev.Addr)
	fam := sa.Family
	if fam == 0 {
		fam = ev.SockFamily
	}
	if len(ev.Payload) > 0 {
		if q, ok := parseDNSQuery(ev.Payload, ev.SockType == 1); ok {
			return t.sink.AddNet(store.NetEvent{Proc: idx, Op: store.NetDNS, Family: fam, SockType: ev.SockType, Address: sa.Address, Port: sa.Port, Domain: q.Name, QType: q.QType, Result: ev.Ret, TS: ts})
		}
		t.countMalformed(store.MalformedDNSQuery) // and recorded below as a send
	}
	if sa.Address == "" && sa.Port == 0 {
		return nil // a send on a connected socket: its connect() was recorded
	}
	k := sendKey{proc: idx, family: fam, addr: sa.Address, port: sa.Port, failed: ev.Ret < 0}
	if _, seen := t.sent[k]; seen {
		return nil
	}
	t.sent[k] = struct{}{}
	return t.sink.AddNet(store.NetEvent{Proc: idx, Op: store.NetSend, Family: fam, SockType: ev.SockType, Address: sa.Address, Port: sa.Port, Result: ev.Ret, TS: ts})
}

// answer records each address of a DNS answer once per run: what names
// egress in a baseline (the connect to an answered address is named after
// the lookup). Anything that does not parse as a response is dropped: the
// received bytes are the peer's, not the program's behaviour.
func (t *tracker) answer(ev *bpf.Event, idx int32, ts int64) error {
	a, ok := parseDNSAnswer(ev.Payload, ev.SockType == 1)
	if !ok {
		if len(ev.Payload) > 0 {
			t.countMalformed(store.MalformedDNSAnswer)
		}
		return nil
	}
	for _, ad := range a.Addrs {
		k := [2]string{a.Name, ad.Addr}
		if _, seen := t.answered[k]; seen {
			continue
		}
		t.answered[k] = struct{}{}
		fam := uint16(afInet) // the family of the answered address
		if ad.QType == 28 {
			fam = afInet6
		}
		err := t.sink.AddNet(store.NetEvent{Proc: idx, Op: store.NetDNSAnswer, Family: fam, SockType: ev.SockType,
			Address: ad.Addr, Port: 53, Domain: a.Name, QType: ad.QType, Result: ev.Ret, TS: ts})
		if err != nil {
			return err
		}
	}
	return nil
}

// processes returns the process table with ancestor chains filled in.
func (t *tracker) processes() []store.Process {
	out := make([]store.Process, len(t.procs))
	copy(out, t.procs)
	for i := range out {
		var chain []string
		for j, n := int32(i), 0; j >= 0 && n < 64; n++ {
			chain = append(chain, path.Base(out[j].Exe))
			j = out[j].ParentIdx
		}
		for l, r := 0, len(chain)-1; l < r; l, r = l+1, r-1 {
			chain[l], chain[r] = chain[r], chain[l]
		}
		out[i].Chain = strings.Join(chain, " > ")
	}
	return out
}

// counts converts the sensor's per-tgid syscall counts to per-image rows,
// attributing each tgid's counts to its last image. Call it before
// processes(), which then includes any image it had to create.
func (t *tracker) counts(cs []bpf.Count) []store.SyscallCount {
	out := make([]store.SyscallCount, 0, len(cs))
	for _, c := range cs {
		// The sensor counts nothing before the container's first exec, so
		// every tgid here ran in the sandbox; one whose fork and exec records
		// were lost still gets an (orphan) image rather than vanishing.
		idx := t.proc(c.Pid, t.base)
		out = append(out, store.SyscallCount{Proc: idx, Name: t.name(c.Nr), Count: c.Count, Errors: c.Errors})
	}
	return out
}
