package bpf

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// runHelper runs this test binary's helper mode (TestMain) in cg and
// fails the test when it fails.
func runHelper(t *testing.T, cg *testCgroup, mode string, args ...string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := cg.command(self, args...)
	cmd.Env = append(os.Environ(), "BEHAVEDIFF_SENSOR_HELPER="+mode)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helper %s: %v\n%s", mode, err, out)
	}
}

// highFDNumbers are the dirfds the highfd helper uses under an fd limit
// of limit: ones in the table's embedded first 64 slots, then ones that
// make the kernel grow the table into a separate allocation, up to the
// last slot the limit allows.
func highFDNumbers(limit int) []int {
	ns := []int{5, 63}
	for _, n := range []int{64, 1023, limit / 2, limit - 1} {
		if n > ns[len(ns)-1] && n < limit {
			ns = append(ns, n)
		}
	}
	return ns
}

// highFDHelper opens dir at each of highFDNumbers (dup2) and creates
// "viaN" through each as dirfd, then tries a dirfd past the table's end
// (EBADF). The test set RLIMIT_NOFILE's soft limit to its hard one.
func highFDHelper(dir string) int {
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return 3
	}
	dfd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY, 0)
	if err != nil {
		return 4
	}
	for _, n := range highFDNumbers(int(lim.Cur)) {
		if n != dfd { // dup3 refuses the same fd; the open below uses it as is
			if err := unix.Dup2(dfd, n); err != nil {
				fmt.Fprintf(os.Stderr, "dup2 to %d (limit %d): %v\n", n, lim.Cur, err)
				return 5
			}
		}
		fd, err := unix.Openat(n, "via"+strconv.Itoa(n), unix.O_CREAT|unix.O_WRONLY, 0o644)
		if err != nil {
			return 6
		}
		unix.Close(fd)
	}
	if _, err := unix.Openat(int(lim.Cur)+5000, "beyond", unix.O_RDONLY, 0); err != unix.EBADF {
		return 7
	}
	return 0
}

// The sensor reads a dirfd's slot of the fd table at a variable index (a
// plain load through an untyped view, sensor.bpf.c fd_file): every slot,
// in the embedded first 64 and in a table the kernel grew to the fd limit,
// gives the directory's path, and a dirfd past the table's end gives none.
func TestDirfdBaseAtEveryTableSlot(t *testing.T) {
	requireRoot(t)
	cg := newCgroup(t, "highfd")
	s := load(t, Config{CgroupID: cg.id})
	c := collect(s)
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	// the hard limit (raising it needs CAP_SYS_RESOURCE, which CI lacks)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: old.Max, Max: old.Max}); err != nil {
		t.Fatalf("RLIMIT_NOFILE for the helper: %v", err)
	}
	t.Cleanup(func() { unix.Setrlimit(unix.RLIMIT_NOFILE, &old) })
	if old.Max < 2048 {
		t.Logf("fd limit %d: the grown table is small", old.Max)
	}
	runHelper(t, cg, "highfd", dir)
	evs := c.wait(t, s)
	bases := map[string]string{}
	for _, e := range evs {
		if e.Kind == KindSyscall && (e.Str[0] == "beyond" || len(e.Str[0]) > 3 && e.Str[0][:3] == "via") {
			bases[e.Str[0]] = e.Base[0]
		}
	}
	for _, n := range highFDNumbers(int(old.Max)) {
		name := "via" + strconv.Itoa(n)
		if got, ok := bases[name]; !ok {
			t.Errorf("openat through dirfd %d not recorded", n)
		} else if got != dir {
			t.Errorf("openat through dirfd %d: base %q, want %q", n, got, dir)
		}
	}
	if got, ok := bases["beyond"]; !ok {
		t.Errorf("openat through a dirfd past the table not recorded")
	} else if got != "" {
		t.Errorf("openat through a dirfd past the table: base %q, want none", got)
	}
}

// pathOfLen returns a path under dir that is exactly n bytes long (its
// directories made, the file created), from components of at most 200
// bytes.
func pathOfLen(t *testing.T, dir string, n int) string {
	t.Helper()
	p := dir
	for len(p)+1+200 < n-1 {
		p += "/" + strings.Repeat("d", 200)
	}
	p += "/" + strings.Repeat("f", n-len(p)-1)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if len(p) != n {
		t.Fatalf("made a %d byte path, want %d", len(p), n)
	}
	return p
}

// kmem_free compares the kernel's copy of a path with the entry copy in
// place up to LONG_PATH (4000) bytes and through a helper read beyond
// (pathargs.h kernel_is_entry). Across both sides of that bound and of
// the 64 bytes compared without a loop, an honest open is stored as
// itself and flagged neither raced nor late; past getname()'s embedded
// buffer (4064 bytes here) there is no kernel copy, and it is late.
func TestKernelCopyAtEveryLength(t *testing.T) {
	requireRoot(t)
	cg := newCgroup(t, "pathlen")
	s := load(t, Config{CgroupID: cg.id})
	c := collect(s)
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	lens := []int{63, 64, 65, 3998, 3999, 4000, 4001, 4063, 4080}
	var paths []string
	for _, n := range lens {
		paths = append(paths, pathOfLen(t, dir, n))
	}
	runHelper(t, cg, "open", paths...)
	byPath := map[string]Event{}
	for _, e := range c.wait(t, s) {
		if e.Kind == KindSyscall && (e.Nr == nr(t, "open") || e.Nr == nr(t, "openat")) {
			byPath[e.Str[0]] = e
		}
	}
	for i, p := range paths {
		n := lens[i]
		e, ok := byPath[p]
		if !ok {
			t.Errorf("%d-byte path: open not stored as itself", n)
			continue
		}
		// the string with its NUL: the kernel copy fits in 4064 bytes
		wantLate := n+1 > 4064
		if e.Raced || e.Late != wantLate || e.Ret < 0 {
			t.Errorf("%d-byte path: raced %v, late %v (want %v), result %d", n, e.Raced, e.Late, wantLate, e.Ret)
		}
	}
}
