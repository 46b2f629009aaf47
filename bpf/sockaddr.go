package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path"
	"strings"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Record kinds of the sockaddr object (sockaddr.bpf.c); they share the
// sensor's ring buffer and are told apart from its records by kind.
const (
	KindSockAddr  Kind = Kind(sockaddrSaKindKIND_SOCKADDR)   // an address the kernel is about to use (Event.Sock)
	KindSAPayload Kind = Kind(sockaddrSaKindKIND_SA_PAYLOAD) // one sendmmsg message sent to port 53 (Event.Sock)
)

// Hook names the kernel point that produced a KindSockAddr record.
type Hook uint8

const (
	HookConnect4     = Hook(sockaddrSaHookSA_CONNECT4)
	HookConnect6     = Hook(sockaddrSaHookSA_CONNECT6)
	HookSendmsg4     = Hook(sockaddrSaHookSA_SENDMSG4)
	HookSendmsg6     = Hook(sockaddrSaHookSA_SENDMSG6)
	HookConnectUnix  = Hook(sockaddrSaHookSA_CONNECT_UNIX)
	HookSendmsgUnix  = Hook(sockaddrSaHookSA_SENDMSG_UNIX)
	HookBind4        = Hook(sockaddrSaHookSA_BIND4)
	HookBind6        = Hook(sockaddrSaHookSA_BIND6)
	HookPeerCheck    = Hook(sockaddrSaHookSA_PEER_CHECK) // sys_exit of a unix connect that reached another cgroup's socket
	verdictAllow     = uint8(sockaddrSaVerdictSA_ALLOW)
	verdictDeny      = uint8(sockaddrSaVerdictSA_DENY)
	verdictKill      = uint8(sockaddrSaVerdictSA_KILL)
	saHeadSize       = int(unsafe.Offsetof(sockaddrSaEvent{}.Path))
	saPayloadMaxMsgs = 16 // SA_MMSG_MAX
)

// IsConnect, IsSend and IsBind say which syscall family a hook belongs to.
func (h Hook) IsConnect() bool {
	return h == HookConnect4 || h == HookConnect6 || h == HookConnectUnix || h == HookPeerCheck
}
func (h Hook) IsSend() bool { return h == HookSendmsg4 || h == HookSendmsg6 || h == HookSendmsgUnix }
func (h Hook) IsBind() bool { return h == HookBind4 || h == HookBind6 }

// Verdict is what the hook decided.
type Verdict uint8

const (
	Allowed Verdict = Verdict(verdictAllow)
	Denied  Verdict = Verdict(verdictDeny) // refused in the hook: the syscall failed with EPERM
	Killed  Verdict = Verdict(verdictKill) // too late to refuse: the caller was SIGKILLed at sys_exit
)

func (v Verdict) String() string {
	switch v {
	case Allowed:
		return "allowed"
	case Denied:
		return "denied"
	case Killed:
		return "killed"
	}
	return fmt.Sprintf("verdict_%d", uint8(v))
}

// DenyReason says why a unix address was refused.
type DenyReason uint8

var denyReasons = map[DenyReason]string{
	DenyReason(sockaddrSaReasonSA_R_OUTSIDE):       "outside the sandbox's /tmp, /run and workspace",
	DenyReason(sockaddrSaReasonSA_R_DOTDOT):        "path with a .. component",
	DenyReason(sockaddrSaReasonSA_R_UNKNOWN_CWD):   "relative path from a working directory that could not be walked",
	DenyReason(sockaddrSaReasonSA_R_HOST_ABSTRACT): "abstract socket in the host's network namespace",
	DenyReason(sockaddrSaReasonSA_R_PEER_OUTSIDE):  "peer socket created outside the sandbox",
}

func (r DenyReason) String() string {
	if r == 0 {
		return ""
	}
	if s, ok := denyReasons[r]; ok {
		return s
	}
	return fmt.Sprintf("reason_%d", uint8(r))
}

// SockAddr is a record of the sockaddr object. For KindSockAddr: Addr is a
// struct sockaddr as the kernel used it (its own copy, not the caller's
// buffer); Path, for unix paths, the absolute path the policy judged. For
// KindSAPayload: message Index of a sendmmsg call that returned Ret, sent to
// Addr (the socket's peer, or the message's own name read from user
// memory), whose first bytes are Payload.
type SockAddr struct {
	Hook     Hook
	Verdict  Verdict
	Reason   DenyReason
	Family   uint16
	Type     uint16
	Protocol uint16
	Addr     []byte
	Path     string

	Index   int
	Ret     int64
	Payload []byte
}

func decodeSockAddr(raw []byte, ev Event) (Event, error) {
	switch ev.Kind {
	case KindSockAddr:
		if len(raw) < saHeadSize {
			return ev, fmt.Errorf("bpf: short sockaddr record (%d < %d bytes)", len(raw), saHeadSize)
		}
		var x sockaddrSaEvent
		copy(unsafe.Slice((*byte)(unsafe.Pointer(&x)), unsafe.Sizeof(x)), raw)
		if int(x.AddrLen) > len(x.Addr) || int(x.PathLen) > len(x.Path) || saHeadSize+int(x.PathLen) > len(raw) {
			return ev, fmt.Errorf("bpf: sockaddr record claims %d address and %d path bytes in %d", x.AddrLen, x.PathLen, len(raw))
		}
		ev.Sock = &SockAddr{
			Hook: Hook(x.Hook), Verdict: Verdict(x.Verdict), Reason: DenyReason(x.Reason),
			Family: x.Family, Type: x.Type, Protocol: x.Protocol,
			Addr: clone(x.Addr[:x.AddrLen]),
			Path: string(raw[saHeadSize : saHeadSize+int(x.PathLen)]),
		}
	case KindSAPayload:
		var x sockaddrSaPayload
		if err := fixed(raw, &x); err != nil {
			return ev, err
		}
		if int(x.AddrLen) > len(x.Addr) || int(x.Len) > len(x.Data) {
			return ev, fmt.Errorf("bpf: payload record claims %d address and %d data bytes", x.AddrLen, x.Len)
		}
		ev.Sock = &SockAddr{Index: int(x.Idx), Ret: x.Ret, Addr: clone(x.Addr[:x.AddrLen]), Payload: clone(x.Data[:x.Len])}
		if len(ev.Sock.Addr) >= 2 {
			ev.Sock.Family = binary.LittleEndian.Uint16(ev.Sock.Addr)
		}
	}
	return ev, nil
}

// sockAddr is the loaded sockaddr object and its attachments.
type sockAddr struct {
	objs        sockaddrObjects
	links       []link.Link
	attachTypes map[string]ebpf.AttachType // per program, from the object's sections
}

// saLossClasses names the indexes of the object's loss counters (as Lost
// reports them).
var saLossClasses = map[sockaddrSaLoss]string{
	sockaddrSaLossSA_LOSS_HOOK: "sockaddr",
	sockaddrSaLossSA_LOSS_DNS:  "dns_mmsg",
}

// saShared are the maps the sockaddr object's cgroup hooks and their
// sys_exit half in the sensor (sa_exit.h) both use (sa_shared.h): made once,
// handed to both loads.
type saShared struct {
	connSk *ebpf.Map // tid -> socket of its unix connect in progress
	saLost *ebpf.Map // enum sa_loss counters
}

// newSAShared parses the embedded sockaddr object and makes its shared maps.
func newSAShared() (*ebpf.CollectionSpec, saShared, error) {
	spec, err := loadSockaddr()
	if err != nil {
		return nil, saShared{}, fmt.Errorf("bpf: parse embedded sockaddr object: %w", err)
	}
	var sh saShared
	if sh.connSk, err = ebpf.NewMap(spec.Maps["conn_sk"]); err != nil {
		return nil, saShared{}, fmt.Errorf("bpf: map conn_sk: %w", err)
	}
	if sh.saLost, err = ebpf.NewMap(spec.Maps["sa_lost"]); err != nil {
		sh.close()
		return nil, saShared{}, fmt.Errorf("bpf: map sa_lost: %w", err)
	}
	return spec, sh, nil
}

// replacements are the maps a load takes instead of its own: the ring
// buffer and the shared ones.
func (sh saShared) replacements(events *ebpf.Map) map[string]*ebpf.Map {
	return map[string]*ebpf.Map{"events": events, "conn_sk": sh.connSk, "sa_lost": sh.saLost}
}

// close drops the loader's references; each loaded collection keeps its own.
func (sh saShared) close() {
	for _, m := range []*ebpf.Map{sh.connSk, sh.saLost} {
		if m != nil {
			m.Close()
		}
	}
}

// loadSockAddr loads the sockaddr object (spec, from newSAShared) with
// events as its ring buffer and the shared maps (kernel: the kernel BTF
// cache it shares with the sensor's load). It attaches nothing: its cgroup
// hooks wait for attachCgroup, and its sys_exit half is in the sensor.
func loadSockAddr(cfg Config, spec *ebpf.CollectionSpec, events *ebpf.Map, shared saShared, kernel *btf.Cache) (*sockAddr, error) {
	spec.Maps["events"].MaxEntries = events.MaxEntries()
	prefixes, err := unixPrefixes(cfg.UnixAllow)
	if err != nil {
		return nil, err
	}
	var table [4]sockaddrSaPrefix // N_PREFIX
	copy(table[:], prefixes)
	if err := setVar(spec, "unix_allow", table); err != nil {
		return nil, err
	}
	if cfg.UnixAllow != nil {
		if err := setVar(spec, "unix_policy", uint8(1)); err != nil {
			return nil, err
		}
		cookie, err := netnsCookie()
		if err != nil {
			return nil, err
		}
		if err := setVar(spec, "host_netns_cookie", cookie); err != nil {
			return nil, err
		}
	}
	sa := &sockAddr{attachTypes: map[string]ebpf.AttachType{}}
	for name, ps := range spec.Programs {
		sa.attachTypes[name] = ps.AttachType // from the ELF section name
	}
	opts := &ebpf.CollectionOptions{MapReplacements: shared.replacements(events), Cache: kernel}
	if err := spec.LoadAndAssign(&sa.objs, opts); err != nil {
		return nil, loadError(err)
	}
	return sa, nil
}

// attachCgroup attaches the cgroup hooks to cg. The sensor's gate (its
// target_cgroup) covers their sys_exit half.
func (sa *sockAddr) attachCgroup(cg *os.File) error {
	cgPath := fmt.Sprintf("/proc/self/fd/%d", cg.Fd())
	hooks := []struct {
		name string
		p    *ebpf.Program
	}{
		{"connect4", sa.objs.Connect4}, {"connect6", sa.objs.Connect6},
		{"sendmsg4", sa.objs.Sendmsg4}, {"sendmsg6", sa.objs.Sendmsg6},
		{"bind4", sa.objs.Bind4}, {"bind6", sa.objs.Bind6},
		{"connect_unix", sa.objs.ConnectUnix}, {"sendmsg_unix", sa.objs.SendmsgUnix},
	}
	for _, h := range hooks {
		l, err := link.AttachCgroup(link.CgroupOptions{Path: cgPath, Attach: sa.attachTypes[h.name], Program: h.p})
		if err != nil {
			return fmt.Errorf("bpf: attach cgroup/%s: %w", h.name, err)
		}
		sa.links = append(sa.links, l)
	}
	return nil
}

// unixPrefixes turns the allowed directories into the object's prefix
// table: absolute, cleaned, ending in '/'. A directory too long for the
// table is left out: the paths the hook judges are at most 255 bytes of cwd
// plus a 108-byte sun_path, and leaving it out only refuses sockets under it
// (fails closed) instead of failing the whole recording.
func unixPrefixes(dirs []string) ([]sockaddrSaPrefix, error) {
	var out []sockaddrSaPrefix
	for _, d := range dirs {
		if !path.IsAbs(d) {
			return nil, fmt.Errorf("bpf: unix allow directory %q is not absolute", d)
		}
		d = path.Clean(d)
		if d != "/" {
			d += "/"
		}
		var p sockaddrSaPrefix
		if len(d) >= len(p.P) { // room for the NUL bpf_strncmp needs
			continue
		}
		for i := 0; i < len(d); i++ {
			p.P[i] = int8(d[i])
		}
		p.Len = uint32(len(d))
		out = append(out, p)
	}
	if len(out) > 4 { // N_PREFIX
		return nil, fmt.Errorf("bpf: at most 4 unix allow directories, got %d", len(out))
	}
	return out, nil
}

// netnsCookie is the cookie of the network namespace behavediff runs in
// (the host's): abstract unix names there are the host's own.
func netnsCookie() (uint64, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("bpf: netns cookie: %w", err)
	}
	defer unix.Close(fd)
	c, err := unix.GetsockoptUint64(fd, unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
	if err != nil {
		return 0, fmt.Errorf("bpf: netns cookie: %w", err)
	}
	return c, nil
}

// openCgroup opens the cgroup v2 directory with the given id by file handle
// (cgroupfs hands out its ids as handles), so callers need only the id.
func openCgroup(id uint64) (*os.File, error) {
	for _, mnt := range []string{"/sys/fs/cgroup", "/sys/fs/cgroup/unified"} {
		var st unix.Statfs_t
		if err := unix.Statfs(mnt, &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
			continue
		}
		mfd, err := unix.Open(mnt, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("bpf: open %s: %w", mnt, err)
		}
		defer unix.Close(mfd)
		var b [8]byte
		binary.NativeEndian.PutUint64(b[:], id)
		const fileidKernfs = 0xfe
		fd, err := unix.OpenByHandleAt(mfd, unix.NewFileHandle(fileidKernfs, b[:]), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC)
		if err != nil {
			return nil, fmt.Errorf("bpf: open cgroup %d: %w", id, err)
		}
		return os.NewFile(uintptr(fd), fmt.Sprintf("cgroup-%d", id)), nil
	}
	return nil, errors.New("bpf: no cgroup2 filesystem at /sys/fs/cgroup or /sys/fs/cgroup/unified")
}

// lost adds the object's loss counters to out.
func (sa *sockAddr) lost(out map[string]uint64) error {
	for idx, name := range saLossClasses {
		var perCPU []uint64
		if err := sa.objs.SaLost.Lookup(uint32(idx), &perCPU); err != nil {
			return fmt.Errorf("bpf: read loss counter %s: %w", name, err)
		}
		var sum uint64
		for _, n := range perCPU {
			sum += n
		}
		out[name] += sum
	}
	return nil
}

// detach closes the attachments: no new records, policy off.
func (sa *sockAddr) detach() error {
	err := closeLinks(sa.links)
	sa.links = nil
	return err
}

func (sa *sockAddr) close() error {
	return errors.Join(sa.detach(), sa.objs.Close())
}

// describe is a one-line summary of a record, for test logs.
func (s *SockAddr) describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "hook=%d verdict=%s fam=%d type=%d addr=%x", s.Hook, s.Verdict, s.Family, s.Type, s.Addr)
	if s.Path != "" {
		fmt.Fprintf(&b, " path=%q", s.Path)
	}
	if s.Reason != 0 {
		fmt.Fprintf(&b, " reason=%q", s.Reason)
	}
	if s.Payload != nil {
		fmt.Fprintf(&b, " idx=%d ret=%d payload=%dB", s.Index, s.Ret, len(s.Payload))
	}
	return b.String()
}
