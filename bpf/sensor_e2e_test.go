package bpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestSensorEndToEnd(t *testing.T) {
	requireRoot(t)
	cg := newCgroup(t, "e2e")
	s := load(t, Config{CgroupID: cg.id})
	c := collect(s)

	dir := t.TempDir()
	port := closedPort(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}

	// Busy host work in another cgroup (ours) during the whole test.
	stopNoise := make(chan struct{})
	noiseDone := make(chan struct{})
	go func() {
		defer close(noiseDone)
		for {
			select {
			case <-stopNoise:
				return
			default:
			}
			exec.Command("/bin/sh", "-c", "echo x > "+filepath.Join(dir, "hostnoise")+"; cat /nonexistent-hostnoise 2>/dev/null; true").Run()
		}
	}()

	script := fmt.Sprintf(`cd %s && /bin/echo child-arg "two words" >/dev/null && echo hi > rel.txt && cat missing.txt 2>/dev/null; mv rel.txt renamed.txt && rm renamed.txt && exec %s`, dir, self)
	cmd := cg.command("/bin/sh", "-c", script)
	cmd.Env = append(os.Environ(), "BEHAVEDIFF_SENSOR_HELPER=net")
	cmd.Args = append(cmd.Args, "ignored") // $0 for sh
	cmd.Args = []string{"/bin/sh", "-c", script + " " + fmt.Sprint(port) + " " + dir}
	err = cmd.Run()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("workload: %v (want exit status 7)", err)
	}
	close(stopNoise)
	<-noiseDone
	evs := c.wait(t, s)
	if testing.Verbose() {
		dump(t, evs)
	}

	if len(evs) == 0 || evs[0].Kind != KindExec || evs[0].Filename != "/bin/sh" {
		t.Fatalf("first event must be the exec of /bin/sh (nothing before the first exec), got %+v", first(evs))
	}
	shPid := evs[0].Pid
	if evs[0].Argv[0] != "/bin/sh" || evs[0].Argv[1] != "-c" {
		t.Errorf("sh argv = %q", evs[0].Argv)
	}

	// Every event belongs to the container's process tree.
	tree := map[uint32]bool{shPid: true}
	for _, e := range evs {
		if e.Kind == KindFork && tree[e.Pid] {
			tree[e.Child] = true
		}
	}
	for _, e := range evs {
		if !tree[e.Pid] {
			t.Errorf("event from pid %d outside the cgroup: %+v", e.Pid, e)
		}
		for _, s := range append(e.Str[:], e.Base[0], e.Base[1], e.Resolved, e.Filename, e.Cwd) {
			if strings.Contains(s, "hostnoise") {
				t.Errorf("host activity leaked: %+v", e)
			}
		}
	}

	// exec of the child with argv and cwd.
	echo := find(evs, func(e Event) bool { return e.Kind == KindExec && e.Filename == "/bin/echo" })
	if echo == nil {
		t.Fatal("no exec of /bin/echo")
	}
	if want := []string{"/bin/echo", "child-arg", "two words"}; fmt.Sprint(echo.Argv) != fmt.Sprint(want) || echo.ArgvTruncated {
		t.Errorf("echo argv = %q (trunc %v), want %q", echo.Argv, echo.ArgvTruncated, want)
	}
	if echo.Cwd != dir {
		t.Errorf("echo cwd = %q, want %q", echo.Cwd, dir)
	}
	if echo.PPid != shPid || echo.UID != 0 {
		t.Errorf("echo ppid=%d uid=%d, want ppid %d uid 0", echo.PPid, echo.UID, shPid)
	}
	if find(evs, func(e Event) bool { return e.Kind == KindFork && e.Pid == shPid && e.Child == echo.Pid }) == nil {
		t.Errorf("no fork event sh -> echo")
	}
	if find(evs, func(e Event) bool { return e.Kind == KindExit && e.Pid == echo.Pid && e.ExitCode == 0 }) == nil {
		t.Errorf("no exit 0 of echo")
	}

	isCall := func(e Event, names ...string) bool {
		if e.Kind != KindSyscall {
			return false
		}
		for _, n := range names {
			if e.Nr == nr(t, n) {
				return true
			}
		}
		return false
	}
	// relative open with O_CREAT: Str is the text, Base the cwd, Resolved the file.
	open := find(evs, func(e Event) bool { return isCall(e, "open", "openat") && e.Str[0] == "rel.txt" })
	if open == nil {
		t.Fatal("no open of rel.txt")
	}
	if open.Ret < 0 || open.Base[0] != dir || open.Resolved != filepath.Join(dir, "rel.txt") || open.Args[2]&unix.O_CREAT == 0 {
		t.Errorf("open rel.txt: ret=%d base=%q resolved=%q flags=%#x", open.Ret, open.Base[0], open.Resolved, open.Args[2])
	}
	miss := find(evs, func(e Event) bool { return isCall(e, "open", "openat") && e.Str[0] == "missing.txt" })
	if miss == nil || miss.Ret != -int64(unix.ENOENT) || miss.Base[0] != dir || miss.Resolved != "" {
		t.Errorf("open missing.txt: %+v (want ENOENT, base %s)", miss, dir)
	}
	ren := find(evs, func(e Event) bool { return isCall(e, "rename", "renameat", "renameat2") })
	if ren == nil || ren.Ret != 0 || ren.Str != [2]string{"rel.txt", "renamed.txt"} || ren.Base != [2]string{dir, dir} {
		t.Errorf("rename: %+v", ren)
	}
	unl := find(evs, func(e Event) bool { return isCall(e, "unlink", "unlinkat") && e.Str[0] == "renamed.txt" })
	if unl == nil || unl.Ret != 0 || unl.Base[0] != dir {
		t.Errorf("unlink: %+v", unl)
	}
	dfd := find(evs, func(e Event) bool { return isCall(e, "openat") && e.Str[0] == "viadirfd.txt" })
	if dfd == nil || dfd.Ret < 0 || dfd.Base[0] != dir || dfd.Resolved != filepath.Join(dir, "viadirfd.txt") {
		t.Errorf("openat via dirfd: %+v", dfd)
	}

	// connect refused, with the address from user memory.
	conn := find(evs, func(e Event) bool {
		return isCall(e, "connect") && len(e.Addr) >= 8 && binary.BigEndian.Uint16(e.Addr[2:4]) == uint16(port)
	})
	if conn == nil {
		t.Fatalf("no connect to port %d", port)
	}
	if conn.Ret != -int64(unix.ECONNREFUSED) && conn.Ret != -int64(unix.EINPROGRESS) {
		t.Errorf("connect ret = %d", conn.Ret)
	}
	if !bytes.Equal(conn.Addr[4:8], []byte{127, 0, 0, 1}) || conn.SockFamily != unix.AF_INET || conn.SockType != unix.SOCK_STREAM {
		t.Errorf("connect addr=%x family=%d type=%d", conn.Addr, conn.SockFamily, conn.SockType)
	}
	if find(evs, func(e Event) bool {
		return isCall(e, "socket") && e.SockFamily == unix.AF_INET && e.SockType == unix.SOCK_STREAM
	}) == nil {
		t.Errorf("no socket(AF_INET, SOCK_STREAM)")
	}

	// DNS: sendto with an address, and write(2) on a connected UDP socket
	// (address synthesised from the socket).
	for _, name := range []string{"sendto", "write"} {
		dns := find(evs, func(e Event) bool { return isCall(e, name) && len(e.Payload) > 0 })
		if dns == nil {
			t.Errorf("no %s to port 53 with payload", name)
			continue
		}
		if len(dns.Addr) < 8 || binary.BigEndian.Uint16(dns.Addr[2:4]) != 53 || !bytes.Equal(dns.Addr[4:8], []byte{127, 0, 0, 1}) || dns.SockType != unix.SOCK_DGRAM {
			t.Errorf("dns %s addr=%x type=%d", name, dns.Addr, dns.SockType)
		}
		if !bytes.Equal(dns.Payload, dnsQuery()) || !bytes.Contains(dns.Payload, []byte("\x07updates\x07example\x03com")) {
			t.Errorf("dns %s payload = %q", name, dns.Payload)
		}
	}

	// unshare(CLONE_NEWUSER): recorded with its flags, whatever the result.
	if find(evs, func(e Event) bool { return isCall(e, "unshare") && e.Args[0]&unix.CLONE_NEWUSER != 0 }) == nil {
		t.Errorf("no unshare(CLONE_NEWUSER)")
	}

	// The helper replaced sh (exec without fork), so sh's pid exits with 7.
	exit := find(evs, func(e Event) bool { return e.Kind == KindExit && e.Pid == shPid })
	if exit == nil || exit.ExitCode != 7 || exit.Signal != 0 {
		t.Errorf("exit of %d: %+v, want code 7", shPid, exit)
	}

	lost, err := s.Lost()
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range lost {
		if v != 0 {
			t.Errorf("lost[%s] = %d", k, v)
		}
	}
}

func TestSyscallCounts(t *testing.T) {
	requireRoot(t)
	cg := newCgroup(t, "counts")
	s := load(t, Config{CgroupID: cg.id})
	c := collect(s)
	self, _ := os.Executable()
	const n = 5000
	cmd := cg.command(self, fmt.Sprint(n), "/nonexistent/behavediff-missing")
	cmd.Env = append(os.Environ(), "BEHAVEDIFF_SENSOR_HELPER=missing")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	c.wait(t, s)
	counts, err := s.SyscallCounts()
	if err != nil {
		t.Fatal(err)
	}
	openat := int(nr(t, "openat"))
	for _, k := range counts {
		if k.Pid == uint32(cmd.Process.Pid) && k.Nr == openat {
			if k.Count < n || k.Errors < n {
				t.Errorf("openat count=%d errors=%d, want >= %d", k.Count, k.Errors, n)
			}
			return
		}
	}
	t.Errorf("no openat counter for pid %d in %v", cmd.Process.Pid, counts)
}

// A tiny ring buffer and nobody reading: records are lost, and every loss
// is counted (delivered + lost == made, per class).
func TestLossAccounting(t *testing.T) {
	requireRoot(t)
	cg := newCgroup(t, "loss")
	s := load(t, Config{CgroupID: cg.id, RingBufBytes: 1}) // rounds up to one page
	self, _ := os.Executable()
	const n = 2000
	cmd := cg.command(self, fmt.Sprint(n), "/nonexistent/"+strings.Repeat("x", 200))
	cmd.Env = append(os.Environ(), "BEHAVEDIFF_SENSOR_HELPER=missing")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	// Only now start reading: the buffer overflowed long ago.
	c := collect(s)
	evs := c.wait(t, s)
	lost, err := s.Lost()
	if err != nil {
		t.Fatal(err)
	}
	if lost["file"] == 0 {
		t.Fatalf("lost = %v, want file losses", lost)
	}
	fileNrs := map[int32]bool{}
	for _, name := range []string{"open", "openat", "openat2", "creat", "execve", "execveat", "unlink", "unlinkat", "mkdir", "mkdirat", "chdir", "fchdir", "memfd_create"} {
		fileNrs[nr(t, name)] = true
	}
	var delivered uint64
	for _, e := range evs {
		if e.Kind == KindSyscall && fileNrs[e.Nr] {
			delivered++
		}
	}
	counts, _ := s.SyscallCounts()
	var made uint64
	execNrs := map[int32]bool{nr(t, "execve"): true, nr(t, "execveat"): true}
	for _, k := range counts {
		switch {
		case execNrs[int32(k.Nr)]:
			made += k.Errors // a successful exec is reported by the exec event, not a record
		case fileNrs[int32(k.Nr)]:
			made += k.Count
		}
	}
	t.Logf("made %d file syscalls, delivered %d, lost %d (%v)", made, delivered, lost["file"], lost)
	if delivered+lost["file"] != made {
		t.Errorf("silent drop: made %d != delivered %d + lost %d", made, delivered, lost["file"])
	}
	if made < n {
		t.Errorf("made = %d, want >= %d", made, n)
	}
}

func find(evs []Event, f func(Event) bool) *Event {
	for i := range evs {
		if f(evs[i]) {
			return &evs[i]
		}
	}
	return nil
}

func first(evs []Event) any {
	if len(evs) == 0 {
		return "no events"
	}
	return evs[0]
}

var _ = time.Second
