package sandbox

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/behavediff/behavediff/internal/socktest"
)

// listenSock is a host socket (socktest.Listen) the sandbox's user
// namespace could reach by permission.
func listenSock(t *testing.T, path, network string) *socktest.Listener {
	t.Helper()
	h := socktest.Listen(t, path, network)
	// World-writable: the user namespace does not stop these by permission.
	if err := os.Chmod(path, 0o777); err != nil {
		t.Fatal(err)
	}
	return h
}

// lateReader binds its listeners on its first Read, which happens after
// Create chose the sandbox's mounts, then gives the script its go.
type lateReader struct {
	once sync.Once
	bind func()
	r    io.Reader
}

func (l *lateReader) Read(p []byte) (int, error) {
	l.once.Do(l.bind)
	return l.r.Read(p)
}

// World-writable host sockets bound when the sandbox is created, on the
// host's root filesystem or in the workspace, are masked: a stream connect
// and an unconnected datagram through symlinks in /tmp and in the
// workspace, or by the workspace path itself, reach nothing. The control: a
// socket bound after Create is not masked, and without eBPF (this package
// has none) its datagram arrives, so the checks can fail.
func TestHostSocketsMasked(t *testing.T) {
	c := connect(t)
	hostDir, err := os.MkdirTemp("/var/tmp", "bd-test-sock-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(hostDir)
	if err := os.Chmod(hostDir, 0o755); err != nil {
		t.Fatal(err)
	}
	ws := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	copyTestFile(t, exe, filepath.Join(ws, "helper"))
	stream := listenSock(t, filepath.Join(hostDir, "stream.sock"), "unix")
	gram := listenSock(t, filepath.Join(hostDir, "gram.sock"), "unixgram")
	inWS := listenSock(t, filepath.Join(ws, "dev.sock"), "unixgram")
	var late *socktest.Listener
	stdin := &lateReader{r: strings.NewReader("go\n"), bind: func() {
		late = listenSock(t, filepath.Join(hostDir, "late.sock"), "unixgram")
	}}
	h := helperEnv + "="
	script := `read x
ln -s ` + stream.Path + ` /tmp/s.sock; ln -s ` + gram.Path + ` /tmp/g.sock; ln -s ` + gram.Path + ` g.sock; ln -s ` + hostDir + `/late.sock /tmp/late.sock
` + h + `unix-connect ./helper /tmp/s.sock
` + h + `unix-sendto ./helper /tmp/g.sock
` + h + `unix-sendto ./helper g.sock
` + h + `unix-sendto ./helper ` + inWS.Path + `
` + h + `unix-sendto ./helper /tmp/late.sock
`
	var out, errb bytes.Buffer
	ctx := context.Background()
	sb, err := c.Create(ctx, Options{ID: newID(t), Args: sh(script), Env: testEnv, Workspace: ws, Stdin: stdin, Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close(ctx)
	if err := sb.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("inside:\n%s%s", out.String(), errb.String())
	for _, l := range []*socktest.Listener{stream, gram, inWS} {
		if n, b := l.Conns.Load(), l.Bytes.Load(); n != 0 || b != 0 {
			t.Errorf("%s got %d connections and %d bytes from the sandbox", l.Path, n, b)
		}
	}
	// The mask is an empty 0444 file: EACCES for the code's uid when it may
	// not write it, ECONNREFUSED (not a socket) otherwise.
	for _, attempt := range []string{"unix-connect /tmp/s.sock: ", "unix-sendto /tmp/g.sock: ", "unix-sendto g.sock: ", "unix-sendto " + inWS.Path + ": "} {
		if !strings.Contains(out.String(), attempt+"permission denied\n") && !strings.Contains(out.String(), attempt+"connection refused\n") {
			t.Errorf("output lacks %q followed by a refusal", attempt)
		}
	}
	if late == nil || late.Bytes.Load() == 0 {
		t.Errorf("the socket bound after Create got nothing: the test cannot tell a mask from a broken helper")
	}
}
