//go:build linux

package linux

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// The fixed values must be the kernel's.
func TestMatchesXSysUnix(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"O_RDONLY", O_RDONLY, unix.O_RDONLY},
		{"O_WRONLY", O_WRONLY, unix.O_WRONLY},
		{"O_RDWR", O_RDWR, unix.O_RDWR},
		{"O_ACCMODE", O_ACCMODE, unix.O_ACCMODE},
		{"O_CREAT", O_CREAT, unix.O_CREAT},
		{"O_EXCL", O_EXCL, unix.O_EXCL},
		{"O_TRUNC", O_TRUNC, unix.O_TRUNC},
		{"AT_FDCWD", AT_FDCWD, unix.AT_FDCWD},
		{"AT_REMOVEDIR", AT_REMOVEDIR, unix.AT_REMOVEDIR},
		{"AF_UNIX", AF_UNIX, unix.AF_UNIX},
		{"AF_INET", AF_INET, unix.AF_INET},
		{"AF_INET6", AF_INET6, unix.AF_INET6},
		{"SOCK_STREAM", SOCK_STREAM, unix.SOCK_STREAM},
		{"SOCK_DGRAM", SOCK_DGRAM, unix.SOCK_DGRAM},
	} {
		if c.got != c.want {
			t.Errorf("%s = %#x, x/sys/unix says %#x", c.name, c.got, c.want)
		}
	}
	if runtime.GOARCH == "amd64" && O_TMPFILE != unix.O_TMPFILE {
		t.Errorf("O_TMPFILE = %#x, x/sys/unix says %#x", O_TMPFILE, unix.O_TMPFILE)
	}
}
