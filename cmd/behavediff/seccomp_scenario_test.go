package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/behavediff/behavediff/diff"
	"github.com/behavediff/behavediff/internal/testenv"
)

const probeC = `
#include <errno.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(void) {
#ifdef VARIANT
	unsigned cpu, node;
	long r = syscall(SYS_getcpu, &cpu, &node, 0);
	printf("getcpu=%ld errno=%d\n", r, r < 0 ? errno : 0);
#endif
#ifdef VARIANT32
	/* The same syscall through the 32-bit ABI (int 0x80, i386 number 318):
	   a profile that only listed x86-64 numbers would let it through. */
	long r32;
	__asm__ volatile ("int $0x80" : "=a"(r32) : "a"(318L), "b"(0L), "c"(0L), "d"(0L) : "memory");
	printf("getcpu32=%ld\n", r32);
#endif
	printf("ok\n");
	return 0;
}
`

// TestScenarioSeccompEnforce: `policy --format seccomp` turns the approved
// baseline into an OCI seccomp profile; runc accepts it and the approved
// program passes `check --enforce` under it; a variant that makes one new
// syscall gets EPERM for it, and the attempt is a finding.
func TestScenarioSeccompEnforce(t *testing.T) {
	requireRoot(t)
	testenv.RequireBinaries(t, "gcc")
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, ".behavediff"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	src := filepath.Join(t.TempDir(), "probe.c")
	if err := os.WriteFile(src, []byte(probeC), 0o644); err != nil {
		t.Fatal(err)
	}
	build := func(defs ...string) {
		t.Helper()
		args := append(append([]string{"-O1", "-o", filepath.Join(dir, "probe")}, defs...), src)
		if out, err := exec.Command("gcc", args...).CombinedOutput(); err != nil {
			t.Fatalf("gcc: %v\n%s", err, out)
		}
	}
	build()
	if code, _, stderr := runCLI(t, "record", "--name", "app", "--", "./probe"); code != 0 {
		t.Fatalf("record: exit %d: %s", code, stderr)
	}
	if code, out, stderr := runCLI(t, "approve", "--yes", "app"); code != 0 {
		t.Fatalf("approve: exit %d: %s %s", code, out, stderr)
	}

	code, out, stderr := runCLI(t, "policy", "--format", "seccomp", "app")
	var prof specs.LinuxSeccomp
	if err := json.Unmarshal([]byte(out), &prof); code != 0 || err != nil {
		t.Fatalf("policy --format seccomp: exit %d (%v): %s %s", code, err, out, stderr)
	}
	if prof.DefaultAction != specs.ActErrno || prof.DefaultErrnoRet == nil || *prof.DefaultErrnoRet != 1 ||
		len(prof.Syscalls) != 1 || prof.Syscalls[0].Action != specs.ActAllow {
		t.Fatalf("profile shape: %+v", prof)
	}
	names := prof.Syscalls[0].Names
	for _, want := range []string{"execve", "exit_group", "write"} {
		if !slices.Contains(names, want) {
			t.Errorf("profile lacks %s", want)
		}
	}
	if slices.Contains(names, "getcpu") || slices.Contains(names, "ptrace") {
		t.Errorf("profile allows syscalls the baseline never made: %v", names)
	}

	if code, r := checkArgs(t, "--enforce", "--fail-on", "low"); code != exitOK || len(r.Specs[0].Findings) != 0 {
		t.Fatalf("approved program under its own profile: exit %d findings %+v", code, r.Specs[0].Findings)
	}

	build("-DVARIANT")
	code, r := checkArgs(t, "--enforce", "--fail-on", "low")
	var found bool
	for _, f := range r.Specs[0].Findings {
		found = found || f.Section == "syscalls" && f.Subject == "getcpu" && f.Change == diff.Added
	}
	if code != exitFindings || !found {
		t.Errorf("variant: exit %d, getcpu finding %v: %+v", code, found, r.Specs[0].Findings)
	}
	_, out, _ = runCLI(t, "query", "--format", "csv", "SELECT stdout FROM runs ORDER BY id DESC LIMIT 1")
	if !strings.Contains(out, "getcpu=-1 errno=1") {
		t.Errorf("the new syscall was not refused with EPERM: %q", out)
	}
	_, out, _ = runCLI(t, "query", "--format", "csv", "SELECT errors FROM syscalls WHERE run_id = (SELECT max(id) FROM runs) AND name = 'getcpu'")
	if strings.TrimSpace(out) != "errors\n1" {
		t.Errorf("the refused call is not counted as a failed getcpu: %q", out)
	}

	// Attacker: the same call through the other syscall ABI.
	if runtime.GOARCH == "amd64" {
		// The profile names the native ABI only: the call never runs (the
		// thread dies of SIGSYS) and the attempt is a critical finding.
		build("-DVARIANT32")
		code, r := checkArgs(t, "--enforce", "--fail-on", "low")
		var compat *diff.Finding
		for i, f := range r.Specs[0].Findings {
			if f.Section == "privileged" && strings.HasPrefix(f.Subject, "compat:") {
				compat = &r.Specs[0].Findings[i]
			}
		}
		if code != exitFindings || compat == nil || compat.Level != diff.Critical {
			t.Errorf("getcpu through int 0x80: exit %d, compat finding %+v", code, compat)
		}
		_, out, _ = runCLI(t, "query", "--format", "csv", "SELECT stdout FROM runs ORDER BY id DESC LIMIT 1")
		if strings.Contains(out, "getcpu32=") {
			t.Errorf("getcpu through int 0x80 returned to the program: %q", out)
		}
	}
}

func checkArgs(t *testing.T, args ...string) (int, diff.Report) {
	t.Helper()
	code, out, stderr := runCLI(t, append([]string{"check", "--format", "json"}, args...)...)
	var r diff.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Specs) != 1 {
		t.Fatalf("check %v: exit %d (%v)\n%s\n%s", args, code, err, out, stderr)
	}
	return code, r
}
