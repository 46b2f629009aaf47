package recorder

import (
	"encoding/binary"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/behavediff/behavediff/bpf"
	"github.com/behavediff/behavediff/internal/linux"
	"github.com/behavediff/behavediff/store"
)

func unixAddr(path string) []byte {
	b := make([]byte, 2, 2+len(path)+1)
	binary.LittleEndian.PutUint16(b, linux.AF_UNIX)
	return append(append(b, path...), 0)
}

func hook(pid, tid uint32, h bpf.Hook, v bpf.Verdict, addr []byte, path string) *bpf.Event {
	fam := binary.LittleEndian.Uint16(addr)
	typ := uint16(1)
	if h == bpf.HookSendmsg4 || h == bpf.HookSendmsgUnix {
		typ = 2
	}
	return &bpf.Event{Kind: bpf.KindSockAddr, Pid: pid, Tid: tid, TS: 1500,
		Sock: &bpf.SockAddr{Hook: h, Verdict: v, Family: fam, Type: typ, Addr: addr, Path: path}}
}

// The pairing is pure logic: the hook's address wins over the syscall
// record's (read from user memory after the call), the syscall record's
// result is kept, unpaired hooks are stored at the thread's next syscall or
// the process's exit, and sendmmsg payloads get their message's hook address.
func TestTrackerHookPairing(t *testing.T) {
	s := &fakeSink{}
	tr := newTracker(s, 1000)
	real, decoy := inet4([4]byte{10, 231, 0, 1}, 443), inet4([4]byte{10, 231, 0, 2}, 8443)
	ns := inet4([4]byte{127, 0, 0, 53}, 53)
	steps := []*bpf.Event{
		{Kind: bpf.KindExec, Pid: 10, Tid: 10, TS: 1100, Filename: "/bin/x", Cwd: "/ws"},
		// connect: hook saw real, the user buffer said decoy by sys_exit
		hook(10, 11, bpf.HookConnect4, bpf.Allowed, real, ""),
		sys(t, 10, "connect", -115, func(e *bpf.Event) { e.Tid = 11; e.Addr = decoy }),
		// refused unix connect: relative text, absolute judged path
		hook(10, 10, bpf.HookConnectUnix, bpf.Denied, unixAddr("host.sock"), "/var/tmp/x/host.sock"),
		sys(t, 10, "connect", -1, func(e *bpf.Event) { e.Addr = unixAddr("host.sock") }),
		// sendmmsg of two DNS queries to one resolver: one send row, two names
		hook(10, 10, bpf.HookSendmsg4, bpf.Allowed, ns, ""),
		hook(10, 10, bpf.HookSendmsg4, bpf.Allowed, ns, ""),
		sys(t, 10, "sendmmsg", 2, func(e *bpf.Event) { e.Addr = ns; e.Payload = dnsMsg("a.example", 1, false) }),
		{Kind: bpf.KindSAPayload, Pid: 10, Tid: 10, TS: 1600, Sock: &bpf.SockAddr{Index: 0, Ret: 2, Addr: decoy, Payload: dnsMsg("a.example", 1, false)}},
		{Kind: bpf.KindSAPayload, Pid: 10, Tid: 10, TS: 1600, Sock: &bpf.SockAddr{Index: 1, Ret: 2, Addr: decoy, Payload: dnsMsg("a.example", 28, false)}},
		// a connect through another ABI: no syscall record claims the hook
		hook(10, 10, bpf.HookConnect4, bpf.Allowed, decoy, ""),
		sys(t, 10, "openat", 3, func(e *bpf.Event) { e.Str[0] = "/etc/hosts" }),
		// killed at sys_exit: the record comes after the connect's own
		hook(10, 10, bpf.HookConnectUnix, bpf.Allowed, unixAddr("/tmp/l.sock"), "/tmp/l.sock"),
		sys(t, 10, "connect", 0, func(e *bpf.Event) { e.Addr = unixAddr("/tmp/l.sock") }),
		{Kind: bpf.KindSockAddr, Pid: 10, Tid: 10, TS: 1700, Sock: &bpf.SockAddr{Hook: bpf.HookPeerCheck, Verdict: bpf.Killed, Family: linux.AF_UNIX, Type: 1, Addr: unixAddr("/var/tmp/x/host.sock")}},
		{Kind: bpf.KindExit, Pid: 10, Tid: 10, TS: 1800, Signal: 9},
	}
	for _, ev := range steps {
		if err := tr.handle(ev); err != nil {
			t.Fatal(err)
		}
	}
	want := []store.NetEvent{
		{Op: store.NetConnect, Family: linux.AF_INET, SockType: 1, Address: "10.231.0.1", Port: 443, Result: -115, TS: 1000},
		{Op: store.NetConnect, Family: linux.AF_UNIX, SockType: 1, Address: "/var/tmp/x/host.sock", Result: -1, TS: 1000, Verdict: store.NetDenied},
		{Op: store.NetSend, Family: linux.AF_INET, SockType: 2, Address: "127.0.0.53", Port: 53, Result: 2, TS: 1000},
		{Op: store.NetDNS, Family: linux.AF_INET, SockType: 2, Address: "127.0.0.53", Port: 53, Domain: "a.example", QType: 1, Result: 2, TS: 600},
		{Op: store.NetDNS, Family: linux.AF_INET, SockType: 2, Address: "127.0.0.53", Port: 53, Domain: "a.example", QType: 28, Result: 2, TS: 600},
		{Op: store.NetConnect, Family: linux.AF_INET, SockType: 1, Address: "10.231.0.2", Port: 8443, Result: 0, TS: 1000},
		{Op: store.NetConnect, Family: linux.AF_UNIX, SockType: 1, Address: "/tmp/l.sock", Result: 0, TS: 1000},
		{Op: store.NetConnect, Family: linux.AF_UNIX, SockType: 1, Address: "/var/tmp/x/host.sock", Result: 0, TS: 800, Verdict: store.NetKilled},
	}
	if d := cmp.Diff(want, s.net); d != "" {
		t.Errorf("net events (-want +got):\n%s", d)
	}
}
