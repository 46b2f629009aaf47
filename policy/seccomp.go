package policy

import (
	"runtime"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/behavediff/behavediff/baseline"
)

// RuntimeSyscalls are allowed in every enforced profile besides the
// baseline's own: the recording starts at the command's first exec, so the
// syscalls runc's init makes between loading the filter and that exec (it
// is a Go program: its runtime's threads, signals and memory calls, the
// exec fifo handshake, execve itself) never show in a baseline; and exit
// and exit_group never return, so they are never counted.
var RuntimeSyscalls = []string{
	"arch_prctl", "brk", "clone", "clone3", "close", "close_range", "dup3", "epoll_create1",
	"epoll_ctl", "epoll_pwait", "epoll_wait", "execve", "execveat", "exit", "exit_group", "fcntl",
	"fstat", "fstatfs", "futex", "getdents64", "getpid", "getppid", "gettid", "getrandom", "madvise", "mmap",
	"mprotect", "munmap", "nanosleep", "newfstatat", "openat", "read", "readlinkat",
	"restart_syscall", "rseq", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "sched_getaffinity",
	"sched_yield", "set_robust_list", "set_tid_address", "sigaltstack", "statfs",
	"tgkill", "write",
}

// errnoEPERM is what a syscall outside the profile returns.
var errnoEPERM uint = 1

// Seccomp derives a seccomp profile from a baseline, in the OCI runtime
// spec's form (which docker's --security-opt seccomp=FILE and Kubernetes'
// localhost profiles read too): the baseline's syscalls plus
// RuntimeSyscalls are allowed, anything else fails with EPERM — a failed
// call the sensor still records, so it also shows up as a finding.
func Seccomp(b *baseline.Baseline) *specs.LinuxSeccomp {
	names := slices.Clone(RuntimeSyscalls)
	for _, e := range b.Syscalls {
		// "read 1e3" when the baseline keeps counts.
		if n, _, _ := strings.Cut(e.Value, " "); n != "" {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	return &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: &errnoEPERM,
		Architectures:   architectures(),
		Syscalls:        []specs.LinuxSyscall{{Names: names, Action: specs.ActAllow}},
	}
}

// architectures are the ABIs the profile covers: the native one only, as
// in the sandbox's default profile (recorder/sandbox/seccomp.go). runc
// kills a thread that makes a syscall through an ABI the profile does not
// name (int $0x80, x32) with SIGSYS before the call runs, and the sensor
// records the attempt as a compat syscall (critical): a program switching
// ABI meets a wall, not a second, translated allow-list.
func architectures() []specs.Arch {
	switch runtime.GOARCH {
	case "amd64":
		return []specs.Arch{specs.ArchX86_64}
	case "arm64":
		return []specs.Arch{specs.ArchAARCH64}
	}
	return nil
}
