package recorder

import (
	"testing"

	"github.com/behavediff/behavediff/bpf"
)

// Every file and socket call the sensor records reaches its case of the
// tracker's typed dispatch: a failed call of each is one file (or network)
// event, never a privilege event or nothing.
func TestTrackerDispatchesEveryRecordedID(t *testing.T) {
	check := func(first, last bpf.SyscallID, wantFile bool) {
		for id := first; id <= last; id++ {
			nr, ok := bpf.SyscallNr(id.String())
			if !ok {
				continue // not on this GOARCH (arm64 has no open, creat, ...)
			}
			s := &fakeSink{}
			tr := newTracker(s, 0)
			ev := &bpf.Event{Kind: bpf.KindSyscall, Pid: 1, Tid: 1, Nr: int32(nr), Ret: -2, TS: 1}
			ev.Str[0], ev.Str[1] = "/ws/a", "/ws/b"
			if err := tr.handle(ev); err != nil {
				t.Fatal(err)
			}
			files, nets := len(s.files), len(s.net)
			if wantFile && (files != 1 || nets != 0) || !wantFile && (files != 0 || nets != 1) || len(s.priv) != 0 {
				t.Errorf("%v (nr %d): %d file, %d net, %d priv events", id, nr, files, nets, len(s.priv))
			}
		}
	}
	check(bpf.SysOpen, bpf.SysFchdir, true)
	check(bpf.SysSocket, bpf.SysAccept4, false)
}

// A number the sensor has no id for is never taken for a file or socket
// call: not an unknown or out-of-range number (a racing thread's registers),
// not a call that shares a name's prefix.
func TestTrackerUnknownNumbers(t *testing.T) {
	getpid, _ := bpf.SyscallNr("getpid")
	for _, nr := range []int32{int32(getpid), 511, 512, 1 << 20, -1} {
		s := &fakeSink{}
		tr := newTracker(s, 0)
		ev := &bpf.Event{Kind: bpf.KindSyscall, Pid: 1, Tid: 1, Nr: nr, Ret: 0, TS: 1}
		ev.Str[0] = "/etc/shadow"
		if err := tr.handle(ev); err != nil {
			t.Fatal(err)
		}
		if len(s.files)+len(s.net) != 0 {
			t.Errorf("nr %d: stored %v %v", nr, s.files, s.net)
		}
	}
}
