package bpf

import (
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
)

// The generated ids must be the object's: enum sc_id as compiled, read from
// the embedded object's BTF (the loader fills sc_table from it).
func TestSyscallIDsMatchObject(t *testing.T) {
	spec, err := loadSensor()
	if err != nil {
		t.Fatal(err)
	}
	var e *btf.Enum
	if err := spec.Types.TypeByName("sc_id", &e); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, v := range e.Values {
		name, _ := strings.CutPrefix(v.Name, "SC_")
		if strings.ToUpper(name) == name { // SC_NONE, SC_MAX, ranges
			continue
		}
		n++
		if got := SyscallID(v.Value).String(); got != name {
			t.Errorf("SyscallID(%d) = %q, object says %s", v.Value, got, v.Name)
		}
	}
	if n != len(syscallIDNames)-1 {
		t.Errorf("object has %d syscall ids, generated %d", n, len(syscallIDNames)-1)
	}
	table, err := syscallTable(spec)
	if err != nil {
		t.Fatal(err)
	}
	for nr := range table {
		if SyscallID(table[nr]) != SyscallIDOf(nr) {
			t.Errorf("nr %d (%s): object id %d, Go id %d", nr, SyscallName(nr), table[nr], SyscallIDOf(nr))
		}
	}
	if v, ok := spec.Variables["sc_table"]; !ok || v.Size() != nrTable {
		t.Errorf("object's sc_table: %v, want %d bytes (NR_TABLE = nrTable)", v, nrTable)
	}
}

func TestSyscallIDOf(t *testing.T) {
	for _, name := range []string{"openat", "execve", "connect", "setuid", "clone3", "recvmsg"} {
		nr, ok := SyscallNr(name)
		if !ok {
			t.Fatalf("no syscall %s", name)
		}
		if got := SyscallIDOf(nr); got.String() != name {
			t.Errorf("SyscallIDOf(%d) = %v, want %s", nr, got, name)
		}
	}
	// numbers the sensor does not record, and out of range ones (a compat
	// record's x32 bit, a negative nr from a racing thread's registers)
	getpid, _ := SyscallNr("getpid")
	for _, nr := range []int{getpid, -1, nrTable, 0x40000000 | 2, 1 << 40} {
		if got := SyscallIDOf(nr); got != SysNone {
			t.Errorf("SyscallIDOf(%d) = %v, want SysNone", nr, got)
		}
	}
	if got := SyscallID(250).String(); got != "sys_250" {
		t.Errorf("invalid id named %q", got)
	}
}
