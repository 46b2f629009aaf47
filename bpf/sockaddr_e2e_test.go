package bpf

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/behavediff/behavediff/internal/socktest"
)

// TestSockAddrHooks runs a helper in a traced cgroup that connects, binds
// and sends over inet and unix sockets, and checks the hook records: the
// kernel's addresses, the unix policy's verdicts, and a sendmmsg whose every
// message is seen.
func TestSockAddrHooks(t *testing.T) {
	requireRoot(t)
	cg := newCgroup(t, "sockaddr")
	allowed := t.TempDir()
	s := load(t, Config{CgroupID: cg.id, UnixAllow: []string{allowed}})
	c := collect(s)
	hostSock, _ := hostSockBehindLink(t, allowed)

	port := closedPort(t)
	self, _ := os.Executable()
	cmd := cg.command(self, allowed, hostSock, "9", strconv.Itoa(port))
	cmd.Env = append(os.Environ(), "BEHAVEDIFF_SENSOR_HELPER=sockaddr")
	// Its own mount namespace, as in the sandbox: the host listener's mount
	// is then not one of the helper's.
	cmd.SysProcAttr.Unshareflags = unix.CLONE_NEWNS
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !ee.ProcessState.Sys().(syscall.WaitStatus).Signaled() {
		t.Fatalf("helper should be killed at the symlinked connect: %v\n%s", err, out)
	}
	t.Logf("helper output:\n%s", out)
	evs := c.wait(t, s)
	var recs []*SockAddr
	for _, e := range evs {
		if e.Sock != nil {
			t.Logf("%d/%d kind=%d %s", e.Pid, e.Tid, e.Kind, e.Sock.describe())
			recs = append(recs, e.Sock)
		}
	}
	has := func(what string, f func(*SockAddr) bool) {
		t.Helper()
		for _, r := range recs {
			if f(r) {
				return
			}
		}
		t.Errorf("no record: %s", what)
	}
	has("connect4 to the closed port", func(r *SockAddr) bool {
		return r.Hook == HookConnect4 && r.Verdict == Allowed && len(r.Addr) == 16 && int(r.Addr[2])<<8|int(r.Addr[3]) == port && r.Addr[4] == 127
	})
	has("bind4", func(r *SockAddr) bool { return r.Hook == HookBind4 })
	has("unix connect inside the allowed dir, allowed", func(r *SockAddr) bool {
		return r.Hook == HookConnectUnix && r.Verdict == Allowed && r.Path == filepath.Join(allowed, "in.sock")
	})
	has("relative unix connect joined to the cwd", func(r *SockAddr) bool {
		return r.Hook == HookConnectUnix && r.Verdict == Allowed && r.Path == filepath.Join(allowed, "in.sock") && len(r.Addr) > 9 && string(r.Addr[2:9]) == "in.sock"
	})
	has("host socket denied", func(r *SockAddr) bool {
		return r.Hook == HookConnectUnix && r.Verdict == Denied && r.Path == hostSock
	})
	has("dotdot denied", func(r *SockAddr) bool {
		return r.Hook == HookConnectUnix && r.Verdict == Denied && strings.Contains(r.Path, "/../")
	})
	has("sendto unix denied", func(r *SockAddr) bool {
		return r.Hook == HookSendmsgUnix && r.Verdict == Denied && r.Path == hostSock
	})
	has("abstract name in the host netns denied", func(r *SockAddr) bool {
		return r.Hook == HookConnectUnix && r.Verdict == Denied && len(r.Addr) > 3 && r.Addr[2] == 0
	})
	has("symlinked host socket: killed, with the peer's own address", func(r *SockAddr) bool {
		return r.Hook == HookPeerCheck && r.Verdict == Killed && strings.HasPrefix(string(r.Addr[2:]), hostSock)
	})
	var mm, dns int
	for _, r := range recs {
		if r.Hook == HookSendmsg4 && len(r.Addr) == 16 && r.Addr[2] == 0 && r.Addr[3] == 53 {
			mm++
		}
		if r.Payload != nil {
			dns++
		}
	}
	if mm != 2 || dns != 2 {
		t.Errorf("sendmmsg of two DNS queries: %d sendmsg4 records, %d payloads; want 2 and 2", mm, dns)
	}
	if lost, _ := s.Lost(); lost["sockaddr"]+lost["dns_mmsg"] != 0 {
		t.Errorf("lost %v", lost)
	}
}

// sockaddrHelper is the workload of TestSockAddrHooks. args: allowed dir,
// host socket path, unused, closed TCP port.
func sockaddrHelper(args []string) int {
	allowed, hostSock := args[0], args[1]
	port, _ := strconv.Atoi(args[3])
	fd, _ := unix.Socket(unix.AF_INET, unix.SOCK_STREAM, 0)
	unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
	err := unix.Connect(fd, &unix.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}})
	println("connect4:", errStr(err))
	unix.Close(fd)

	// unix: a listener inside the allowed dir, reached by absolute and relative path
	in := filepath.Join(allowed, "in.sock")
	lfd, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	unix.Bind(lfd, &unix.SockaddrUnix{Name: in})
	unix.Listen(lfd, 8)
	try := func(name string) error {
		fd, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
		defer unix.Close(fd)
		return unix.Connect(fd, &unix.SockaddrUnix{Name: name})
	}
	println("in abs:", errStr(try(in)))
	os.Chdir(allowed)
	println("in rel:", errStr(try("in.sock")))
	println("host:", errStr(try(hostSock)))
	println("dotdot:", errStr(try(allowed+"/../"+filepath.Base(allowed)+"/in.sock")))
	println("abstract:", errStr(try("@behavediff-test-abstract")))
	dfd, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM, 0)
	println("sendto host:", errStr(unix.Sendto(dfd, []byte("x"), 0, &unix.SockaddrUnix{Name: hostSock})))

	// sendmmsg: two DNS queries, unconnected, in one call
	ufd, _ := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	q := dnsQuery()
	sa := [16]byte{2, 0, 0, 53, 127, 0, 0, 1}
	type iovec struct {
		base *byte
		len  uint64
	}
	type mmsghdr struct {
		hdr unix.Msghdr
		n   uint32
		_   uint32
	}
	iov := [2]iovec{{&q[0], uint64(len(q))}, {&q[0], uint64(len(q))}}
	var msgs [2]mmsghdr
	for i := range msgs {
		msgs[i].hdr.Name = &sa[0]
		msgs[i].hdr.Namelen = 16
		msgs[i].hdr.Iov = (*unix.Iovec)(unsafePointer(&iov[i]))
		msgs[i].hdr.Iovlen = 1
	}
	n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(ufd), uintptr(unsafePointer(&msgs[0])), 2, 0, 0, 0)
	println("sendmmsg:", n, e)

	// last: the symlinked host socket. The path check passes; the peer check kills us.
	println("symlink:", errStr(try(filepath.Join(allowed, "link.sock"))))
	return 0
}

func errStr(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func TestUnixPrefixes(t *testing.T) {
	long := "/" + strings.Repeat("d", 300)
	got, err := unixPrefixes([]string{"/tmp", "/run/../run/", "/", long})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range got {
		b := make([]byte, p.Len)
		for i := range b {
			b[i] = byte(p.P[i])
		}
		names = append(names, string(b))
	}
	if strings.Join(names, " ") != "/tmp/ /run/ /" {
		t.Errorf("prefixes %q, want /tmp/ /run/ / (the too-long one left out)", names)
	}
	if _, err := unixPrefixes([]string{"tmp"}); err == nil {
		t.Error("relative directory accepted")
	}
	if _, err := unixPrefixes([]string{"/a", "/b", "/c", "/d", "/e"}); err == nil {
		t.Error("five directories accepted (the table has four)")
	}
}

// hostSockBehindLink starts a listener outside the cgroup and outside every
// allowed directory (the "host"), accepting and closing each connection
// until the test ends, and plants a symlink to it at allowed/link.sock: the
// host socket is then reachable by an allowed path only through the link.
// It returns the socket's path and the link's.
func hostSockBehindLink(t *testing.T, allowed string) (hostSock, link string) {
	t.Helper()
	hostSock = filepath.Join(t.TempDir(), "host.sock")
	socktest.Listen(t, hostSock, "unix")
	link = filepath.Join(allowed, "link.sock")
	if err := os.Symlink(hostSock, link); err != nil {
		t.Fatal(err)
	}
	return hostSock, link
}
