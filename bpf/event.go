package bpf

import (
	"bytes"
	"fmt"
	"unsafe"
)

// Kind says which fields of an Event are meaningful.
type Kind uint8

const (
	KindExec    Kind = Kind(sensorKindKIND_EXEC)    // a process image started (after execve succeeded)
	KindFork    Kind = Kind(sensorKindKIND_FORK)    // a new process (not thread) was created
	KindExit    Kind = Kind(sensorKindKIND_EXIT)    // a whole thread group exited
	KindSyscall Kind = Kind(sensorKindKIND_SYSCALL) // one recorded syscall, at its return
)

func (k Kind) String() string {
	switch k {
	case KindExec:
		return "exec"
	case KindFork:
		return "fork"
	case KindExit:
		return "exit"
	case KindSyscall:
		return "syscall"
	}
	return fmt.Sprintf("kind_%d", uint8(k))
}

// Event is one decoded record. Pids are host pids (the sensor runs in the
// host pid namespace); paths are as seen from the process's root
// (task->fs->root), i.e. container paths.
type Event struct {
	Kind Kind
	TS   uint64 // bpf_ktime_get_ns (CLOCK_MONOTONIC)
	Pid  uint32 // host tgid
	Tid  uint32 // host tid

	// KindFork
	Child uint32 // tgid of the new process

	// KindExec
	Filename      string   // as passed to execve (bprm->filename), may be relative
	Exe           string   // kernel path of the file the kernel opened and runs (bprm->file)
	Interpreted   bool     // a script (#!) or binfmt_misc file: Exe is its interpreter
	Argv          []string // from the new image's memory
	ArgvTruncated bool     // argv exceeded the 32 KiB cap; the last element may be cut
	Env           []string // NAME=VALUE, from the new image's memory (unredacted!)
	EnvTruncated  bool     // the environment exceeded the 16 KiB cap
	Cwd           string   // kernel-walked working directory
	UID           uint32   // real uid after the exec (host kuid)
	PPid          uint32   // real parent tgid

	// KindExit: decoded from task->exit_code.
	ExitCode, Signal int32

	// KindSyscall
	Nr   int32
	Ret  int64     // return value; -errno on failure
	Args [6]uint64 // raw arguments. Conventions: clone3: Args[0] = clone_args.flags;
	// openat2: Args[4], Args[5] = open_how.flags, open_how.mode. A successful
	// execve's registers are gone: see the KindExec event instead.
	Str  [2]string // user strings: paths, memfd/key/fs names, module params
	Base [2]string // kernel path of the cwd/dirfd for a relative (or empty) Str[i]; for
	// fd-based calls (fchmod, fchown, ftruncate, fchdir, setns, fsmount,
	// finit_module, kexec_file_load) Base[0] is the fd's path. "" otherwise.
	Resolved string // open*/creat success: kernel path of the returned fd (symlinks resolved)
	Addr     []byte // raw sockaddr: from the process's memory (connect, bind, sendto/sendmsg
	// destination, accept peer) or synthesised from the socket (listen: local
	// address; send without address, accept without buffer: peer)
	SockFamily, SockType uint16 // socket(): from args; others: from the socket behind the fd
	Payload              []byte // first bytes (<= 512) sent to or received from port 53, for DNS parsing

	// Truncated is set when a string or path did not fit and was cut or dropped.
	Truncated bool

	// Raced: a path argument changed while the kernel was using it (another
	// thread or process rewrote the caller's memory; honest code never
	// does). Str holds the kernel's own copy where it was caught, else the
	// copy made at syscall entry. Late: no copy the sensor can vouch for
	// (the string's page was not resident at entry and the kernel's copy
	// was not caught, so Str was read at return; or a path over 4000 bytes
	// with only the entry copy): it need not be what the kernel used. See
	// pathargs.h.
	Raced, Late bool

	// Compat marks a syscall made through a non-native ABI (i386 int $0x80,
	// x32, aarch32): Nr is that ABI's number (x32: with bit 30 set), Args its
	// argument registers, Str[0] the string Args[0] points at if any.
	// CompatKilled: the sandbox refused it and the thread died of SIGSYS.
	Compat, CompatKilled bool

	// KindSockAddr, KindSAPayload: the cgroup sock_addr object's record (sockaddr.go).
	Sock *SockAddr
}

// decode decodes one record into a new Event, making every string afresh.
func decode(raw []byte) (Event, error) {
	var ev Event
	err := decodeInto(raw, &ev, nil)
	return ev, err
}

// decodeInto decodes one record into *ev, overwriting every field (a
// reused Event keeps nothing of the record it held before). Strings come
// from c (nil: each made afresh); the event never aliases raw, whose ring
// buffer slot is reused once the record is consumed.
func decodeInto(raw []byte, ev *Event, c *strCache) error {
	if len(raw) < int(unsafe.Sizeof(sensorHdr{})) {
		*ev = Event{}
		return fmt.Errorf("bpf: short record (%d bytes)", len(raw))
	}
	h := *(*sensorHdr)(unsafe.Pointer(&raw[0]))
	*ev = Event{
		Kind:      Kind(h.Kind),
		TS:        h.Ts,
		Pid:       h.Pid,
		Tid:       h.Tid,
		Truncated: h.Flags&uint8(sensorHdrFlagsFLAG_TRUNC) != 0,
	}
	switch ev.Kind {
	case KindFork:
		var f sensorForkEvent
		if err := fixed(raw, &f); err != nil {
			return err
		}
		ev.Child = f.Child
	case KindExit:
		var x sensorExitEvent
		if err := fixed(raw, &x); err != nil {
			return err
		}
		ev.ExitCode, ev.Signal = x.Code, x.Sig
	case KindExec:
		var x sensorExecEvent
		if err := fixed(raw, &x); err != nil {
			return err
		}
		var f [len(x.Lens)][]byte
		if err := fields(raw[unsafe.Sizeof(x):], x.Lens[:], f[:]); err != nil {
			return err
		}
		ev.PPid, ev.UID = x.Ppid, x.Uid
		ev.ArgvTruncated = h.Flags&uint8(sensorHdrFlagsFLAG_ARGV_TRUNC) != 0
		ev.Filename = c.str(f[sensorExecFieldEXEC_FILENAME])
		ev.Exe = c.str(f[sensorExecFieldEXEC_EXE])
		ev.Argv = splitArgv(f[sensorExecFieldEXEC_ARGV])
		ev.Env = splitArgv(f[sensorExecFieldEXEC_ENV])
		ev.EnvTruncated = h.Flags&uint8(sensorHdrFlagsFLAG_ENV_TRUNC) != 0
		ev.Interpreted = h.Flags&uint8(sensorHdrFlagsFLAG_EXEC_INTERP) != 0
		ev.Cwd = c.str(f[sensorExecFieldEXEC_CWD])
	case KindSyscall:
		var x sensorSysEvent
		if err := fixed(raw, &x); err != nil {
			return err
		}
		var f [len(x.Lens)][]byte
		if err := placedFields(raw, x.Offs[:], x.Lens[:], f[:]); err != nil {
			return err
		}
		ev.Nr, ev.Ret, ev.Args = x.Nr, x.Ret, x.Args
		ev.Compat = h.Flags&uint8(sensorHdrFlagsFLAG_COMPAT) != 0
		ev.CompatKilled = h.Flags&uint8(sensorHdrFlagsFLAG_COMPAT_KILLED) != 0
		ev.Raced = h.Flags&uint8(sensorHdrFlagsFLAG_RACED) != 0
		ev.Late = h.Flags&uint8(sensorHdrFlagsFLAG_LATE) != 0
		ev.SockFamily, ev.SockType = x.SockFamily, x.SockType
		ev.Str = [2]string{c.str(f[sensorSysFieldSF_STR0]), c.str(f[sensorSysFieldSF_STR1])}
		ev.Base = [2]string{c.str(f[sensorSysFieldSF_BASE0]), c.str(f[sensorSysFieldSF_BASE1])}
		if res := f[sensorSysFieldSF_RESOLVED]; bytes.Equal(res, f[sensorSysFieldSF_STR0]) {
			ev.Resolved = ev.Str[0] // an absolute path that was the file's own: most opens
		} else {
			ev.Resolved = c.str(res)
		}
		ev.Addr = clone(f[sensorSysFieldSF_ADDR])
		ev.Payload = clone(f[sensorSysFieldSF_PAYLOAD])
	case KindSockAddr, KindSAPayload:
		var err error
		*ev, err = decodeSockAddr(raw, *ev)
		return err
	default:
		return fmt.Errorf("bpf: record of unknown kind %d", h.Kind)
	}
	return nil
}

// fixed copies the fixed-size head of a record into *T (a bpf2go generated
// struct, so the layout is the C one).
func fixed[T any](raw []byte, dst *T) error {
	if n := int(unsafe.Sizeof(*dst)); len(raw) < n {
		return fmt.Errorf("bpf: short %T record (%d < %d bytes)", *dst, len(raw), n)
	}
	*dst = *(*T)(unsafe.Pointer(&raw[0]))
	return nil
}

// fields splits a record tail into its variable-length fields.
func fields(tail []byte, lens []uint16, out [][]byte) error {
	for i, n := range lens {
		if int(n) > len(tail) {
			return fmt.Errorf("bpf: record field %d claims %d bytes, %d left", i, n, len(tail))
		}
		out[i], tail = tail[:n], tail[n:]
	}
	return nil
}

// placedFields cuts the fields of a sys_event tail: field i is
// raw[offs[i]:offs[i]+lens[i]].
func placedFields(raw []byte, offs, lens []uint16, out [][]byte) error {
	for i, n := range lens {
		if n == 0 {
			continue
		}
		o := int(offs[i])
		if o+int(n) > len(raw) {
			return fmt.Errorf("bpf: record field %d at %d+%d exceeds the %d byte record", i, o, n, len(raw))
		}
		out[i] = raw[o : o+int(n)]
	}
	return nil
}

func splitArgv(b []byte) []string {
	if len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1] // the terminator of the last argument
	}
	if len(b) == 0 {
		return nil
	}
	parts := bytes.Split(b, []byte{0})
	argv := make([]string, len(parts))
	for i, p := range parts {
		argv[i] = string(p)
	}
	return argv
}

func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return bytes.Clone(b)
}
