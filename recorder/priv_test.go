package recorder

import (
	"testing"

	"github.com/behavediff/behavediff/bpf"
)

// decodePriv dispatches on the typed syscall id: each privilege call keeps
// its rendering, a plain fork's clone and an ordinary call are no events.
func TestDecodePriv(t *testing.T) {
	const newns = 0x00020000 // CLONE_NEWNS
	for _, tc := range []struct {
		id   bpf.SyscallID
		a    [6]uint64
		str  [2]string
		want string
		ok   bool
	}{
		{bpf.SysSetuid, [6]uint64{0}, [2]string{}, "id=0", true},
		{bpf.SysSetresgid, [6]uint64{1, 2, 3}, [2]string{}, "real=1 effective=2 saved=3", true},
		{bpf.SysUnshare, [6]uint64{newns}, [2]string{}, "flags=CLONE_NEWNS", true},
		{bpf.SysClone, [6]uint64{0x11}, [2]string{}, "", false}, // a plain fork
		{bpf.SysClone3, [6]uint64{newns}, [2]string{}, "flags=CLONE_NEWNS", true},
		{bpf.SysMount, [6]uint64{0, 0, 0, 1}, [2]string{"/dev/sda", "/mnt"}, `source="/dev/sda" target="/mnt" flags=0x1`, true},
		{bpf.SysPtrace, [6]uint64{16, 7}, [2]string{}, "request=PTRACE_ATTACH pid=7", true},
		{bpf.SysFinitModule, [6]uint64{}, [2]string{}, "", true},
		{bpf.SysAddKey, [6]uint64{}, [2]string{"user"}, `type="user"`, true},
		{bpf.SysFsopen, [6]uint64{}, [2]string{"proc"}, `fstype="proc"`, true},
		{bpf.SysOpenat, [6]uint64{}, [2]string{}, "", false},
		{bpf.SysNone, [6]uint64{}, [2]string{}, "", false},
	} {
		got, ok := decodePriv(tc.id, tc.a, tc.str)
		if got != tc.want || ok != tc.ok {
			t.Errorf("decodePriv(%v, %v, %q) = %q, %v; want %q, %v", tc.id, tc.a, tc.str, got, ok, tc.want, tc.ok)
		}
	}
}
