package bpf

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/behavediff/behavediff/internal/testenv"
)

// TestSockAddrExitRacingThreads attacks the sockaddr work that runs in the
// sensor's sys_exit (sa_exit.h): several threads send DNS queries with
// sendmmsg at once while another thread keeps connecting to an allowed unix
// socket (each connect leaves and takes a per-thread conn_sk entry), and
// the main thread finally connects to a host socket through a symlink.
// Every message's payload must be recorded once, under the thread that sent
// it, nothing lost; the allowed connects must never be taken for the
// symlinked one (no kill, no peer-check record for their thread); the
// symlinked connect must still be killed, and reported under its thread.
func TestSockAddrExitRacingThreads(t *testing.T) {
	requireRoot(t)
	cg := newCgroup(t, "saexit")
	allowed := t.TempDir()
	s := load(t, Config{CgroupID: cg.id, UnixAllow: []string{allowed}})
	c := collect(s)

	hostSock, link := hostSockBehindLink(t, allowed)
	const threads, rounds = 4, 25
	self, _ := os.Executable()
	cmd := cg.command(self, allowed, link, strconv.Itoa(threads), strconv.Itoa(rounds))
	cmd.Env = append(os.Environ(), "BEHAVEDIFF_SENSOR_HELPER=mmsg-race")
	cmd.SysProcAttr.Unshareflags = unix.CLONE_NEWNS // as in the sandbox
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !ee.ProcessState.Sys().(syscall.WaitStatus).Signaled() {
		t.Fatalf("helper should be killed at the symlinked connect: %v\n%s", err, out)
	}
	// "tid NAME N": which thread is which
	tids := map[string]uint32{}
	for _, m := range regexp.MustCompile(`(?m)^tid (\S+) (\d+)$`).FindAllStringSubmatch(string(out), -1) {
		n, _ := strconv.ParseUint(m[2], 10, 32)
		tids[m[1]] = uint32(n)
	}
	if len(tids) != threads+2 || !strings.Contains(string(out), fmt.Sprintf("allowed connects ok=%d", rounds)) {
		t.Fatalf("helper did not run every thread to the end:\n%s", out)
	}
	evs := c.wait(t, s)

	seen := map[string]int{}
	var kills []Event
	for _, e := range evs {
		if e.Sock == nil {
			continue
		}
		switch {
		case e.Kind == KindSAPayload:
			for th := 0; th < threads; th++ {
				for r := 0; r < rounds; r++ {
					for m := 0; m < 2; m++ {
						label := fmt.Sprintf("t%dr%dm%d", th, r, m)
						if !bytes.Contains(e.Sock.Payload, append([]byte{byte(len(label))}, label...)) {
							continue
						}
						seen[label]++
						if want := tids[fmt.Sprintf("mmsg%d", th)]; e.Tid != want {
							t.Errorf("payload %s recorded for tid %d, sent by %d", label, e.Tid, want)
						}
						if e.Sock.Ret != 2 || e.Sock.Index != m {
							t.Errorf("payload %s: ret %d index %d, want 2 and %d", label, e.Sock.Ret, e.Sock.Index, m)
						}
					}
				}
			}
		case e.Sock.Hook == HookPeerCheck:
			kills = append(kills, e)
		}
	}
	for th := 0; th < threads; th++ {
		for r := 0; r < rounds; r++ {
			for m := 0; m < 2; m++ {
				if label := fmt.Sprintf("t%dr%dm%d", th, r, m); seen[label] != 1 {
					t.Errorf("DNS payload %s recorded %d times, want 1", label, seen[label])
				}
			}
		}
	}
	if len(kills) != 1 || kills[0].Tid != tids["main"] || kills[0].Sock.Verdict != Killed || !strings.HasPrefix(string(kills[0].Sock.Addr[2:]), hostSock) {
		for _, k := range kills {
			t.Logf("peer check: tid %d %s", k.Tid, k.Sock.describe())
		}
		t.Errorf("%d peer-check records; want exactly 1, for the main thread (%d), killed, with the host socket's address", len(kills), tids["main"])
	}
	if lost, _ := s.Lost(); lost["sockaddr"]+lost["dns_mmsg"] != 0 {
		t.Errorf("lost %v", lost)
	}
}

// mmsgRaceHelper is the workload of TestSockAddrExitRacingThreads. args:
// allowed dir, symlink to the host socket, threads, rounds.
func mmsgRaceHelper(args []string) int {
	allowed, link := args[0], args[1]
	threads, _ := strconv.Atoi(args[2])
	rounds, _ := strconv.Atoi(args[3])
	runtime.LockOSThread() // the main thread makes the last connect
	in := filepath.Join(allowed, "in.sock")
	lfd, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	unix.Bind(lfd, &unix.SockaddrUnix{Name: in})
	unix.Listen(lfd, 4096)
	var mu sync.Mutex
	say := func(format string, a ...any) {
		mu.Lock()
		fmt.Fprintf(os.Stderr, format+"\n", a...)
		mu.Unlock()
	}
	say("tid main %d", unix.Gettid())
	start := make(chan struct{})
	var wg sync.WaitGroup
	for th := 0; th < threads; th++ {
		wg.Go(func() {
			runtime.LockOSThread()
			say("tid mmsg%d %d", th, unix.Gettid())
			fd, _ := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
			defer unix.Close(fd)
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
			<-start
			for r := 0; r < rounds; r++ {
				var qs [2][]byte
				var iov [2]iovec
				var msgs [2]mmsghdr
				for m := range msgs {
					qs[m] = dnsQueryFor(fmt.Sprintf("t%dr%dm%d.race.example", th, r, m))
					iov[m] = iovec{&qs[m][0], uint64(len(qs[m]))}
					msgs[m].hdr.Name = &sa[0]
					msgs[m].hdr.Namelen = 16
					msgs[m].hdr.Iov = (*unix.Iovec)(unsafePointer(&iov[m]))
					msgs[m].hdr.Iovlen = 1
				}
				n, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd), uintptr(unsafePointer(&msgs[0])), 2, 0, 0, 0)
				runtime.KeepAlive(qs)
				if n != 2 {
					say("sendmmsg t%d r%d: %d %v", th, r, n, e)
				}
			}
		})
	}
	wg.Go(func() {
		runtime.LockOSThread()
		say("tid connect %d", unix.Gettid())
		<-start
		ok := 0
		for r := 0; r < rounds; r++ {
			fd, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
			if unix.Connect(fd, &unix.SockaddrUnix{Name: in}) == nil {
				ok++
			}
			unix.Close(fd)
		}
		say("allowed connects ok=%d", ok)
	})
	close(start)
	wg.Wait()
	// last: the symlinked host socket. The path check passes; the peer check kills us.
	fd, _ := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	say("symlink: %s", errStr(unix.Connect(fd, &unix.SockaddrUnix{Name: link})))
	return 0
}

// dnsQueryFor is a minimal DNS query for name, type A.
func dnsQueryFor(name string) []byte {
	q := []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}
	for _, l := range strings.Split(name, ".") {
		q = append(q, byte(len(l)))
		q = append(q, l...)
	}
	return append(q, 0, 0, 1, 0, 1)
}

// TestSockAddrPeerCheckCompat: a unix connect through the i386
// socketcall (int $0x80) to a host socket behind a symlink in an allowed
// directory. The path check passes; the peer check after the connect must
// kill the caller although its sys_exit is a compat one (the syscall
// tracepoints it used to run in never fired for compat calls). The sandbox
// refuses compat calls with seccomp; this is the layer below.
func TestSockAddrPeerCheckCompat(t *testing.T) {
	requireRoot(t)
	if runtime.GOARCH != "amd64" {
		t.Skip("int $0x80 is x86")
	}
	testenv.RequireBinaries(t, "gcc")
	dir := t.TempDir()
	bin := filepath.Join(dir, "unixcompat")
	if msg, err := exec.Command("gcc", "-O2", "-static", "-no-pie", "-o", bin, filepath.Join("..", "testdata", "adversarial", "unixcompat.c")).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, msg)
	}
	cg := newCgroup(t, "sacompat")
	allowed := t.TempDir()
	s := load(t, Config{CgroupID: cg.id, UnixAllow: []string{allowed}})
	c := collect(s)
	hostSock, link := hostSockBehindLink(t, allowed)
	cmd := cg.command(bin, link)
	cmd.SysProcAttr.Unshareflags = unix.CLONE_NEWNS // as in the sandbox
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ProcessState.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("the compat connect through the symlink was not killed: %v\n%s", err, out)
	}
	evs := c.wait(t, s)
	var compat, kill bool
	for _, e := range evs {
		if e.Kind == KindSyscall && e.Compat && e.Nr == 102 {
			compat = true
		}
		if e.Sock != nil && e.Sock.Hook == HookPeerCheck && e.Sock.Verdict == Killed && strings.HasPrefix(string(e.Sock.Addr[2:]), hostSock) {
			kill = true
		}
	}
	if !compat {
		t.Error("no compat socketcall record (the test did not go through int $0x80)")
	}
	if !kill {
		t.Error("no peer-check record for the compat connect")
	}
}
