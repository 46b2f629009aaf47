package bpf

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

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
		fd, err := unix.Openat(n, "via"+itoa(n), unix.O_CREAT|unix.O_WRONLY, 0o644)
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

func itoa(n int) string {
	b := []byte{}
	for {
		b = append([]byte{byte('0' + n%10)}, b...)
		if n /= 10; n == 0 {
			return string(b)
		}
	}
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
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := cg.command(self, dir)
	cmd.Env = append(os.Environ(), "BEHAVEDIFF_SENSOR_HELPER=highfd")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	evs := c.wait(t, s)
	bases := map[string]string{}
	for _, e := range evs {
		if e.Kind == KindSyscall && (e.Str[0] == "beyond" || len(e.Str[0]) > 3 && e.Str[0][:3] == "via") {
			bases[e.Str[0]] = e.Base[0]
		}
	}
	for _, n := range highFDNumbers(int(old.Max)) {
		name := "via" + itoa(n)
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
