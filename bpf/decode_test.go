package bpf

import (
	"testing"
	"unsafe"
)

// A hand-built record decodes field by field; short or inconsistent
// records are errors, never panics.
func TestDecodeSyscallRecord(t *testing.T) {
	var x sensorSysEvent
	x.H.Kind = uint8(KindSyscall)
	x.H.Pid, x.H.Tid = 10, 11
	x.Nr, x.Ret = 257, -2
	x.Args[1] = 0xdead
	hdr := int(unsafe.Sizeof(x))
	// tail written in kernel order: str0, base0, resolved
	tail := []string{"rel.txt", "/work", "/work/rel.txt"}
	slots := []sensorSysField{sensorSysFieldSF_STR0, sensorSysFieldSF_BASE0, sensorSysFieldSF_RESOLVED}
	off := hdr
	for i, s := range tail {
		x.Offs[slots[i]], x.Lens[slots[i]] = uint16(off), uint16(len(s))
		off += len(s)
	}
	raw := append(unsafe.Slice((*byte)(unsafe.Pointer(&x)), hdr), []byte(tail[0]+tail[1]+tail[2])...)
	ev, err := decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Kind != KindSyscall || ev.Pid != 10 || ev.Tid != 11 || ev.Nr != 257 || ev.Ret != -2 || ev.Args[1] != 0xdead ||
		ev.Str[0] != "rel.txt" || ev.Base[0] != "/work" || ev.Resolved != "/work/rel.txt" || ev.Str[1] != "" || ev.Addr != nil {
		t.Errorf("decoded %+v", ev)
	}
	if _, err := decode(raw[:len(raw)-1]); err == nil {
		t.Error("truncated record decoded without error")
	}
	if _, err := decode(raw[:8]); err == nil {
		t.Error("short record decoded without error")
	}
}

func TestSplitArgv(t *testing.T) {
	for in, want := range map[string][]string{
		"a\x00b c\x00": {"a", "b c"},
		"a\x00\x00":    {"a", ""},
		"trunc\x00ab":  {"trunc", "ab"},
		"":             nil,
	} {
		if got := splitArgv([]byte(in)); len(got) != len(want) || (len(want) > 0 && got[len(got)-1] != want[len(want)-1]) {
			t.Errorf("splitArgv(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSyscallTable(t *testing.T) {
	for _, name := range []string{"openat", "execve", "clone3", "connect", "unshare", "fchmodat2", "memfd_create"} {
		nr, ok := SyscallNr(name)
		if !ok || SyscallName(nr) != name {
			t.Errorf("%s: nr %d ok %v name %q", name, nr, ok, SyscallName(nr))
		}
	}
	if got := SyscallName(99999); got != "syscall_99999" {
		t.Errorf("unknown nr: %q", got)
	}
}

// Exec records carry the kernel's file and the environment after argv and
// cwd; compat records are flagged.
func TestDecodeExecAndCompat(t *testing.T) {
	var x sensorExecEvent
	x.H.Kind = uint8(KindExec)
	x.H.Flags = uint8(sensorHdrFlagsFLAG_ENV_TRUNC)
	fields := []string{"sub/../b.sh", "b.sh\x00-x\x00", "/w", "/w/a/b.sh", "A=1\x00B=2\x00"}
	var tail []byte
	for i, f := range fields {
		x.Lens[i] = uint16(len(f))
		tail = append(tail, f...)
	}
	raw := append(unsafe.Slice((*byte)(unsafe.Pointer(&x)), unsafe.Sizeof(x)), tail...)
	ev, err := decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Filename != "sub/../b.sh" || ev.Exe != "/w/a/b.sh" || ev.Cwd != "/w" || len(ev.Argv) != 2 || len(ev.Env) != 2 || ev.Env[1] != "B=2" ||
		!ev.EnvTruncated || ev.ArgvTruncated {
		t.Errorf("exec decoded %+v", ev)
	}

	var s sensorSysEvent
	s.H.Kind = uint8(KindSyscall)
	s.H.Flags = uint8(sensorHdrFlagsFLAG_COMPAT | sensorHdrFlagsFLAG_COMPAT_KILLED)
	s.Nr = 5
	ev, err = decode(unsafe.Slice((*byte)(unsafe.Pointer(&s)), unsafe.Sizeof(s)))
	if err != nil {
		t.Fatal(err)
	}
	if !ev.Compat || !ev.CompatKilled || ev.Nr != 5 {
		t.Errorf("compat decoded %+v", ev)
	}
	s.H.Flags = uint8(sensorHdrFlagsFLAG_RACED)
	if ev, err = decode(unsafe.Slice((*byte)(unsafe.Pointer(&s)), unsafe.Sizeof(s))); err != nil || !ev.Raced || ev.Late || ev.Compat {
		t.Errorf("raced decoded %+v (%v)", ev, err)
	}
	s.H.Flags = uint8(sensorHdrFlagsFLAG_LATE)
	if ev, err = decode(unsafe.Slice((*byte)(unsafe.Pointer(&s)), unsafe.Sizeof(s))); err != nil || ev.Raced || !ev.Late {
		t.Errorf("late decoded %+v (%v)", ev, err)
	}
	if CompatSyscallName(0x40000000|2) != "x32:"+SyscallName(2) || CompatSyscallName(99999) != "syscall_99999" {
		t.Errorf("compat names %q %q", CompatSyscallName(0x40000000|2), CompatSyscallName(99999))
	}
}
