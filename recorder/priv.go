package recorder

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/behavediff/behavediff/bpf"
	"github.com/behavediff/behavediff/store"
)

// Namespace clone flags (linux/sched.h).
var nsFlags = []struct {
	bit  uint64
	name string
}{
	{0x00000080, "CLONE_NEWTIME"},
	{0x00020000, "CLONE_NEWNS"},
	{0x02000000, "CLONE_NEWCGROUP"},
	{0x04000000, "CLONE_NEWUTS"},
	{0x08000000, "CLONE_NEWIPC"},
	{0x10000000, "CLONE_NEWUSER"},
	{0x20000000, "CLONE_NEWPID"},
	{0x40000000, "CLONE_NEWNET"},
}

func nsFlagNames(flags uint64) string {
	var out []string
	for _, f := range nsFlags {
		if flags&f.bit != 0 {
			out = append(out, f.name)
		}
	}
	if len(out) == 0 {
		return "0"
	}
	return strings.Join(out, "|")
}

func hasNSFlags(flags uint64) bool {
	for _, f := range nsFlags {
		if flags&f.bit != 0 {
			return true
		}
	}
	return false
}

// prctl options that change privileges or security state. Others (PR_SET_NAME,
// PR_SET_PDEATHSIG, ...) are everyday noise and not privilege events.
var prctlOptions = map[uint64]string{
	4:          "PR_SET_DUMPABLE",
	8:          "PR_SET_KEEPCAPS",
	22:         "PR_SET_SECCOMP",
	24:         "PR_CAPBSET_DROP",
	28:         "PR_SET_SECUREBITS",
	35:         "PR_SET_MM",
	36:         "PR_SET_CHILD_SUBREAPER",
	38:         "PR_SET_NO_NEW_PRIVS",
	47:         "PR_CAP_AMBIENT",
	0x59616d61: "PR_SET_PTRACER",
}

var ptraceRequests = map[uint64]string{
	0: "PTRACE_TRACEME", 1: "PTRACE_PEEKTEXT", 2: "PTRACE_PEEKDATA", 4: "PTRACE_POKETEXT",
	5: "PTRACE_POKEDATA", 16: "PTRACE_ATTACH", 17: "PTRACE_DETACH", 0x4206: "PTRACE_SEIZE",
}

func sint(v uint64) string { return strconv.FormatInt(int64(int32(v)), 10) }

// decodePriv renders the arguments of a privilege-relevant syscall for
// humans and reports whether the call is a privilege event at all (a clone
// without namespace flags is an ordinary fork, not an escape attempt).
func decodePriv(id bpf.SyscallID, a [6]uint64, str [2]string) (string, bool) {
	switch id {
	case bpf.SysSetuid, bpf.SysSetgid, bpf.SysSetfsuid, bpf.SysSetfsgid:
		return "id=" + sint(a[0]), true
	case bpf.SysSetreuid, bpf.SysSetregid:
		return fmt.Sprintf("real=%s effective=%s", sint(a[0]), sint(a[1])), true
	case bpf.SysSetresuid, bpf.SysSetresgid:
		return fmt.Sprintf("real=%s effective=%s saved=%s", sint(a[0]), sint(a[1]), sint(a[2])), true
	case bpf.SysSetgroups:
		return "count=" + sint(a[0]), true
	case bpf.SysCapset:
		return "", true
	case bpf.SysPrctl:
		opt, ok := prctlOptions[a[0]]
		if !ok {
			return "", false
		}
		return fmt.Sprintf("option=%s arg=%d", opt, a[1]), true
	case bpf.SysUnshare:
		return "flags=" + nsFlagNames(a[0]), true
	case bpf.SysSetns:
		return fmt.Sprintf("fd=%s nstype=%s", sint(a[0]), nsFlagNames(a[1])), true
	case bpf.SysClone, bpf.SysClone3:
		// clone3's flags are read from struct clone_args by the sensor and
		// delivered in a[0] by convention; clone's are its first argument.
		if !hasNSFlags(a[0]) {
			return "", false
		}
		return "flags=" + nsFlagNames(a[0]), true
	case bpf.SysMount:
		return fmt.Sprintf("source=%q target=%q flags=%#x", str[0], str[1], a[3]), true
	case bpf.SysUmount2:
		return fmt.Sprintf("target=%q flags=%#x", str[0], a[1]), true
	case bpf.SysPivotRoot:
		return fmt.Sprintf("new_root=%q put_old=%q", str[0], str[1]), true
	case bpf.SysChroot:
		return fmt.Sprintf("path=%q", str[0]), true
	case bpf.SysPtrace:
		req, ok := ptraceRequests[a[0]]
		if !ok {
			req = strconv.FormatUint(a[0], 10)
		}
		return fmt.Sprintf("request=%s pid=%s", req, sint(a[1])), true
	case bpf.SysProcessVmReadv, bpf.SysProcessVmWritev:
		return "pid=" + sint(a[0]), true
	case bpf.SysBpf:
		return "cmd=" + sint(a[0]), true
	case bpf.SysPerfEventOpen:
		return fmt.Sprintf("pid=%s cpu=%s", sint(a[1]), sint(a[2])), true
	case bpf.SysInitModule, bpf.SysFinitModule, bpf.SysDeleteModule, bpf.SysKexecLoad, bpf.SysKexecFileLoad:
		if str[0] != "" {
			return fmt.Sprintf("name=%q", str[0]), true
		}
		return "", true
	case bpf.SysKeyctl:
		return "op=" + sint(a[0]), true
	case bpf.SysAddKey, bpf.SysRequestKey:
		return fmt.Sprintf("type=%q", str[0]), true
	case bpf.SysIoUringSetup:
		return "entries=" + sint(a[0]), true
	case bpf.SysPersonality:
		return fmt.Sprintf("persona=%#x", a[0]), true
	case bpf.SysFsopen:
		return fmt.Sprintf("fstype=%q", str[0]), true
	case bpf.SysFsmount, bpf.SysMoveMount, bpf.SysOpenTree:
		if str[0] != "" {
			return fmt.Sprintf("path=%q", str[0]), true
		}
		return "", true
	}
	return "", false
}

// compatEvent reports a syscall made through a non-native ABI (i386
// int $0x80, x32, aarch32) as the privilege event "compat:NAME": the
// sandbox refuses these ABIs (the thread dies of SIGSYS), so the call did
// not happen, but trying it is an attempt to act where syscall monitoring
// may not look, and the diff rates it critical.
func compatEvent(ev *bpf.Event, idx int32, ts int64) store.PrivEvent {
	name := bpf.CompatSyscallName(int(ev.Nr))
	a := ev.Args
	args := fmt.Sprintf("nr=%d args=%#x,%#x,%#x", ev.Nr, a[0], a[1], a[2])
	if ev.Str[0] != "" && strings.ToValidUTF8(ev.Str[0], "") == ev.Str[0] && !strings.ContainsFunc(ev.Str[0], isCtl) {
		args += fmt.Sprintf(" str0=%q", ev.Str[0])
	}
	res := ev.Ret
	if ev.CompatKilled {
		args += " refused=SIGSYS"
		res = -1 // EPERM: the sandbox refused it before it ran
	}
	return store.PrivEvent{Proc: idx, Syscall: "compat:" + name, Args: args, Result: res, TS: ts}
}

func isCtl(r rune) bool { return r < 0x20 || r == 0x7f }
