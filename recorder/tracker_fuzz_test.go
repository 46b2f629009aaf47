package recorder

import (
	"testing"

	"github.com/behavediff/behavediff/bpf"
)

// FuzzTrackerEvent feeds the tracker syscall records whose every field the
// traced code may influence (number, result, arguments, paths, sockaddr,
// DNS payload), after an exec and a fork whose argv and paths are fuzzed
// too: the tracker must turn each into rows or nothing, never panic, and
// derive the process table afterwards.
func FuzzTrackerEvent(f *testing.F) {
	connect, _ := bpf.SyscallNr("connect")
	openat, _ := bpf.SyscallNr("openat")
	sendto, _ := bpf.SyscallNr("sendto")
	recvfrom, _ := bpf.SyscallNr("recvfrom")
	unshare, _ := bpf.SyscallNr("unshare")
	qs, as := dnsSeeds(f)
	f.Add(int32(openat), int64(3), uint64(0xffffff9c), uint64(0o101), "rel/../x", "/work", "/bin/sh\x00-c\x00x", []byte(nil), []byte(nil))
	f.Add(int32(connect), int64(-111), uint64(3), uint64(16), "", "", "", []byte{2, 0, 0, 53, 127, 0, 0, 1}, []byte(nil))
	f.Add(int32(sendto), int64(40), uint64(3), uint64(0), "", "", "", []byte{10, 0, 0, 53}, qs[0])
	f.Add(int32(recvfrom), int64(90), uint64(3), uint64(0), "", "", "", []byte{2, 0, 0, 53, 127, 0, 0, 1}, as[0])
	f.Add(int32(recvfrom), int64(90), uint64(3), uint64(0), "", "", "", []byte{}, as[3])
	f.Add(int32(unshare), int64(0), uint64(0x10000000), uint64(0), "", "", "", []byte(nil), []byte(nil))
	f.Add(int32(-1), int64(0), uint64(0), uint64(0), "\xff", "", "\x00\x00", []byte{1, 0, 0}, []byte{0})
	f.Fuzz(func(t *testing.T, nr int32, ret int64, a0, a1 uint64, str, base, argv string, addr, payload []byte) {
		tr := newTracker(&fakeSink{}, 0)
		evs := []*bpf.Event{
			{Kind: bpf.KindExec, Pid: 10, Tid: 10, TS: 10, Filename: str, Argv: splitArgv(argv), Cwd: base, PPid: 1},
			{Kind: bpf.KindFork, Pid: 10, Tid: 10, TS: 11, Child: 11},
			{Kind: bpf.KindSyscall, Pid: 11, Tid: 11, TS: 12, Nr: nr, Ret: ret, Args: [6]uint64{a0, a1, a0 ^ a1, uint64(ret), a1, a0},
				Str: [2]string{str, argv}, Base: [2]string{base, ""}, Resolved: base, Addr: addr, Payload: payload,
				SockFamily: uint16(a0), SockType: uint16(a1)},
			{Kind: bpf.KindExit, Pid: 11, Tid: 11, TS: 13, ExitCode: int32(ret)},
			{Kind: bpf.KindSyscall, Pid: 12, Tid: 12, TS: 5, Nr: nr, Ret: ret, Addr: payload, Payload: addr}, // unknown pid, time going back
		}
		for _, ev := range evs {
			if err := tr.handle(ev); err != nil {
				t.Fatalf("handle %+v: %v", ev, err)
			}
		}
		if ps := tr.processes(); len(ps) < 2 {
			t.Fatalf("process table %+v", ps)
		}
	})
}

// splitArgv splits a NUL-separated argv the way the sensor's records carry it.
func splitArgv(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}
