package recorder

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

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

// hostListener is a unix socket of the host (outside the sandbox), counting
// every byte it receives.
type hostListener struct {
	path string
	got  atomic.Int64
	n    atomic.Int64 // connections accepted
}

func listenHost(t *testing.T, path, network string) *hostListener {
	t.Helper()
	h := &hostListener{path: path}
	if network == "unixgram" {
		c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: network})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		go func() {
			buf := make([]byte, 64)
			for {
				n, _, err := c.ReadFrom(buf)
				if err != nil {
					return
				}
				h.got.Add(int64(n))
			}
		}()
		return h
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			h.n.Add(1)
			go func() {
				n, _ := io.Copy(io.Discard, c)
				h.got.Add(n)
				c.Close()
			}()
		}
	}()
	return h
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
	hostDir, err := os.MkdirTemp("/var/tmp", "bd-sockaddr-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(hostDir) })
	os.Chmod(hostDir, 0o755)
	host := listenHost(t, filepath.Join(hostDir, "host.sock"), "unix")
	gram := listenHost(t, filepath.Join(hostDir, "dgram.sock"), "unixgram")
	if err := os.Symlink(host.path, filepath.Join(ws, "link.sock")); err != nil {
		t.Fatal(err)
	}
	const races = 20
	script := fmt.Sprintf(`
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
	r := record(t, ws, Spec{Args: []string{"/bin/sh", "./run.sh"}}, nil)
	t.Logf("stdout:\n%s", r.stdout)
	if r.res.Status != store.StatusOK || r.res.ExitCode != 0 {
		t.Fatalf("status %s exit %d; stderr %s", r.res.Status, r.res.ExitCode, r.stderr)
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
	if host.got.Load() != 0 || gram.got.Load() != 0 {
		t.Errorf("the host's sockets received %d + %d bytes from the sandbox", host.got.Load(), gram.got.Load())
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
