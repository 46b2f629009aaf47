package bpf

import (
	"bufio"
	"errors"
	"fmt"
	"github.com/behavediff/behavediff/internal/testenv"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The tests load real programs: they need root, BTF and a cgroup2 mount.

func requireRoot(t *testing.T) {
	t.Helper()
	testenv.RequireRoot(t, "loading eBPF programs and creating cgroups")
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		testenv.Unavailable(t, "needs kernel BTF (/sys/kernel/btf/vmlinux)")
	}
}

// cgroup2Mount finds the cgroup v2 mount point from /proc/self/mountinfo.
func cgroup2Mount(t *testing.T) string {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent maj:min root mountpoint opts... - fstype source superopts
		line := sc.Text()
		sep := strings.Index(line, " - ")
		if sep < 0 {
			continue
		}
		post := strings.Fields(line[sep+3:])
		pre := strings.Fields(line[:sep])
		if len(post) > 0 && post[0] == "cgroup2" && len(pre) > 4 {
			return pre[4]
		}
	}
	testenv.Unavailable(t, "no cgroup2 mount")
	return ""
}

// testCgroup is a fresh cgroup v2 directory, removed after the test.
type testCgroup struct {
	dir string
	id  uint64
	fd  int
}

func newCgroup(t *testing.T, name string) *testCgroup {
	t.Helper()
	dir := filepath.Join(cgroup2Mount(t), fmt.Sprintf("behavediff-test-%s-%d", name, os.Getpid()))
	os.Remove(dir)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("create cgroup: %v", err)
	}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	fd, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	cg := &testCgroup{dir: dir, id: st.Ino, fd: fd}
	t.Cleanup(func() {
		unix.Close(fd)
		// Processes may take a moment to leave after exiting.
		for i := 0; i < 100; i++ {
			if err := os.Remove(dir); err == nil || errors.Is(err, os.ErrNotExist) {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		t.Errorf("could not remove cgroup %s", dir)
	})
	return cg
}

// command returns cmd set up to start directly inside the cgroup
// (clone3 CLONE_INTO_CGROUP), so its first exec happens there.
func (cg *testCgroup) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: cg.fd}
	return cmd
}

// collector reads events in the background.
type collector struct {
	mu     sync.Mutex
	events []Event
	done   chan error
}

func collect(s *Sensor) *collector {
	c := &collector{done: make(chan error, 1)}
	go func() {
		for {
			ev, err := s.Read()
			if err != nil {
				if errors.Is(err, ErrDrained) {
					err = nil
				}
				c.done <- err
				return
			}
			c.mu.Lock()
			c.events = append(c.events, ev)
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *collector) wait(t *testing.T, s *Sensor) []Event {
	t.Helper()
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case err := <-c.done:
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not return ErrDrained after Stop")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.events
}

func load(t *testing.T, cfg Config) *Sensor {
	t.Helper()
	s, err := Load(cfg)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func nr(t *testing.T, name string) int32 {
	t.Helper()
	n, ok := SyscallNr(name)
	if !ok {
		t.Fatalf("no syscall %q", name)
	}
	return int32(n)
}

func dump(t *testing.T, evs []Event) {
	t.Helper()
	for _, e := range evs {
		switch e.Kind {
		case KindSyscall:
			t.Logf("%d/%d %s ret=%d str=%q base=%q res=%q addr=%x fam=%d type=%d payload=%dB args=%x", e.Pid, e.Tid, SyscallName(int(e.Nr)), e.Ret, e.Str, e.Base, e.Resolved, e.Addr, e.SockFamily, e.SockType, len(e.Payload), e.Args[:3])
		case KindExec:
			t.Logf("%d exec %q argv=%q cwd=%q ppid=%d uid=%d", e.Pid, e.Filename, e.Argv, e.Cwd, e.PPid, e.UID)
		case KindFork:
			t.Logf("%d fork -> %d", e.Pid, e.Child)
		case KindExit:
			t.Logf("%d exit code=%d sig=%d", e.Pid, e.ExitCode, e.Signal)
		}
	}
}

// closedPort returns a loopback TCP port nobody listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// The test binary doubles as the workload: re-executed with
// BEHAVEDIFF_SENSOR_HELPER set, it performs the syscalls the tests expect.
func TestMain(m *testing.M) {
	if mode := os.Getenv("BEHAVEDIFF_SENSOR_HELPER"); mode != "" {
		os.Exit(helper(mode, os.Args[1:]))
	}
	os.Exit(m.Run())
}

// dnsQuery is a minimal DNS query for updates.example.com, type A.
func dnsQuery() []byte { return dnsQueryFor("updates.example.com") }

func helper(mode string, args []string) int {
	switch mode {
	case "net": // args: closed TCP port, dir
		// A relative open through a dirfd.
		dfd, err := unix.Open(args[1], unix.O_DIRECTORY|unix.O_RDONLY, 0)
		if err == nil {
			if fd, err := unix.Openat(dfd, "viadirfd.txt", unix.O_CREAT|unix.O_WRONLY, 0o644); err == nil {
				unix.Close(fd)
			}
		}
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+args[0], time.Second); err == nil {
			c.Close()
		}
		// DNS: sendto with an explicit address, then write(2) on a
		// connected socket (what Go's own resolver does).
		if fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0); err == nil {
			unix.Sendto(fd, dnsQuery(), 0, &unix.SockaddrInet4{Port: 53, Addr: [4]byte{127, 0, 0, 1}})
			unix.Close(fd)
		}
		if c, err := net.Dial("udp", "127.0.0.1:53"); err == nil {
			c.Write(dnsQuery())
			c.Close()
		}
		unix.Unshare(unix.CLONE_NEWUSER)
		return 7
	case "loop": // args: stat|open, count (BenchmarkSysExitCost)
		var n int
		fmt.Sscan(args[1], &n)
		path := "/etc/hostname"
		var st unix.Stat_t
		t0 := time.Now()
		for i := 0; i < n; i++ {
			if args[0] == "stat" {
				unix.Stat(path, &st)
			} else if fd, err := unix.Open(path, unix.O_RDONLY, 0); err == nil {
				unix.Close(fd)
			}
		}
		fmt.Printf("loop_ns=%d\n", time.Since(t0).Nanoseconds())
		return 0
	case "sockaddr":
		return sockaddrHelper(args)
	case "mmsg-race":
		return mmsgRaceHelper(args)
	case "open": // args: paths, each opened read-only once
		for _, p := range args {
			if fd, err := unix.Open(p, unix.O_RDONLY, 0); err == nil {
				unix.Close(fd)
			}
		}
		return 0
	case "highfd": // args: dir
		return highFDHelper(args[0])
	case "missing": // args: count, path
		var n int
		fmt.Sscan(args[0], &n)
		for i := 0; i < n; i++ {
			if fd, err := unix.Open(args[1], unix.O_RDONLY, 0); err == nil {
				unix.Close(fd)
			}
		}
		return 0
	}
	return 2
}

func TestKernelVersion(t *testing.T) {
	for _, c := range []struct {
		release      string
		major, minor int
		ok           bool
	}{
		{"6.18.0-1-amd64", 6, 18, true},
		{"6.17-rc1", 6, 17, true},
		{"5.15.0", 5, 15, true},
		{"6.9.12+bpo", 6, 9, true},
		{"6", 0, 0, false},
		{"", 0, 0, false},
		{"x.y", 0, 0, false},
	} {
		major, minor, ok := kernelVersion(c.release)
		if major != c.major || minor != c.minor || ok != c.ok {
			t.Errorf("kernelVersion(%q) = %d, %d, %v; want %d, %d, %v", c.release, major, minor, ok, c.major, c.minor, c.ok)
		}
	}
}
