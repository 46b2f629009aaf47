package recorder

import (
	"strings"

	"github.com/behavediff/behavediff/bpf"
	"github.com/behavediff/behavediff/internal/linux"
	"github.com/behavediff/behavediff/store"
)

// sink receives the events the tracker derives; store.RunWriter implements
// it. Kept as an interface so the event mapping can be tested as pure logic.
type sink interface {
	AddFile(store.FileEvent) error
	AddNet(store.NetEvent) error
	AddPriv(store.PrivEvent) error
}

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
	// forked, per image: has it forked a child. An image that forked before
	// its first exec stays in the tree as the child's parent (the exec then
	// starts a new image), so a child is never blamed on the program its
	// parent became later.
	forked []bool
	sent   map[sendKey]struct{}
	// answered holds the (name, address) pairs of DNS answers recorded.
	answered map[[2]string]struct{}
	hk       hookState // cgroup sock_addr hook records (hooks.go)

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
		p.Exe, p.Argv, p.Env, p.Cwd, p.UID = pp.Exe, pp.Argv, pp.Env, pp.Cwd, pp.UID
		p.ArgvTruncated, p.EnvTruncated = pp.ArgvTruncated, pp.EnvTruncated
		p.Ppid = pp.Pid
	}
	t.procs = append(t.procs, p)
	t.execd = append(t.execd, false)
	t.forked = append(t.forked, false)
	t.cur[pid] = idx
	return idx
}

func (t *tracker) handle(ev *bpf.Event) error {
	switch ev.Kind {
	case bpf.KindFork:
		parent := t.proc(ev.Pid, ev.TS)
		t.forked[parent] = true
		t.newImage(ev.Child, ev.Pid, parent, ev.TS)
		return nil
	case bpf.KindExec:
		// hook records of the old image belong to it, not to the new one
		if err := t.flushHooks(ev.Pid, ev.TS); err != nil {
			return err
		}
		return t.exec(ev)
	case bpf.KindSockAddr, bpf.KindSAPayload:
		return t.hookRecord(ev)
	case bpf.KindExit:
		if err := t.flushHooks(ev.Pid, ev.TS); err != nil {
			return err
		}
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
	case t.execd[idx] || t.forked[idx]:
		// A second exec replaces an image that ran its own program, and an
		// exec after a fork replaces the parent of that child: keep the old
		// image in the tree (it never exited: no exit code) and start a new
		// one under the same parent.
		old := &t.procs[idx]
		old.Exited, old.ExitedAt, old.Replaced = true, t.rel(ev.TS), true
		idx = t.newImage(ev.Pid, uint32(old.Ppid), old.ParentIdx, ev.TS)
	}
	p := &t.procs[idx]
	cwd := ev.Cwd
	// The file the kernel opened; the string passed to execve only when the
	// sensor could not walk it or the file is a script, whose own file the
	// kernel has let go for its interpreter's by then (the string may name
	// another file through a symlink and '..': resolvePath marks that).
	exe, state := ev.Exe, store.PathKernel
	if exe == "" || ev.Interpreted {
		exe, state = resolvePath(ev.Filename, cwd)
	}
	p.Exe, p.Argv, p.Cwd, p.UID = exe, ev.Argv, cwd, ev.UID
	p.Env, p.ArgvTruncated, p.EnvTruncated = redactEnv(ev.Env), ev.ArgvTruncated, ev.EnvTruncated
	if ev.PPid != 0 && p.ParentIdx < 0 {
		p.Ppid = int32(ev.PPid)
	}
	t.execd[idx] = true
	return t.sink.AddFile(store.FileEvent{Proc: idx, Op: store.FileExec, Path: exe, PathState: state, Result: 0, TS: t.rel(ev.TS)})
}

// redactEnv returns env with the values of secret-looking names (see
// IsSecretName) replaced by RedactedValue: the environment of every process
// is stored, and a token in it must not be.
func redactEnv(env []string) []string {
	if env == nil {
		return nil
	}
	out := make([]string, len(env))
	for i, kv := range env {
		if k, _, ok := strings.Cut(kv, "="); ok && IsSecretName(k) {
			kv = k + "=" + RedactedValue
		}
		out[i] = kv
	}
	return out
}

// resolvePath makes a caller's path string absolute: a relative one is
// joined to the kernel-walked base (the cwd or dirfd path). It never cleans
// '..' away: the component before it may be a symlink, so "/tmp/l/../x" is
// not "/tmp/x" (with /tmp/l -> /root/.cache it is /root/x). Such a path, and
// a relative one without a base, is returned as written with
// PathUnresolved. Only "." components and repeated slashes are dropped,
// which never changes the file named.
func resolvePath(p, base string) (string, store.PathState) {
	switch {
	case p == "":
		return base, store.PathKernel
	case strings.HasPrefix(p, "/"):
	case base == "":
		return p, store.PathUnresolved
	default:
		p = base + "/" + p
	}
	return lexicalTidy(p)
}

// lexicalTidy drops "." components, repeated and trailing slashes; it
// reports PathUnresolved when a ".." remains.
func lexicalTidy(p string) (string, store.PathState) {
	if tidy, dotdot := isTidy(p); tidy {
		// Most paths already are: returned as they are, not split and
		// joined again (allocations on every path of every record).
		if dotdot {
			return p, store.PathUnresolved
		}
		return p, store.PathKernel
	}
	return splitJoinTidy(p)
}

// splitJoinTidy is lexicalTidy the long way, for the paths that are not
// tidy already: split on "/", drop empty and "." components, join again.
// FuzzLexicalTidy holds the fast path to it.
func splitJoinTidy(p string) (string, store.PathState) {
	parts := strings.Split(p, "/")
	out := parts[:0]
	state := store.PathKernel
	for _, c := range parts {
		switch c {
		case "", ".":
			continue
		case "..":
			state = store.PathUnresolved
		}
		out = append(out, c)
	}
	return "/" + strings.Join(out, "/"), state
}

// isTidy reports whether lexicalTidy would return p unchanged: absolute,
// and no empty (repeated or trailing slash) or "." component; dotdot says
// whether a ".." component is among them.
func isTidy(p string) (tidy, dotdot bool) {
	if p == "" || p[0] != '/' {
		return false, false
	}
	if p == "/" {
		return true, false
	}
	start := 1
	for i := 1; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' {
			continue
		}
		switch p[start:i] {
		case "", ".":
			return false, false
		case "..":
			dotdot = true
		}
		start = i + 1
	}
	return true, dotdot
}

// truncatedPath marks a kernel path cut at the top: "..." then its tail, so
// it can never pass for a plausible absolute path.
func truncatedPath(p string) string {
	return "..." + p
}

// pathArg resolves string argument i of a syscall record. A record whose
// fields did not all fit marks every path it has truncated: the sensor cuts
// kernel walks at the top, so a cut path would pass for another one.
func pathArg(ev *bpf.Event, i int) (string, store.PathState) {
	p, st := resolvePath(ev.Str[i], ev.Base[i])
	if ev.Truncated && p != "" {
		return truncatedPath(p), store.PathTruncated
	}
	return p, st
}

// argState is what the sensor says of how the path arguments were read
// (pathargs.h): raced outranks every other state, late is as untrusted as
// unresolved. A raced call is flagged even when the stored path is the fd's.
func argState(ev *bpf.Event) store.PathState {
	switch {
	case ev.Raced:
		return store.PathRaced
	case ev.Late:
		return store.PathLate
	}
	return store.PathKernel
}

func (t *tracker) syscall(ev *bpf.Event) error {
	if ev.Compat {
		// a compat call is no native syscall: hook records held for this
		// thread (an int $0x80 connect's) are stored unpaired
		if _, err := t.pairHooks(ev, bpf.SysNone); err != nil {
			return err
		}
		return t.sink.AddPriv(compatEvent(ev, t.proc(ev.Pid, ev.TS), t.rel(ev.TS)))
	}
	// Dispatch on the sensor's id of the number, never on its name: the
	// name is looked up only for the privilege calls that store it.
	id := bpf.SyscallIDOf(int(ev.Nr))
	if done, err := t.pairHooks(ev, id); done || err != nil {
		return err
	}
	idx := t.proc(ev.Pid, ev.TS)
	ts := t.rel(ev.TS)
	// state is the least trustworthy PathState of the paths taken below.
	state := store.PathKernel
	// evState is the sensor's word on the strings; a late read does not
	// matter where the path stored is the kernel's (an open's fd, chdir's cwd).
	evState := argState(ev)
	kernelPath := func(p string) string {
		if p != "" && p == ev.Resolved && evState == store.PathLate {
			evState = store.PathKernel
		}
		return p
	}
	arg := func(i int) string {
		p, st := pathArg(ev, i)
		state = max(state, st)
		return p
	}
	file := func(op store.FileOp, p, p2 string, flags, mode uint32) error {
		return t.sink.AddFile(store.FileEvent{Proc: idx, Op: op, Path: p, Path2: p2, PathState: max(state, evState), Flags: flags, Mode: mode, Result: ev.Ret, TS: ts})
	}
	a := ev.Args
	switch id {
	case bpf.SysOpen:
		return file(store.FileOpen, kernelPath(t.openPath(ev, 0, arg)), "", uint32(a[1]), uint32(a[2]))
	case bpf.SysOpenat:
		return file(store.FileOpen, kernelPath(t.openPath(ev, 0, arg)), "", uint32(a[2]), uint32(a[3]))
	case bpf.SysOpenat2:
		// open_how lives in user memory; the sensor delivers its flags and
		// mode in Args[4] and Args[5] when it could read them.
		return file(store.FileOpen, kernelPath(t.openPath(ev, 0, arg)), "", uint32(a[4]), uint32(a[5]))
	case bpf.SysCreat:
		return file(store.FileOpen, kernelPath(t.openPath(ev, 0, arg)), "", linux.O_CREAT|linux.O_WRONLY|linux.O_TRUNC, uint32(a[1]))
	case bpf.SysUnlink:
		return file(store.FileUnlink, arg(0), "", 0, 0)
	case bpf.SysUnlinkat:
		if a[2]&linux.AT_REMOVEDIR != 0 {
			return file(store.FileRmdir, arg(0), "", uint32(a[2]), 0)
		}
		return file(store.FileUnlink, arg(0), "", uint32(a[2]), 0)
	case bpf.SysRmdir:
		return file(store.FileRmdir, arg(0), "", 0, 0)
	case bpf.SysRename, bpf.SysRenameat, bpf.SysRenameat2:
		var flags uint32
		if id == bpf.SysRenameat2 {
			flags = uint32(a[4])
		}
		return file(store.FileRename, arg(0), arg(1), flags, 0)
	case bpf.SysMkdir:
		return file(store.FileMkdir, arg(0), "", 0, uint32(a[1]))
	case bpf.SysMkdirat:
		return file(store.FileMkdir, arg(0), "", 0, uint32(a[2]))
	case bpf.SysLink, bpf.SysLinkat:
		return file(store.FileLink, arg(0), arg(1), 0, 0)
	case bpf.SysSymlink, bpf.SysSymlinkat:
		// The target is link text, not a path the kernel resolves now.
		return file(store.FileSymlink, ev.Str[0], arg(1), 0, 0)
	case bpf.SysChmod:
		return file(store.FileChmod, arg(0), "", 0, uint32(a[1]))
	case bpf.SysFchmod:
		return file(store.FileChmod, arg(0), "", 0, uint32(a[1]))
	case bpf.SysFchmodat, bpf.SysFchmodat2:
		return file(store.FileChmod, arg(0), "", 0, uint32(a[2]))
	case bpf.SysChown, bpf.SysLchown, bpf.SysFchown, bpf.SysFchownat:
		return file(store.FileChown, arg(0), "", 0, 0)
	case bpf.SysTruncate, bpf.SysFtruncate:
		return file(store.FileTruncate, arg(0), "", 0, 0)
	case bpf.SysUtime, bpf.SysUtimes, bpf.SysUtimensat, bpf.SysFutimesat:
		return file(store.FileUtimes, arg(0), "", 0, 0)
	case bpf.SysMknod:
		return file(store.FileMknod, arg(0), "", 0, uint32(a[1]))
	case bpf.SysMknodat:
		return file(store.FileMknod, arg(0), "", 0, uint32(a[2]))
	case bpf.SysExecve, bpf.SysExecveat:
		if ev.Ret == 0 {
			return nil // a successful exec was recorded from the exec event itself
		}
		return file(store.FileExec, arg(0), "", 0, 0)
	case bpf.SysMemfdCreate:
		return file(store.FileMemfd, "memfd:"+ev.Str[0], "", uint32(a[1]), 0)
	case bpf.SysChdir, bpf.SysFchdir:
		// the cwd the kernel moved to, walked after the call; the caller's
		// string only for a failed call
		p := ev.Resolved
		if p == "" || ev.Ret != 0 {
			p = arg(0)
		} else if ev.Truncated {
			p, state = truncatedPath(p), store.PathTruncated
		}
		if ev.Ret == 0 && p != "" {
			t.procs[idx].Cwd = kernelPath(p)
		}
		return file(store.FileChdir, p, "", 0, 0)
	case bpf.SysSocket:
		return t.sink.AddNet(store.NetEvent{Proc: idx, Op: store.NetSocket, Family: uint16(a[0]), SockType: uint16(a[1] & 0xf), Result: ev.Ret, TS: ts})
	case bpf.SysConnect, bpf.SysBind, bpf.SysListen, bpf.SysAccept, bpf.SysAccept4:
		op := store.NetAccept
		switch id {
		case bpf.SysConnect:
			op = store.NetConnect
		case bpf.SysBind:
			op = store.NetBind
		case bpf.SysListen:
			op = store.NetListen
		}
		sa := parseSockaddr(ev.Addr)
		fam := sa.Family
		if fam == 0 {
			fam = ev.SockFamily
		}
		return t.sink.AddNet(store.NetEvent{Proc: idx, Op: op, Family: fam, SockType: ev.SockType, Address: sa.Address, Port: sa.Port, Result: ev.Ret, TS: ts})
	case bpf.SysSendto, bpf.SysSendmsg, bpf.SysSendmmsg, bpf.SysWrite:
		// write(2) records come only for sockets whose peer is port 53: Go's
		// resolver sends its DNS queries that way.
		return t.send(ev, idx, ts)
	case bpf.SysRead, bpf.SysRecvfrom, bpf.SysRecvmsg:
		// Recorded only when received from port 53.
		return t.answer(ev, idx, ts)
	}
	// Everything else the sensor records is a privilege or namespace call;
	// decodePriv also drops the harmless ones (a plain fork's clone).
	if args, ok := decodePriv(id, a, ev.Str); ok {
		return t.sink.AddPriv(store.PrivEvent{Proc: idx, Syscall: bpf.SyscallName(int(ev.Nr)), Args: args, Result: ev.Ret, TS: ts})
	}
	return nil
}

// openPath prefers the path of the file the kernel actually opened (symlinks
// resolved) over the text the program passed. The text is kept only for a
// /proc/self path that really opened a /proc file, which stays
// distinguishable from /proc/<pid>; /proc/self/root/... or /proc/self/fd/N
// naming an ordinary file records that file.
func (t *tracker) openPath(ev *bpf.Event, i int, arg func(int) string) string {
	if ev.Resolved != "" && ev.Ret >= 0 && !ev.Truncated &&
		!(procSelf(ev.Str[i]) && strings.HasPrefix(ev.Resolved, "/proc/")) {
		return ev.Resolved
	}
	return arg(i)
}

// procSelf reports whether p names the caller's own /proc directory (kept as
// written: /proc/self/fd/N is the caller's own file, /proc/<pid>/... another
// process's). Only the exact component counts: "/proc/selfish" is not it.
func procSelf(p string) bool {
	for _, pre := range []string{"/proc/self", "/proc/thread-self"} {
		if rest, ok := strings.CutPrefix(p, pre); ok && (rest == "" || rest[0] == '/') {
			return true
		}
	}
	return false
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
		if q, ok := parseDNSQuery(ev.Payload, ev.SockType == linux.SOCK_STREAM); ok {
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
	a, ok := parseDNSAnswer(ev.Payload, ev.SockType == linux.SOCK_STREAM)
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
		fam := uint16(linux.AF_INET) // the family of the answered address
		if ad.QType == 28 {
			fam = linux.AF_INET6
		}
		err := t.sink.AddNet(store.NetEvent{Proc: idx, Op: store.NetDNSAnswer, Family: fam, SockType: ev.SockType,
			Address: ad.Addr, Port: 53, Domain: a.Name, QType: ad.QType, Result: ev.Ret, TS: ts})
		if err != nil {
			return err
		}
	}
	return nil
}

// processes returns the process table with ancestor chains (full exe
// paths) filled in.
func (t *tracker) processes() []store.Process {
	out := make([]store.Process, len(t.procs))
	copy(out, t.procs)
	for i := range out {
		var chain []string
		for j, n := int32(i), 0; j >= 0 && n < 64; n++ {
			chain = append(chain, out[j].Exe)
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
		out = append(out, store.SyscallCount{Proc: idx, Name: bpf.SyscallName(c.Nr), Count: c.Count, Errors: c.Errors})
	}
	return out
}
