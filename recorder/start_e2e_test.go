package recorder

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/behavediff/behavediff/store"
)

// firstSyscallC makes exactly one syscall before it exits: an open of a
// marker path, from the first instructions of _start (no libc, no loader).
const firstSyscallC = `
static const char marker[] = "/first-instruction-marker";
void _start(void) {
#if defined(__x86_64__)
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(257), "D"(-100), "S"(marker), "d"(0) : "rcx", "r11", "memory");
	__asm__ volatile("syscall" : : "a"(231), "D"(3) : "rcx", "r11", "memory");
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = 56;
	register long x0 __asm__("x0") = -100;
	register long x1 __asm__("x1") = (long)marker;
	register long x2 __asm__("x2") = 0;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
	x8 = 94;
	x0 = 3;
	__asm__ volatile("svc 0" : : "r"(x8), "r"(x0) : "memory");
#else
#error "unsupported architecture"
#endif
	for (;;) {
	}
}
`

// TestRecordTracesFirstInstruction is the start-up invariant: the sensor
// loads while the sandbox is created, but it watches the sandbox's cgroup
// before the command starts, so the command's very first syscall is in the
// trace - even from a static binary that makes it before any loader or libc
// code runs, and then exits at once.
func TestRecordTracesFirstInstruction(t *testing.T) {
	requireRoot(t)
	ws := t.TempDir()
	src := filepath.Join(t.TempDir(), "first.c")
	writeFile(t, src, firstSyscallC)
	bin := filepath.Join(ws, "first")
	if out, err := exec.Command("gcc", "-O1", "-static", "-nostdlib", "-fno-stack-protector", "-o", bin, src).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, out)
	}
	for i := range 3 { // a race would show as an occasional miss
		r := record(t, ws, Spec{Args: []string{bin}}, nil)
		if r.res.Status != store.StatusOK || r.res.ExitCode != 3 {
			t.Fatalf("run %d: status %s exit %d, want ok/3; stderr %s", i, r.res.Status, r.res.ExitCode, r.stderr)
		}
		f := findFile(r.trace, store.FileOpen, "/first-instruction-marker")
		if f == nil || f.Result != -int64(unix.ENOENT) {
			t.Fatalf("run %d: the first syscall (open of the marker) is not in the trace: %+v; files %+v", i, f, r.trace.Files)
		}
		if len(r.trace.Processes) != 1 || filepath.Base(r.trace.Processes[0].Exe) != "first" {
			t.Errorf("run %d: processes %+v, want the one static binary", i, r.trace.Processes)
		}
	}
}

// TestRecordLeavesNoProcessBehind: the sandbox's teardown no longer sends
// a kill-all once the command's init has exited (the kernel has killed
// the rest of its pid namespace by then), so a command that leaves a
// detached child behind - its own session, SIGTERM and SIGHUP ignored -
// must still leave nothing running once Record returns.
func TestRecordLeavesNoProcessBehind(t *testing.T) {
	requireRoot(t)
	const marker = "271.828182"
	r := record(t, "", Spec{Args: []string{"/bin/sh", "-c",
		"setsid /bin/sh -c 'trap \"\" TERM HUP; exec sleep " + marker + "' </dev/null >/dev/null 2>&1 & sleep 0.2; exit 0"}}, nil)
	if r.res.Status != store.StatusOK || r.res.ExitCode != 0 {
		t.Fatalf("status %s exit %d; stderr %s", r.res.Status, r.res.ExitCode, r.stderr)
	}
	if pids := processesWith(t, marker); len(pids) > 0 {
		t.Fatalf("processes of the sandbox still running after Record: %v", pids)
	}
}

// processesWith lists the host pids whose command line contains s.
func processesWith(t *testing.T, s string) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(s)) {
			out = append(out, pid)
		}
	}
	return out
}
