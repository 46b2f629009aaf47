package bpf

import "strconv"

// nrIDs maps this GOARCH's syscall numbers to the sensor's ids: the same
// mapping the loader writes into the object's sc_table (syscallTable), here
// for the Go side, so that a record's number is dispatched on a typed id.
var nrIDs = func() (t [nrTable]SyscallID) {
	byName := make(map[string]SyscallID, len(syscallIDNames))
	for id, n := range syscallIDNames {
		if n != "" {
			byName[n] = SyscallID(id)
		}
	}
	for nr, n := range syscallNames {
		if id, ok := byName[n]; ok && nr >= 0 && nr < len(t) {
			t[nr] = id
		}
	}
	return t
}()

// SyscallIDOf returns the sensor's id of native syscall nr on this GOARCH,
// or SysNone for a syscall the sensor does not know (or a compat number:
// those are another ABI's).
func SyscallIDOf(nr int) SyscallID {
	if nr < 0 || nr >= len(nrIDs) {
		return SysNone
	}
	return nrIDs[nr]
}

// String is the kernel's name of the syscall ("sys_N" for an invalid id).
func (id SyscallID) String() string {
	if int(id) < len(syscallIDNames) && id != SysNone {
		return syscallIDNames[id]
	}
	return "sys_" + strconv.Itoa(int(id))
}
