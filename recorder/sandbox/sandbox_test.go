package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/behavediff/behavediff/internal/testenv"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The test binary doubles as a helper run inside sandboxes (copied into the
// workspace), because the host root may have no tool that opens a TCP
// connection.
const helperEnv = "BEHAVEDIFF_SANDBOX_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helper(mode, os.Args[1:]))
	}
	os.Exit(m.Run())
}

func helper(mode string, args []string) int {
	switch mode {
	case "connect":
		// Refuse to send anything unless we are in a namespace with only
		// loopback: this must never reach a real network.
		ents, err := os.ReadDir("/sys/class/net")
		if err != nil || len(ents) != 1 || ents[0].Name() != "lo" {
			fmt.Println("refusing: not in an isolated network namespace")
			return 2
		}
		c, err := net.DialTimeout("tcp", args[0], 3*time.Second)
		if err != nil {
			fmt.Println("connect failed:", err)
			return 0
		}
		c.Close()
		fmt.Println("connect succeeded")
		return 1
	case "udp":
		// A DNS-like datagram to a loopback resolver must really be sent.
		c, err := net.Dial("udp", args[0])
		if err != nil {
			fmt.Println("dial:", err)
			return 1
		}
		defer c.Close()
		if _, err := c.Write([]byte("query")); err != nil {
			fmt.Println("send:", err)
			return 1
		}
		fmt.Println("sent")
		return 0
	case "unix-connect", "unix-sendto":
		// A unix stream connect and write, or an unconnected datagram
		// sendto (the one case the eBPF hooks cannot stop through a
		// symlink), to args[0].
		typ := unix.SOCK_STREAM
		if mode == "unix-sendto" {
			typ = unix.SOCK_DGRAM
		}
		fd, err := unix.Socket(unix.AF_UNIX, typ, 0)
		if err != nil {
			fmt.Println("socket:", err)
			return 1
		}
		defer unix.Close(fd)
		to := &unix.SockaddrUnix{Name: args[0]}
		if typ == unix.SOCK_STREAM {
			if err := unix.Connect(fd, to); err != nil {
				fmt.Printf("%s %s: %v\n", mode, args[0], err)
				return 0
			}
			_, err = unix.Write(fd, []byte("LEAK"))
		} else {
			err = unix.Sendto(fd, []byte("LEAK"), 0, to)
		}
		if err != nil {
			fmt.Printf("%s %s: %v\n", mode, args[0], err)
			return 0
		}
		fmt.Printf("%s %s: sent\n", mode, args[0])
		return 0
	}
	return 3
}

var testEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LANG=C"}

func connect(t testing.TB) *Client {
	t.Helper()
	testenv.RequireRoot(t, "the sandbox (containerd, overlayfs)")
	for _, b := range []string{"containerd", "containerd-shim-runc-v2", "runc"} {
		if _, err := findBinary(b); err != nil {
			testenv.Unavailable(t, fmt.Sprintf("needs %s: %v (run 'make deps')", b, err))
		}
	}
	var progress bytes.Buffer
	c, err := Connect(context.Background(), "", &progress)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if !strings.Contains(progress.String(), "private containerd") {
		t.Errorf("progress line = %q", progress.String())
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func newID(t testing.TB) string {
	b := make([]byte, 4)
	rand.Read(b)
	return "bd-test-" + hex.EncodeToString(b)
}

type run struct {
	sb             *Sandbox
	res            Result
	stdout, stderr string
}

// runIn creates, starts and waits for one sandbox with sh -c script. The
// sandbox is closed at test end (tests may close earlier).
func runIn(t *testing.T, c *Client, o Options) run {
	t.Helper()
	ctx := context.Background()
	if o.ID == "" {
		o.ID = newID(t)
	}
	if o.Env == nil {
		o.Env = testEnv
	}
	if o.Workspace == "" {
		o.Workspace = t.TempDir()
	}
	var out, errb bytes.Buffer
	o.Stdout, o.Stderr = &out, &errb
	sb, err := c.Create(ctx, o)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() {
		if err := sb.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if err := sb.Start(ctx); err != nil {
		t.Fatalf("Start: %v", err)
	}
	res, err := sb.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return run{sb: sb, res: res, stdout: out.String(), stderr: errb.String()}
}

func sh(script string) []string { return []string{"/bin/sh", "-c", script} }

func TestExitCodeAndOutput(t *testing.T) {
	c := connect(t)
	r := runIn(t, c, Options{Args: sh("echo to-out; echo to-err >&2; exit 3")})
	if r.res.ExitCode != 3 || r.res.Signal != 0 || r.res.TimedOut || r.res.Interrupted {
		t.Errorf("result = %+v, want exit 3", r.res)
	}
	if r.stdout != "to-out\n" || r.stderr != "to-err\n" {
		t.Errorf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	r = runIn(t, c, Options{Args: sh("true")})
	if r.res.ExitCode != 0 {
		t.Errorf("true: %+v", r.res)
	}
}

func TestStdin(t *testing.T) {
	c := connect(t)
	r := runIn(t, c, Options{Args: []string{"cat"}, Stdin: strings.NewReader("from stdin\n"), Timeout: 20 * time.Second})
	if r.res.TimedOut || r.stdout != "from stdin\n" {
		t.Errorf("cat with stdin: %+v stdout %q", r.res, r.stdout)
	}
	// No stdin: reads hit EOF at once.
	r = runIn(t, c, Options{Args: sh("cat; echo done"), Timeout: 20 * time.Second})
	if r.res.TimedOut || r.stdout != "done\n" {
		t.Errorf("cat without stdin: %+v stdout %q", r.res, r.stdout)
	}
}

func TestTimeout(t *testing.T) {
	c := connect(t)
	start := time.Now()
	r := runIn(t, c, Options{Args: sh("sleep 60 & sleep 60"), Timeout: time.Second})
	if !r.res.TimedOut || r.res.Signal != 9 || r.res.ExitCode != 137 {
		t.Errorf("result = %+v, want timed out by SIGKILL", r.res)
	}
	if el := time.Since(start); el > 15*time.Second {
		t.Errorf("timeout took %v", el)
	}
	if r.res.Duration < time.Second || r.res.Duration > 10*time.Second {
		t.Errorf("duration %v", r.res.Duration)
	}
}

func TestInterrupt(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	sb, err := c.Create(ctx, Options{ID: newID(t), Args: sh("sleep 60"), Env: testEnv, Workspace: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close(ctx)
	if err := sb.Start(ctx); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	res, err := sb.Wait(wctx)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Interrupted || res.TimedOut || res.Signal != 9 {
		t.Errorf("result = %+v, want interrupted", res)
	}
	// Wait is idempotent.
	if res2, err := sb.Wait(ctx); err != nil || !reflect.DeepEqual(res2, res) {
		t.Errorf("second Wait = %+v, %v", res2, err)
	}
}

// snapshot maps workspace-relative paths to file content ("<dir>" for dirs).
func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		switch {
		case rel == ".":
		case fi.IsDir():
			m[rel] = "<dir>"
		case fi.Mode()&os.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			m[rel] = "-> " + l
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			m[rel] = string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func TestWorkspaceCopyOnWrite(t *testing.T) {
	c := connect(t)
	ws := t.TempDir()
	writeFiles(t, ws, map[string]string{
		"keep.txt":      "keep",
		"touched.txt":   "touched",
		"mod.txt":       "old",
		"del.txt":       "bye",
		"deldir/a":      "a",
		"deldir/b/c":    "c",
		"opq/old":       "old",
		"opq/kept":      "kept-old",
		"sub/inner.txt": "inner",
	})
	before := snapshot(t, ws)
	script := `set -e
pwd
echo new > new.txt
printf changed > mod.txt
rm del.txt
rm -r deldir
touch touched.txt
mkdir -p newdir/deeper
printf x > newdir/deeper/f
rm -r opq
mkdir opq
printf kept-new > opq/kept
echo more >> sub/inner.txt
ln -s keep.txt link
`
	r := runIn(t, c, Options{Workspace: ws, Args: sh(script)})
	if r.res.ExitCode != 0 {
		t.Fatalf("script failed: %+v\n%s", r.res, r.stderr)
	}
	if got := strings.TrimSpace(r.stdout); got != r.sb.workspace {
		t.Errorf("cwd inside = %q, want %q", got, r.sb.workspace)
	}
	if after := snapshot(t, ws); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("real workspace changed:\nbefore %v\nafter  %v", before, after)
	}

	changes, err := r.sb.Changes()
	if err != nil {
		t.Fatal(err)
	}
	w := r.sb.workspace
	want := []Change{
		{Path: w + "/del.txt", Change: "deleted", Size: -1},
		{Path: w + "/deldir", Change: "deleted", Size: -1, IsDir: true},
		{Path: w + "/link", Change: "created", Size: 8, SHA256: sum("keep.txt")},
		{Path: w + "/mod.txt", Change: "modified", Size: 7, SHA256: sum("changed")},
		{Path: w + "/new.txt", Change: "created", Size: 4, SHA256: sum("new\n")},
		{Path: w + "/newdir", Change: "created", Size: -1, IsDir: true},
		{Path: w + "/newdir/deeper", Change: "created", Size: -1, IsDir: true},
		{Path: w + "/newdir/deeper/f", Change: "created", Size: 1, SHA256: sum("x")},
		{Path: w + "/opq/kept", Change: "modified", Size: 8, SHA256: sum("kept-new")},
		{Path: w + "/opq/old", Change: "deleted", Size: -1},
		{Path: w + "/sub/inner.txt", Change: "modified", Size: 10, SHA256: sum("innermore\n")},
	}
	if fmt.Sprint(changes) != fmt.Sprint(want) {
		t.Errorf("Changes():\n got %v\nwant %v", changes, want)
	}

	if _, err := r.sb.ApplyChanges(); err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, ws)
	expect := map[string]string{
		"keep.txt": "keep", "touched.txt": "touched", "mod.txt": "changed", "new.txt": "new\n",
		"newdir": "<dir>", "newdir/deeper": "<dir>", "newdir/deeper/f": "x",
		"opq": "<dir>", "opq/kept": "kept-new", "sub": "<dir>", "sub/inner.txt": "innermore\n",
		"link": "-> keep.txt",
	}
	if fmt.Sprint(after) != fmt.Sprint(expect) {
		t.Errorf("after ApplyChanges:\n got %v\nwant %v", after, expect)
	}
	for _, e := range []string{"", "new.txt", "newdir"} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(ws, e), &st); err != nil {
			t.Fatal(err)
		}
		var wsSt unix.Stat_t
		unix.Stat(ws, &wsSt)
		if st.Uid != wsSt.Uid {
			t.Errorf("%s owned by %d, want workspace owner %d", e, st.Uid, wsSt.Uid)
		}
	}
}

func TestRootfsReadOnlyTmpPrivate(t *testing.T) {
	c := connect(t)
	marker, err := os.CreateTemp("/tmp", "bd-host-marker-")
	if err != nil {
		t.Fatal(err)
	}
	marker.Close()
	defer os.Remove(marker.Name())
	inTmp := "bd-in-container-" + newID(t)
	script := fmt.Sprintf(`
if echo x > /usr/bd-x 2>/dev/null; then echo usr-writable; fi
if touch /bd-x 2>/dev/null; then echo root-writable; fi
if [ -e %s ]; then echo host-tmp-visible; fi
echo data > /tmp/%s && cat /tmp/%s
`, marker.Name(), inTmp, inTmp)
	r := runIn(t, c, Options{Args: sh(script)})
	if r.stdout != "data\n" {
		t.Errorf("stdout %q, want only data (stderr %q)", r.stdout, r.stderr)
	}
	for _, p := range []string{"/usr/bd-x", "/bd-x", "/tmp/" + inTmp} {
		if _, err := os.Lstat(p); err == nil {
			os.Remove(p)
			t.Errorf("%s leaked onto the host", p)
		}
	}
}

func TestNoNetwork(t *testing.T) {
	c := connect(t)
	ws := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	copyTestFile(t, exe, filepath.Join(ws, "helper"))
	script := `
ls /sys/class/net
cat /sys/class/net/lo/flags
if command -v ip >/dev/null; then ip -o link | awk '{print $2}'; else echo lo:; fi
` + helperEnv + `=connect ./helper 203.0.113.5:443
echo connect-exit=$?
` + helperEnv + `=udp ./helper 127.0.0.53:53
echo udp-exit=$?
cat /etc/resolv.conf
`
	r := runIn(t, c, Options{Workspace: ws, Args: sh(script), ResolvConf: "nameserver 127.0.0.53\n", Timeout: 30 * time.Second})
	t.Logf("inside the sandbox:\n%s", r.stdout)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) < 8 {
		t.Fatalf("stdout %q stderr %q", r.stdout, r.stderr)
	}
	if lines[0] != "lo" {
		t.Errorf("interfaces: %q, want only lo", lines[0])
	}
	var flags int
	fmt.Sscanf(lines[1], "0x%x", &flags)
	if flags&unix.IFF_UP == 0 {
		t.Errorf("lo flags %s: not up", lines[1])
	}
	if lines[2] != "lo:" {
		t.Errorf("ip link: %q", lines[2])
	}
	if !strings.HasPrefix(lines[3], "connect failed") || lines[4] != "connect-exit=0" {
		t.Errorf("connect to 203.0.113.5:443: %q %q", lines[3], lines[4])
	}
	if lines[5] != "sent" || lines[6] != "udp-exit=0" {
		t.Errorf("udp to loopback resolver: %q %q", lines[5], lines[6])
	}
	if lines[7] != "nameserver 127.0.0.53" {
		t.Errorf("resolv.conf: %q", lines[7])
	}
}

func copyTestFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSecretsMasked(t *testing.T) {
	c := connect(t)
	ssh := "/root/.ssh"
	if _, err := os.Stat(ssh); os.IsNotExist(err) {
		if err := os.Mkdir(ssh, 0o700); err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(ssh)
	}
	key := filepath.Join(ssh, "id_test")
	if _, err := os.Stat(key); os.IsNotExist(err) {
		if err := os.WriteFile(key, []byte("SECRET KEY"), 0o600); err != nil {
			t.Fatal(err)
		}
		defer os.Remove(key)
	}
	script := `
echo "ssh=[$(ls -A /root/.ssh)]"
echo "key=[$(cat /root/.ssh/id_test 2>/dev/null)]"
echo "shadow=$(wc -c < /etc/shadow)"
echo "state=[$(ls -A /var/lib/behavediff)]"
`
	r := runIn(t, c, Options{Args: sh(script), HideHostSecrets: true})
	want := "ssh=[]\nkey=[]\nshadow=0\nstate=[]\n"
	if r.stdout != want {
		t.Errorf("masked view:\n%s\nwant\n%s\nstderr %s", r.stdout, want, r.stderr)
	}
	r = runIn(t, c, Options{Args: sh(`cat /root/.ssh/id_test`), HideHostSecrets: false, NoUserNamespace: true})
	if !strings.Contains(r.stdout, "SECRET KEY") {
		t.Errorf("without HideHostSecrets the key should be readable (it proves the mask works): %q %q", r.stdout, r.stderr)
	}
}

func TestHardening(t *testing.T) {
	c := connect(t)
	r := runIn(t, c, Options{Args: sh(`grep -E '^(Cap|NoNewPrivs|Seccomp:)' /proc/self/status; id -u`)})
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		k, v, _ := strings.Cut(l, ":")
		got[k] = strings.TrimSpace(v)
	}
	for _, k := range []string{"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"} {
		if got[k] != "0000000000000000" {
			t.Errorf("%s = %q, want zero", k, got[k])
		}
	}
	if got["NoNewPrivs"] != "1" || got["Seccomp"] != "2" {
		t.Errorf("NoNewPrivs %q Seccomp %q", got["NoNewPrivs"], got["Seccomp"])
	}
	if !strings.HasSuffix(r.stdout, "\n0\n") {
		t.Errorf("uid inside: %q", r.stdout)
	}
}

func TestCgroupIDAndClose(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	id := newID(t)
	sb, err := c.Create(ctx, Options{ID: id, Args: sh("cat /proc/self/cgroup"), Env: testEnv, Workspace: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close(ctx)
	if sb.CgroupID() == 0 || sb.Pid() == 0 {
		t.Fatalf("CgroupID %d Pid %d", sb.CgroupID(), sb.Pid())
	}
	rel, err := procCgroupV2(sb.Pid())
	if err != nil {
		t.Fatal(err)
	}
	mnt, err := cgroup2Mount()
	if err != nil {
		t.Fatal(err)
	}
	if rel != "/behavediff/"+id {
		t.Errorf("task v2 cgroup %q", rel)
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(mnt, rel), &st); err != nil {
		t.Fatal(err)
	}
	if st.Ino != sb.CgroupID() {
		t.Errorf("CgroupID %d, inode of %s is %d", sb.CgroupID(), rel, st.Ino)
	}
	if err := sb.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := sb.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	runDirPath := sb.dir
	if err := sb.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sb.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}
	assertGone(t, c, id, runDirPath, filepath.Join(mnt, rel))
}

// assertGone checks that nothing of sandbox id is left: mounts, run dir,
// FIFOs, cgroup, container record.
func assertGone(t *testing.T, c *Client, id string, paths ...string) {
	t.Helper()
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mi), id) {
		t.Errorf("mount of %s left in mountinfo", id)
	}
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s left behind", p)
		}
	}
	if ents, _ := os.ReadDir(fifoDir); len(ents) > 0 {
		for _, e := range ents {
			if strings.Contains(e.Name(), id) {
				t.Errorf("fifo %s left behind", e.Name())
			}
		}
	}
	if _, err := c.cd.LoadContainer(context.Background(), id); err == nil {
		t.Errorf("container %s still exists", id)
	}
}

func TestCreateFailureCleansUp(t *testing.T) {
	c := connect(t)
	id := newID(t)
	sb, err := c.Create(context.Background(), Options{ID: id, Args: []string{"/nonexistent/binary"}, Env: testEnv, Workspace: t.TempDir()})
	if err == nil {
		// runc may defer the exec check to start.
		err = sb.Start(context.Background())
		sb.Close(context.Background())
	}
	if err == nil {
		t.Fatal("running a missing binary succeeded")
	}
	assertGone(t, c, id, filepath.Join(runsDir, id))
}

// A missing program, bare (PATH lookup) or absolute, is the sentinel, so the
// recorder never has to read runc's text.
func TestExecutableNotFound(t *testing.T) {
	c := connect(t)
	for _, prog := range []string{"no-such-program", "/nonexistent/binary"} {
		id := newID(t)
		sb, err := c.Create(context.Background(), Options{ID: id, Args: []string{prog}, Env: testEnv, Workspace: t.TempDir()})
		if err == nil {
			sb.Close(context.Background())
			t.Fatalf("%s: Create succeeded", prog)
		}
		if !errors.Is(err, ErrExecutableNotFound) {
			t.Errorf("%s: err %v, want ErrExecutableNotFound", prog, err)
		}
		assertGone(t, c, id, filepath.Join(runsDir, id))
	}
	// Another failure is not mistaken for it.
	if _, err := c.Create(context.Background(), Options{ID: newID(t), Args: []string{"true"}, Env: testEnv, Workspace: "/nonexistent-ws"}); err == nil || errors.Is(err, ErrExecutableNotFound) {
		t.Errorf("bad workspace: err %v, want an error other than ErrExecutableNotFound", err)
	}
}

func TestConcurrent(t *testing.T) {
	c := connect(t)
	var wg sync.WaitGroup
	results := make([]string, 3)
	errs := make([]error, 3)
	for i := range results {
		wg.Go(func() {
			ctx := context.Background()
			var out bytes.Buffer
			ws := t.TempDir()
			sb, err := c.Create(ctx, Options{ID: newID(t), Args: sh(fmt.Sprintf("echo %d > f; sleep 0.3; cat f", i)),
				Env: testEnv, Workspace: ws, Stdout: &out})
			if err != nil {
				errs[i] = err
				return
			}
			defer sb.Close(ctx)
			if err := sb.Start(ctx); err != nil {
				errs[i] = err
				return
			}
			if _, err := sb.Wait(ctx); err != nil {
				errs[i] = err
				return
			}
			results[i] = strings.TrimSpace(out.String())
		})
	}
	wg.Wait()
	for i := range results {
		if errs[i] != nil || results[i] != fmt.Sprint(i) {
			t.Errorf("sandbox %d: %q %v", i, results[i], errs[i])
		}
	}
}

func TestConnectReuse(t *testing.T) {
	connect(t)
	var wg sync.WaitGroup
	outs := make([]bytes.Buffer, 2)
	for i := range outs {
		wg.Go(func() {
			c, err := Connect(context.Background(), "", &outs[i])
			if err != nil {
				t.Error(err)
				return
			}
			c.Close()
		})
	}
	wg.Wait()
	for i := range outs {
		if !strings.HasPrefix(outs[i].String(), "behavediff: using private containerd") {
			t.Errorf("Connect %d progress %q", i, outs[i].String())
		}
	}
}

func TestStartupTime(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	var times []time.Duration
	for range 5 {
		ws := t.TempDir()
		start := time.Now()
		sb, err := c.Create(ctx, Options{ID: newID(t), Args: []string{"true"}, Env: testEnv, Workspace: ws})
		if err != nil {
			t.Fatal(err)
		}
		if err := sb.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := sb.Wait(ctx); err != nil {
			t.Fatal(err)
		}
		times = append(times, time.Since(start))
		if err := sb.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	t.Logf("Create+Start+Wait of `true` (warm daemon): min %v median %v max %v", times[0], times[len(times)/2], times[len(times)-1])
}

// A workspace on another filesystem is not part of the non-recursive bind of
// the host's /: it must still be mounted (on a tmpfs over its mount point).
func TestWorkspaceOnSeparateMount(t *testing.T) {
	c := connect(t)
	mnt, err := os.MkdirTemp("/var/tmp", "bd-mnt-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(mnt)
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=8m"); err != nil {
		t.Skipf("cannot mount a tmpfs for the test: %v", err)
	}
	defer unix.Unmount(mnt, unix.MNT_DETACH)
	ws := filepath.Join(mnt, "proj")
	writeFiles(t, ws, map[string]string{"in.txt": "in"})
	r := runIn(t, c, Options{Workspace: ws, Args: sh("cat in.txt; echo out > out.txt")})
	if r.res.ExitCode != 0 || r.stdout != "in" {
		t.Fatalf("%+v stdout %q stderr %q", r.res, r.stdout, r.stderr)
	}
	ch, err := r.sb.Changes()
	if err != nil || len(ch) != 1 || ch[0].Path != ws+"/out.txt" || ch[0].Change != "created" {
		t.Errorf("Changes = %v, %v", ch, err)
	}
	if _, err := os.Stat(filepath.Join(ws, "out.txt")); err == nil {
		t.Error("out.txt written to the real workspace")
	}
}

func TestHostNetwork(t *testing.T) {
	c := connect(t)
	host, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	r := runIn(t, c, Options{Args: sh("readlink /proc/self/ns/net; ls -A /sys/fs/cgroup; echo end; touch /sys/x 2>/dev/null || echo ro"), Network: true})
	// The user namespace cannot mount sysfs for the host's netns: /sys is
	// the host's, read-only, with cgroupfs (and every other submount) hidden.
	if want := host + "\nend\nro\n"; r.stdout != want {
		t.Errorf("Network: true gave\n%q\nwant the host's netns and an empty /sys/fs/cgroup\n%q\nstderr %s", r.stdout, want, r.stderr)
	}
	r = runIn(t, c, Options{Args: sh("readlink /proc/self/ns/net")})
	if strings.TrimSpace(r.stdout) == host {
		t.Error("Network: false shares the host netns")
	}
}

func TestLimits(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	id := newID(t)
	sb, err := c.Create(ctx, Options{ID: id, Args: []string{"true"}, Env: testEnv, Workspace: t.TempDir(),
		MemoryBytes: 256 << 20, PidsLimit: 64})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close(ctx)
	read := func(paths ...string) string {
		for _, p := range paths {
			if b, err := os.ReadFile(p); err == nil {
				return strings.TrimSpace(string(b))
			}
		}
		return "(none of " + strings.Join(paths, ", ") + ")"
	}
	cg := "behavediff/" + id
	if got := read("/sys/fs/cgroup/memory/"+cg+"/memory.limit_in_bytes", "/sys/fs/cgroup/"+cg+"/memory.max"); got != fmt.Sprint(256<<20) {
		t.Errorf("memory limit %s", got)
	}
	if got := read("/sys/fs/cgroup/pids/"+cg+"/pids.max", "/sys/fs/cgroup/"+cg+"/pids.max"); got != "64" {
		t.Errorf("pids limit %s", got)
	}
}

// Close from another goroutine ends a Wait that has no timeout.
func TestCloseDuringWait(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	id := newID(t)
	sb, err := c.Create(ctx, Options{ID: id, Args: sh("sleep 60"), Env: testEnv, Workspace: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Start(ctx); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := sb.Wait(ctx); done <- err }()
	time.Sleep(200 * time.Millisecond)
	if err := sb.Close(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Wait still blocked after Close")
	}
	assertGone(t, c, id, filepath.Join(runsDir, id))
}

// A sandbox whose recorder died (here: its owner label names a process that
// no longer exists) is removed by the next Connect's sweep; a live one stays.
func TestSweepOrphans(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	ws := t.TempDir()
	seq := 0
	mk := func() *Sandbox {
		var out, errb bytes.Buffer
		seq++
		sb, err := c.Create(ctx, Options{ID: "bd-sweep-" + strconv.Itoa(os.Getpid()) + "-" + strconv.Itoa(seq), Args: []string{"/bin/sleep", "60"}, Env: testEnv, Workspace: ws, Stdout: &out, Stderr: &errb})
		if err != nil {
			t.Fatal(err)
		}
		if err := sb.Start(ctx); err != nil {
			t.Fatal(err)
		}
		return sb
	}
	live, dead := mk(), mk()
	defer live.Close(ctx)
	labels := ownerLabels()
	labels[labelOwnerStart] = "1" // started at boot: not this process
	if _, err := dead.container.SetLabels(ctx, labels); err != nil {
		t.Fatal(err)
	}
	id := dead.opts.ID
	n, err := c.Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("swept %d sandboxes, want 1", n)
	}
	assertGone(t, c, id, filepath.Join(runsDir, id))
	if _, err := c.cd.LoadContainer(ctx, live.opts.ID); err != nil {
		t.Errorf("the live sandbox was swept: %v", err)
	}
}
