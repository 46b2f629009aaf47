package recorder

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/behavediff/behavediff/internal/socktest"
	"github.com/behavediff/behavediff/store"
)

// buildProbe compiles testdata/adversarial/sockaddr.c, static, into dir.
func buildProbe(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "probe")
	if msg, err := exec.Command("gcc", "-O2", "-static", "-pthread", "-o", out, filepath.Join("..", "testdata", "adversarial", "sockaddr.c")).CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, msg)
	}
	return out
}

// hostSocketDir makes a 0755 directory of the host, outside the sandbox,
// for the unix sockets of one test, removed at its end.
func hostSocketDir(t *testing.T, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("/var/tmp", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	return dir
}

// TestRecordSockAddrAdversarial attacks the recorded addresses and the host
// unix socket policy from inside a real sandbox: racing threads rewrite the
// sockaddr of blocking connects (the stored address must be the kernel's,
// never the decoy), sendmmsg sends two DNS queries per call (both names
// stored), and host unix sockets are reached by path, relative path, "..",
// datagram and symlinks (refused or killed, recorded, and no byte arrives).
func TestRecordSockAddrAdversarial(t *testing.T) {
	requireRoot(t)
	ws := t.TempDir()
	probe := buildProbe(t, ws)
	hostDir := hostSocketDir(t, "bd-sockaddr-")
	// Bound after the sandbox is created (so not masked, see the sandbox's
	// TestHostSocketsMasked) and world-writable (so the user namespace does
	// not stop them by permission, see TestRecordHostSocketNotWritable): the
	// eBPF policy alone must.
	var host, gram *socktest.Listener
	stdin := lateBind(func() {
		host = socktest.Listen(t, filepath.Join(hostDir, "host.sock"), "unix")
		gram = socktest.Listen(t, filepath.Join(hostDir, "dgram.sock"), "unixgram")
		for _, p := range []string{host.Path, gram.Path} {
			if err := os.Chmod(p, 0o777); err != nil {
				t.Error(err)
			}
		}
	})
	if err := os.Symlink(filepath.Join(hostDir, "host.sock"), filepath.Join(ws, "link.sock")); err != nil {
		t.Fatal(err)
	}
	const races = 20
	script := fmt.Sprintf(`
read go
P=%[1]s
$P race-unix %[2]d /tmp/real.sock /tmp/decoy.sock
$P race-inet 10 18081 18082
$P mmsg
$P echo /tmp
$P connect %[3]s/host.sock LEAK
$P sendto %[3]s/dgram.sock
(cd %[3]s && $P connect host.sock LEAK)
$P connect /tmp/../%[3]s/host.sock LEAK
ln -s %[3]s/host.sock /tmp/l.sock
$P connect /tmp/l.sock LEAK
echo "tmp-symlink exit $?"
$P connect %[4]s/link.sock LEAK
echo "ws-symlink exit $?"
$P dup2-race /tmp/l.sock
echo "dup2-race exit $?"
exit 0
`, probe, races, hostDir, ws)
	writeFile(t, filepath.Join(ws, "run.sh"), script)
	r := record(t, ws, Spec{Args: []string{"/bin/sh", "./run.sh"}}, func(o *Options) { o.Stdin = stdin })
	t.Logf("stdout:\n%s", r.stdout)
	if r.res.Status != store.StatusOK || r.res.ExitCode != 0 {
		t.Fatalf("status %s exit %d; stderr %s", r.res.Status, r.res.ExitCode, r.stderr)
	}
	if host == nil {
		t.Fatal("stdin was never read: the host sockets were not bound")
	}
	if !strings.Contains(r.stdout, fmt.Sprintf("rewritten-after-connect=%d of %d", races, races)) {
		t.Errorf("the unix race did not rewrite every buffer during its connect (the test proves nothing): %s", r.stdout)
	}
	if !regexp.MustCompile(`race-inet rewritten=([1-9]|10) of 10`).MatchString(r.stdout) {
		t.Errorf("the inet race never rewrote a buffer during its connect (the test proves nothing): %s", r.stdout)
	}
	if !strings.Contains(r.stdout, "echo ping") {
		t.Errorf("a unix socket in the sandbox's /tmp no longer works")
	}
	for _, want := range []string{"tmp-symlink exit 137", "ws-symlink exit 137", "dup2-race exit 137"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q: the symlinked host connect was not killed", want)
		}
	}
	if host.Bytes.Load() != 0 || gram.Bytes.Load() != 0 {
		t.Errorf("the host's sockets received %d + %d bytes from the sandbox", host.Bytes.Load(), gram.Bytes.Load())
	}

	count := func(f func(e store.NetEvent) bool) int {
		n := 0
		for _, e := range r.trace.Net {
			if f(e) {
				n++
			}
		}
		return n
	}
	conn := func(addr string) func(store.NetEvent) bool {
		return func(e store.NetEvent) bool { return e.Op == store.NetConnect && e.Address == addr }
	}
	if n := count(conn("/tmp/decoy.sock")); n != 0 {
		t.Errorf("%d connects stored with the decoy address", n)
	}
	if n := count(conn("/tmp/real.sock")); n < 2*races {
		t.Errorf("%d connects to /tmp/real.sock stored, want >= %d (filler + raced per round)", n, 2*races)
	}
	if n := count(func(e store.NetEvent) bool { return e.Op == store.NetConnect && e.Port == 18082 }); n != 0 {
		t.Errorf("%d inet connects stored with the decoy port", n)
	}
	if n := count(func(e store.NetEvent) bool { return e.Op == store.NetConnect && e.Port == 18081 }); n < 10 {
		t.Errorf("%d inet connects to port 18081 stored, want >= 10", n)
	}
	// The connected sendmmsg may stop after its first message: nothing
	// listens on 127.0.0.53, and the ICMP error of the first fails the
	// second. Every message sent must be stored, and no other.
	connected := 2
	if strings.Contains(r.stdout, "sendmmsg connected=1") {
		connected = 1
	}
	names := []string{"first.mmsg.example", "second.mmsg.example", "third.mmsg.example", "fourth.mmsg.example"}
	for i, name := range names {
		want := 1
		if i >= 2+connected {
			want = 0
		}
		if n := count(func(e store.NetEvent) bool { return e.Op == store.NetDNS && e.Domain == name && e.Port == 53 }); n != want {
			t.Errorf("DNS query %s stored %d times, want %d", name, n, want)
		}
	}
	hostSock := filepath.Join(hostDir, "host.sock")
	denied := func(e store.NetEvent) bool { return e.Result == -1 && e.Verdict == store.NetDenied }
	if n := count(func(e store.NetEvent) bool { return conn(hostSock)(e) && denied(e) }); n != 2 {
		t.Errorf("%d denied connects to %s (absolute, relative after chdir), want 2", n, hostSock)
	}
	if n := count(func(e store.NetEvent) bool { return conn("/tmp/..//"+hostSock[1:])(e) && denied(e) }); n != 1 {
		t.Errorf("%d denied connects through /tmp/.., want 1", n)
	}
	if n := count(func(e store.NetEvent) bool {
		return e.Op == store.NetSend && e.Address == filepath.Join(hostDir, "dgram.sock") && denied(e)
	}); n != 1 {
		t.Errorf("%d denied sends to the host datagram socket, want 1", n)
	}
	if n := count(func(e store.NetEvent) bool { return conn(hostSock)(e) && e.Verdict == store.NetKilled }); n != 3 {
		t.Errorf("%d killed connects (through a symlink) recorded with the host socket's own address, want 3", n)
	}
	if testing.Verbose() || t.Failed() {
		for _, e := range r.trace.Net {
			if e.Op != store.NetSocket && (e.Family == 1 && e.Address != "/tmp/real.sock" || e.Op == store.NetDNS) {
				t.Logf("net %+v", e)
			}
		}
	}
}

// TestRecordHostSocketNotWritable: a root-owned 0755 host socket outside
// the sandbox, reached through a symlink the code made in /tmp or in the
// workspace (which the eBPF hook, judging the name, lets pass), stream and
// datagram. The sandbox's user namespace makes the command "other" to the
// socket, so the kernel refuses with EACCES: nothing arrives, nobody is
// killed, and each attempt is recorded with its failure (-EACCES) under the
// name the code used. Without the namespace the same connect reaches the
// socket, so the test can fail.
func TestRecordHostSocketNotWritable(t *testing.T) {
	requireRoot(t)
	ws := t.TempDir()
	probe := buildProbe(t, ws)
	hostDir := hostSocketDir(t, "bd-hostsock-")
	// Bound after the sandbox is created, so not masked: the permission
	// check alone must stop the code.
	hostPath, gramPath := filepath.Join(hostDir, "host.sock"), filepath.Join(hostDir, "dgram.sock")
	var host, gram *socktest.Listener
	bind := func() {
		host = socktest.Listen(t, hostPath, "unix")
		gram = socktest.Listen(t, gramPath, "unixgram")
		for _, p := range []string{hostPath, gramPath} {
			if err := os.Chmod(p, 0o755); err != nil {
				t.Error(err)
			}
		}
	}
	for name, target := range map[string]string{"ws-stream.sock": hostPath, "ws-dgram.sock": gramPath} {
		if err := os.Symlink(target, filepath.Join(ws, name)); err != nil {
			t.Fatal(err)
		}
	}
	script := fmt.Sprintf(`
read go
P=%[1]s
ln -s %[2]s /tmp/tmp-stream.sock
ln -s %[3]s /tmp/tmp-dgram.sock
$P connect /tmp/tmp-stream.sock LEAK; echo "tmp-stream exit $?"
$P sendto /tmp/tmp-dgram.sock; echo "tmp-dgram exit $?"
$P connect %[4]s/ws-stream.sock LEAK; echo "ws-stream exit $?"
$P sendto %[4]s/ws-dgram.sock; echo "ws-dgram exit $?"
exit 0
`, probe, hostPath, gramPath, ws)
	writeFile(t, filepath.Join(ws, "run.sh"), script)
	r := record(t, ws, Spec{Args: []string{"/bin/sh", "./run.sh"}}, func(o *Options) { o.Stdin = lateBind(bind) })
	if host == nil {
		t.Fatal("stdin was never read: the host sockets were not bound")
	}
	t.Logf("stdout:\n%s", r.stdout)
	if r.res.Status != store.StatusOK || r.res.ExitCode != 0 {
		t.Fatalf("status %s exit %d; stderr %s", r.res.Status, r.res.ExitCode, r.stderr)
	}
	for _, want := range []string{
		"connect /tmp/tmp-stream.sock: Permission denied", "sendto /tmp/tmp-dgram.sock: Permission denied",
		"connect " + ws + "/ws-stream.sock: Permission denied", "sendto " + ws + "/ws-dgram.sock: Permission denied",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q", want)
		}
	}
	if strings.Contains(r.stdout, "exit 137") {
		t.Error("a refused attempt was killed: the kernel, not the sys_exit check, should have stopped it")
	}
	if host.Bytes.Load() != 0 || host.Conns.Load() != 0 || gram.Bytes.Load() != 0 {
		t.Errorf("the host's sockets got %d connections, %d + %d bytes from the sandbox", host.Conns.Load(), host.Bytes.Load(), gram.Bytes.Load())
	}
	const eacces = -13
	for _, c := range []struct {
		op   store.NetOp
		addr string
	}{
		{store.NetConnect, "/tmp/tmp-stream.sock"}, {store.NetSend, "/tmp/tmp-dgram.sock"},
		{store.NetConnect, ws + "/ws-stream.sock"}, {store.NetSend, ws + "/ws-dgram.sock"},
	} {
		n := 0
		for _, e := range r.trace.Net {
			if e.Op == c.op && e.Address == c.addr && e.Result == eacces {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%d refused (EACCES) %v attempts to %s recorded, want 1", n, c.op, c.addr)
		}
	}
	if t.Failed() {
		for _, e := range r.trace.Net {
			if e.Family == 1 {
				t.Logf("net %+v", e)
			}
		}
	}

	// Control: without the user namespace the command is root on the host
	// and the same symlinked connect is made (and then killed).
	// (Another socket: the first ones still listen, so this sandbox would
	// mask them.)
	ctl := filepath.Join(hostDir, "ctl.sock")
	if err := os.Symlink(ctl, filepath.Join(ws, "ctl.sock")); err != nil {
		t.Fatal(err)
	}
	r = record(t, ws, Spec{Args: []string{"/bin/sh", "-c", fmt.Sprintf("read go; %s connect %s/ctl.sock LEAK; echo \"exit $?\"", probe, ws)}, UserNS: "off"},
		func(o *Options) {
			o.Stdin = lateBind(func() {
				socktest.Listen(t, ctl, "unix")
				os.Chmod(ctl, 0o755)
			})
		})
	if !strings.Contains(r.stdout, "exit 137") {
		t.Errorf("without the user namespace the connect was not made (the test proves nothing): %s", r.stdout)
	}
}

// lateBind returns a stdin for a recorded script that starts with
// "read go": its first read runs bind, which the recorder does only after
// the sandbox was created, then gives the script its line. Sockets bound
// there are not among the host sockets the sandbox masks at creation.
func lateBind(bind func()) io.Reader {
	return &lateReader{bind: bind, r: strings.NewReader("go\n")}
}

type lateReader struct {
	once sync.Once
	bind func()
	r    io.Reader
}

func (l *lateReader) Read(p []byte) (int, error) {
	l.once.Do(l.bind)
	return l.r.Read(p)
}
