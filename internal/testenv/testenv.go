package testenv

import (
	"os"
	"os/exec"
	"testing"
)

// InCI reports whether the tests run under CI (CI=true, as .ci/run is run).
func InCI() bool { return os.Getenv("CI") == "true" }

// Unavailable skips the test with reason, or fails it in CI.
func Unavailable(t testing.TB, reason string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s (CI must run this test: fix the machine setup in the Makefile's deps)", reason)
	}
	t.Skip(reason)
}

// RequireRoot needs root (eBPF, cgroups, containerd, mounts).
func RequireRoot(t testing.TB, what string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Unavailable(t, what+" needs root: run the tests as root, as CI does")
	}
}

// RequireBinaries needs programs on PATH (containerd, runc, gcc, ...).
func RequireBinaries(t testing.TB, names ...string) {
	t.Helper()
	for _, n := range names {
		if _, err := exec.LookPath(n); err != nil {
			Unavailable(t, n+" not found: run 'make deps' (apt-get install containerd runc)")
		}
	}
}
