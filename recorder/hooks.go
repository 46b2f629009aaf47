package recorder

import (
	"path/filepath"

	"github.com/behavediff/behavediff/bpf"
	"github.com/behavediff/behavediff/internal/linux"
	"github.com/behavediff/behavediff/store"
)

// Pairing of the sensor's cgroup sock_addr hook records with its syscall
// records.
//
// A hook record carries the address the kernel used (its own copy, taken
// after copy_from_user) and the policy's verdict; the sys_exit record of the
// same syscall carries the result, but its address was read from the
// caller's memory after the call and a racing thread may have rewritten it.
// Both go through one ring buffer, so per thread a syscall's hook records
// (one per message for sendmmsg) arrive before its sys_exit record. The
// tracker therefore keeps each thread's hook records until its next
// connect/bind/send record and stores the network events from the hooks,
// with that record's result: the hook is the address truth, the syscall
// record only says how it ended. A syscall record with no hook record
// before it (an address family without hooks: unix bind, netlink; or a
// call that failed before the kernel used its address) is stored from its
// own address, as before.
//
// Hook records that no net syscall record claims (the call came through
// another ABI such as int 0x80 socketcall, its record was lost, or the
// process was killed at sys_exit) are stored on their own when the thread's
// next syscall record or the process's exit arrives: a connect the kernel
// saw is never dropped because the syscall side missed it.

// hookState is the tracker's pairing state.
type hookState struct {
	pending map[uint32][]*bpf.SockAddr // per tid, since its last net syscall record
	// lastMmsg holds, per tid, the destinations of its last sendmmsg (one
	// per message that had a name), for the DNS payload records of that
	// call, which may arrive after its syscall record.
	lastMmsg map[uint32][]*bpf.SockAddr
	tgid     map[uint32]uint32 // tid -> tgid of the threads in the maps above
}

// maxPending bounds one thread's unpaired hook records; past it they are
// stored unpaired (never dropped).
const maxPending = 1024

const errEPERM = 1

// hookRecord handles a KindSockAddr or KindSAPayload record.
func (t *tracker) hookRecord(ev *bpf.Event) error {
	if t.hk.pending == nil {
		t.hk.pending = map[uint32][]*bpf.SockAddr{}
		t.hk.lastMmsg = map[uint32][]*bpf.SockAddr{}
		t.hk.tgid = map[uint32]uint32{}
	}
	t.hk.tgid[ev.Tid] = ev.Pid
	if ev.Kind == bpf.KindSAPayload {
		return t.mmsgDNS(ev)
	}
	p := append(t.hk.pending[ev.Tid], ev.Sock)
	if len(p) >= maxPending {
		delete(t.hk.pending, ev.Tid)
		return t.storeHooks(ev.Pid, ev.Tid, ev.TS, p, nil)
	}
	t.hk.pending[ev.Tid] = p
	return nil
}

// pairHooks is called for every syscall record. For connect, bind and the
// send calls with hook records pending it stores the events from the hooks
// and returns true (the record is done). Otherwise it stores whatever is
// pending as unpaired and returns false.
func (t *tracker) pairHooks(ev *bpf.Event, id bpf.SyscallID) (bool, error) {
	if id == bpf.SysSendmmsg {
		// Every message's DNS query comes as a KindSAPayload record; the
		// syscall record's payload (the first message) would repeat one.
		ev.Payload = nil
	}
	if len(t.hk.pending) == 0 {
		return false, nil
	}
	p, ok := t.hk.pending[ev.Tid]
	if !ok {
		return false, nil
	}
	delete(t.hk.pending, ev.Tid)
	switch id {
	case bpf.SysConnect, bpf.SysBind, bpf.SysSendto, bpf.SysSendmsg, bpf.SysSendmmsg:
	default:
		return false, t.storeHooks(ev.Pid, ev.Tid, ev.TS, p, nil)
	}
	if id == bpf.SysSendmmsg {
		t.hk.lastMmsg[ev.Tid] = p
	}
	return true, t.storeHooks(ev.Pid, ev.Tid, ev.TS, p, ev)
}

// flushHooks stores the unpaired hook records of every thread of a process
// (at its exit: e.g. the record of a connect killed at sys_exit).
func (t *tracker) flushHooks(pid uint32, ts uint64) error {
	for tid, tg := range t.hk.tgid {
		if tg != pid {
			continue
		}
		p := t.hk.pending[tid]
		delete(t.hk.pending, tid)
		delete(t.hk.lastMmsg, tid)
		delete(t.hk.tgid, tid)
		if err := t.storeHooks(pid, tid, ts, p, nil); err != nil {
			return err
		}
	}
	return nil
}

// storeHooks stores one network event per hook record. sys is the syscall
// record they belong to (nil: unpaired); its result is theirs, except that a
// refused address failed with EPERM, and for sendmmsg the messages past the
// count it returned were not sent.
func (t *tracker) storeHooks(pid, tid uint32, ts uint64, hooks []*bpf.SockAddr, sys *bpf.Event) error {
	idx := t.proc(pid, ts)
	at := t.rel(ts)
	mmsg := sys != nil && bpf.SyscallIDOf(int(sys.Nr)) == bpf.SysSendmmsg
	for i, h := range hooks {
		res := int64(0)
		if sys != nil {
			res = sys.Ret
			if mmsg && sys.Ret >= 0 && int64(i) >= sys.Ret {
				res = -errEPERM // not sent: the message the call stopped at
			}
		}
		verdict := store.NetAllowed
		switch h.Verdict {
		case bpf.Denied:
			res, verdict = -errEPERM, store.NetDenied
		case bpf.Killed:
			verdict = store.NetKilled
		}
		sa := hookAddr(h)
		e := store.NetEvent{Proc: idx, Family: sa.Family, SockType: h.Type, Address: sa.Address, Port: sa.Port, Result: res, TS: at, Verdict: verdict}
		switch {
		case h.Hook.IsConnect():
			e.Op = store.NetConnect
		case h.Hook.IsBind():
			e.Op = store.NetBind
		default:
			e.Op = store.NetSend
			// A DNS query sent by sendto/sendmsg: the name from the
			// syscall record's payload, the destination from the hook.
			// (sendmmsg payloads come as their own records.)
			if sys != nil && len(sys.Payload) > 0 && !mmsg {
				if q, ok := parseDNSQuery(sys.Payload, h.Type == 1); ok {
					e.Op, e.Domain, e.QType = store.NetDNS, q.Name, q.QType
					if err := t.sink.AddNet(e); err != nil {
						return err
					}
					continue
				}
				t.countMalformed(store.MalformedDNSQuery) // and stored below as a send
			}
			if !t.firstSend(e, h.Verdict != bpf.Allowed) {
				continue
			}
		}
		if err := t.sink.AddNet(e); err != nil {
			return err
		}
	}
	return nil
}

// firstSend applies the tracker's per-process send deduplication (see send)
// to a hook's send; denied sends are always kept.
func (t *tracker) firstSend(e store.NetEvent, keep bool) bool {
	k := sendKey{proc: e.Proc, family: e.Family, addr: e.Address, port: e.Port, failed: e.Result < 0}
	if _, seen := t.sent[k]; seen && !keep {
		return false
	}
	t.sent[k] = struct{}{}
	return true
}

// hookAddr decodes a hook's address: the judged absolute path for unix
// paths, else the sockaddr itself.
func hookAddr(h *bpf.SockAddr) sockaddr {
	sa := parseSockaddr(h.Addr)
	if sa.Family == 0 {
		sa.Family = h.Family
	}
	if h.Path != "" && sa.Family == linux.AF_UNIX {
		sa.Address = h.Path
	}
	return sa
}

// mmsgDNS stores the DNS query of one sendmmsg message. Its destination is
// the kernel's (the hook record of the same message) when the message had a
// name; otherwise the record's own, which is then the socket's connected
// peer (kernel state too).
func (t *tracker) mmsgDNS(ev *bpf.Event) error {
	r := ev.Sock
	q, ok := parseDNSQuery(r.Payload, false)
	if !ok {
		if len(r.Payload) > 0 {
			t.countMalformed(store.MalformedDNSQuery) // counted, never silently dropped
		}
		return nil
	}
	sa := parseSockaddr(r.Addr)
	dests := t.hk.pending[ev.Tid] // the syscall record has not come yet
	if len(dests) == 0 {
		dests = t.hk.lastMmsg[ev.Tid]
	}
	if r.Index < len(dests) && dests[r.Index].Hook.IsSend() {
		sa = hookAddr(dests[r.Index])
	}
	res := r.Ret
	if res >= 0 && int64(r.Index) >= res {
		res = -errEPERM
	}
	return t.sink.AddNet(store.NetEvent{Proc: t.proc(ev.Pid, ev.TS), Op: store.NetDNS, Family: sa.Family, SockType: 2,
		Address: sa.Address, Port: sa.Port, Domain: q.Name, QType: q.QType, Result: res, TS: t.rel(ev.TS)})
}

// unixAllow is where the sandbox's own unix sockets live: its private /tmp
// and /run, and the workspace (mounted at its symlink-resolved path).
// Connecting or sending to any other unix socket path is refused in the
// kernel and recorded denied: the rest of the tree is the host's read-only
// root, and a socket there is a host daemon's (issue 9).
func unixAllow(workspace string) []string {
	dirs := []string{"/tmp", "/run"}
	if ws, err := filepath.EvalSymlinks(workspace); err == nil {
		dirs = append(dirs, ws)
	} else if workspace != "" {
		dirs = append(dirs, filepath.Clean(workspace))
	}
	return dirs
}
