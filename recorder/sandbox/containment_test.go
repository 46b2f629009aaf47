package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"syscall"

	"errors"
	"github.com/google/go-cmp/cmp"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/behavediff/behavediff/internal/secrets"
	"golang.org/x/sys/unix"
)

// The containment suite: each test does an attack for real and checks that
// the sandbox holds.

// behavediff's project directory is invisible inside, whether it is in the
// workspace or above it (the project root above the workspace), and the
// trace database named in Protect is hidden too; writes there fail.
func TestProjectDirInvisible(t *testing.T) {
	c := connect(t)
	root := t.TempDir()
	ws := filepath.Join(root, "sub", "ws")
	writeFiles(t, root, map[string]string{
		".behavediff/baselines/app.yaml":    "allow: nothing\n",
		".behavediff/traces.db":             "DB",
		"sub/ws/.behavediff/specs/app.yaml": "args: [x]\n",
		"sub/ws/app.sh":                     "echo hi\n",
		"sub/ws/t.db":                       "OTHER DB",
	})
	script := `
echo "above=[$(ls -A ../../.behavediff 2>&1)]"
echo "inside=[$(ls -A .behavediff 2>&1)]"
echo "db=[$(cat t.db 2>&1)]"
echo pwned > ../../.behavediff/baselines/app.yaml 2>/dev/null && echo wrote-above
mkdir -p .behavediff/baselines 2>/dev/null && echo pwned > .behavediff/baselines/app.yaml 2>/dev/null && echo wrote-inside
echo x > t.db 2>/dev/null && echo wrote-db
mv t.db moved.db 2>/dev/null && echo moved-db
rm -rf .behavediff 2>/dev/null; ls -d .behavediff >/dev/null 2>&1 || echo removed
true`
	r := runIn(t, c, Options{Args: sh(script), Workspace: ws, Protect: []string{filepath.Join(ws, "t.db"), filepath.Join(root, ".behavediff", "traces.db")}})
	want := "above=[]\ninside=[]\ndb=[]\n"
	if r.stdout != want {
		t.Errorf("inside the sandbox:\n%s\nwant\n%s\nstderr: %s", r.stdout, want, r.stderr)
	}
	changes, err := r.sb.Changes()
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 0 {
		t.Errorf("the attack left changes: %+v", changes)
	}
	refused, err := r.sb.ApplyChanges()
	if err != nil || len(refused) != 0 {
		t.Errorf("ApplyChanges = %+v, %v", refused, err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, ".behavediff/baselines/app.yaml")); string(b) != "allow: nothing\n" {
		t.Errorf("baseline changed: %q", b)
	}
}

// Defence in depth: even if the upper layer held changes to protected
// paths (a kernel that let the write through, a nested project the run
// created), ApplyChanges refuses them, refuses writes below a parent that
// became a symlink, and drops setuid/setgid bits.
func TestApplyChangesRefusesTampering(t *testing.T) {
	c := connect(t)
	ws := t.TempDir()
	outside := t.TempDir()
	writeFiles(t, ws, map[string]string{
		".behavediff/baselines/app.yaml": "allow: nothing\n",
		"t.db":                           "DB",
		"dir/keep.txt":                   "keep\n",
	})
	r := runIn(t, c, Options{
		Args:      sh(`cp /bin/true suid; chmod 4755 suid; mkdir sgid; chmod 2755 sgid; cp /bin/true plain; chmod 755 plain; echo new > dir/new.txt`),
		Workspace: ws, Protect: []string{filepath.Join(ws, "t.db")},
	})
	if r.res.ExitCode != 0 {
		t.Fatalf("setup run: %+v %s", r.res, r.stderr)
	}
	// Plant what a successful attack would have left in the upper layer.
	writeFiles(t, r.sb.upper, map[string]string{
		".behavediff/baselines/app.yaml": "allow: {files: ['**']}\n",
		"t.db":                           "REPLACED",
		"nested/.behavediff/x":           "x",
	})
	// The workspace's dir is swapped for a symlink out of it after the run.
	if err := os.RemoveAll(filepath.Join(ws, "dir")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(ws, "dir")); err != nil {
		t.Fatal(err)
	}
	refused, err := r.sb.ApplyChanges()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, rf := range refused {
		got[strings.TrimPrefix(rf.Path, ws+"/")] = true
	}
	for _, p := range []string{".behavediff", "t.db", "nested/.behavediff", "suid", "sgid"} {
		if !got[p] {
			t.Errorf("%s not refused; refused: %+v", p, refused)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(ws, ".behavediff/baselines/app.yaml")); string(b) != "allow: nothing\n" {
		t.Errorf("baseline rewritten: %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(ws, "t.db")); string(b) != "DB" {
		t.Errorf("trace database replaced: %q", b)
	}
	if _, err := os.Stat(filepath.Join(outside, "new.txt")); err == nil {
		t.Error("ApplyChanges wrote through a symlink out of the workspace")
	}
	for p, wantMode := range map[string]os.FileMode{"suid": 0o755, "sgid": 0o755 | os.ModeDir, "plain": 0o755} {
		st, err := os.Stat(filepath.Join(ws, p))
		if err != nil {
			t.Errorf("%s not applied: %v", p, err)
			continue
		}
		if st.Mode()&(os.ModeSetuid|os.ModeSetgid|os.ModeDir|os.ModePerm) != wantMode {
			t.Errorf("%s has mode %v on the host, want %v", p, st.Mode(), wantMode)
		}
	}
}

// secretRootfs builds a root filesystem holding busybox and a sample of every
// maskable place of the secret table, each with content "SECRET".
func secretRootfs(t *testing.T) (string, []string) {
	t.Helper()
	bb, err := findStatic("busybox")
	if err != nil {
		t.Skipf("needs busybox-static: %v", err)
	}
	root := t.TempDir()
	for _, d := range []string{"bin", "proc", "dev", "sys", "tmp", "run", "home/alice"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyTestFile(t, bb, filepath.Join(root, "bin/busybox"))
	if err := os.Chmod(filepath.Join(root, "bin/busybox"), 0o755); err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, e := range secrets.Table {
		if !e.Maskable() {
			continue
		}
		for _, home := range []string{"/root", "/home/alice"} {
			p := strings.Replace(e.Glob, "~/", home+"/", 1)
			p = strings.ReplaceAll(p, "*", "_rsa_")
			if e.Dir {
				p += "/credentials"
			}
			if strings.HasPrefix(p, "/run/") {
				continue // /run is a fresh tmpfs in every sandbox
			}
			files = append(files, p)
			writeFiles(t, root, map[string]string{strings.TrimPrefix(p, "/"): "SECRET"})
		}
	}
	return root, files
}

func findStatic(name string) (string, error) {
	for _, p := range []string{"/bin/" + name, "/usr/bin/" + name} {
		if out, err := os.ReadFile(p); err == nil && len(out) > 0 {
			return p, nil
		}
	}
	return "", errors.New(name + " not found")
}

// Every place in the one secret table is masked inside the sandbox (and is
// readable without the masks, so the test can fail).
func TestEverySecretMasked(t *testing.T) {
	c := connect(t)
	root, files := secretRootfs(t)
	script := "for f in " + strings.Join(files, " ") + `; do echo "$f=[$(/bin/busybox cat $f 2>/dev/null)]"; done`
	args := []string{"/bin/busybox", "sh", "-c", script}
	r := runIn(t, c, Options{Args: args, Rootfs: root, HideHostSecrets: true})
	for _, f := range files {
		if !strings.Contains(r.stdout, f+"=[]") {
			t.Errorf("%s readable inside the sandbox", f)
		}
	}
	if t.Failed() {
		t.Logf("stdout:\n%s\nstderr: %s", r.stdout, r.stderr)
	}
	r = runIn(t, c, Options{Args: args, Rootfs: root, HideHostSecrets: false})
	if strings.Count(r.stdout, "=[SECRET]") != len(files) {
		t.Errorf("without masks every sample should be readable (else the test proves nothing):\n%s", r.stdout)
	}
}

// A scratch image (one static binary, no /etc) runs even though the
// recorder asks for a resolv.conf: what cannot be provided is skipped.
func TestRootfsWithoutEtc(t *testing.T) {
	c := connect(t)
	bb, err := findStatic("busybox")
	if err != nil {
		t.Skipf("needs busybox-static: %v", err)
	}
	root := t.TempDir()
	copyTestFile(t, bb, filepath.Join(root, "busybox"))
	if err := os.Chmod(filepath.Join(root, "busybox"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := runIn(t, c, Options{Args: []string{"/busybox", "echo", "scratch ok"}, Rootfs: root, ResolvConf: "nameserver 127.0.0.53\n"})
	if r.res.ExitCode != 0 || r.stdout != "scratch ok\n" {
		t.Errorf("scratch rootfs: %+v %q %q", r.res, r.stdout, r.stderr)
	}
}

// Writing twice the disk limit into the workspace fails with ENOSPC, the run
// ends normally and names the limit, and the host's disk holds at most the
// limit for it.
func TestDiskLimit(t *testing.T) {
	c := connect(t)
	const limit = 64 << 20
	r := runIn(t, c, Options{
		Args:      sh(`dd if=/dev/zero of=big bs=1M count=128 2>err.txt; echo "dd=$?"; grep -c 'No space left' err.txt`),
		DiskBytes: limit,
	})
	if r.res.ExitCode != 0 || !strings.Contains(r.stdout, "dd=1\n1\n") {
		t.Errorf("dd of 2× the limit: %+v stdout %q stderr %q", r.res, r.stdout, r.stderr)
	}
	if want := "disk limit 64 MiB reached"; !contains(r.res.LimitsHit, want) {
		t.Errorf("limits hit %q, want %q", r.res.LimitsHit, want)
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(r.sb.dir, "disk.img"), &st); err != nil {
		t.Fatal(err)
	}
	if used := st.Blocks * 512; used > limit {
		t.Errorf("the run's disk takes %d bytes of the host's, more than the %d limit", used, limit)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// A process that outgrows the memory limit is OOM-killed and the result says
// so by name, not just "killed by signal 9".
func TestOOMNamed(t *testing.T) {
	c := connect(t)
	r := runIn(t, c, Options{
		Args:        []string{"python3", "-c", "a = []\nwhile True: a.append(bytearray(1 << 20))"},
		MemoryBytes: 64 << 20, Timeout: time.Minute,
	})
	if r.res.Signal != 9 {
		t.Errorf("result %+v, want killed by SIGKILL (stderr %s)", r.res, r.stderr)
	}
	if want := "memory limit 64 MiB reached: OOM-killed (1 process(es))"; !contains(r.res.LimitsHit, want) {
		t.Errorf("limits hit %q, want %q", r.res.LimitsHit, want)
	}
}

// The timeout holds without the recorder's Wait: the watchdog owns the
// deadline and kills the cgroup by itself.
func TestWatchdogDeadline(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	sb, err := c.Create(ctx, Options{ID: newID(t), Args: sh("sleep 600"), Env: testEnv, Workspace: t.TempDir(), Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close(ctx)
	if err := sb.Start(ctx); err != nil {
		t.Fatal(err)
	}
	procs := filepath.Join(sb.cgroupDir, "cgroup.procs")
	deadline := time.Now().Add(time.Second + watchdogGrace + 3*time.Second)
	for {
		b, err := os.ReadFile(procs)
		if err == nil && len(strings.TrimSpace(string(b))) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sandbox still running %s after its 1s timeout without Wait: %q", time.Since(sb.started), b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if d := time.Since(sb.started); d < time.Second {
		t.Errorf("killed after %s, before its timeout", d)
	}
}

// A root-owned 0600 file that no mask covers is unreadable although the
// command is uid 0 inside (the workspace is root's): the user namespace
// makes it HostIDBase on the host. A workspace of uid 1000 runs as 1000
// and writes its files; without the namespace uid 0 reads the file, so
// the checks can fail.
func TestRootPrivateFileUnreadable(t *testing.T) {
	c := connect(t)
	dir, err := os.MkdirTemp("/var/tmp", "bd-test-private-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(dir, "opasswd")
	if err := os.WriteFile(secret, []byte("ROOT ONLY"), 0o600); err != nil {
		t.Fatal(err)
	}
	read := `echo "id=$(id -u):$(id -g)"; echo "secret=[$(cat ` + secret + ` 2>/dev/null)]"`
	// The attacker's next tries: a nested user namespace (full capabilities
	// in it), and a hard link into the workspace to copy the file out with
	// --keep-changes.
	escape := `
echo "nested=[$(unshare -Ur cat ` + secret + ` 2>/dev/null)]"
ln ` + secret + ` link 2>/dev/null && echo linked
true`
	r := runIn(t, c, Options{Args: sh(read + escape)})
	if want := "id=0:0\nsecret=[]\nnested=[]\n"; r.stdout != want {
		t.Errorf("root workspace, user namespace:\n%s\nwant\n%s\nstderr %s", r.stdout, want, r.stderr)
	}

	ws := t.TempDir()
	writeFiles(t, ws, map[string]string{"sub/mine.txt": "mine\n"})
	for _, p := range []string{ws, filepath.Join(ws, "sub"), filepath.Join(ws, "sub/mine.txt")} {
		if err := os.Chown(p, 1000, 1000); err != nil {
			t.Fatal(err)
		}
	}
	r = runIn(t, c, Options{Args: sh(read + `
echo more >> sub/mine.txt && echo new > sub/new.txt && echo new > top.txt && echo wrote`), Workspace: ws})
	if want := "id=1000:1000\nsecret=[]\nwrote\n"; r.stdout != want {
		t.Errorf("as the workspace owner:\n%s\nwant\n%s\nstderr %s", r.stdout, want, r.stderr)
	}
	if _, err := r.sb.ApplyChanges(); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"sub/mine.txt", "sub/new.txt", "top.txt"} {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(ws, p), &st); err != nil {
			t.Fatal(err)
		}
		if st.Uid != 1000 || st.Gid != 1000 {
			t.Errorf("%s kept as %d:%d, want the owner's 1000:1000", p, st.Uid, st.Gid)
		}
	}
	// Control: without the namespace uid 0 is root on the host.
	r = runIn(t, c, Options{Args: sh(`cat ` + secret), NoUserNamespace: true})
	if r.stdout != "ROOT ONLY" {
		t.Errorf("uid 0 without the user namespace could not read the file (the test proves nothing): %q %q", r.stdout, r.stderr)
	}
}

// The command's processes are HostIDBase+uid on the host, while inside they
// see their own uid and the mapping; writes to the workspace (create,
// modify, rename, delete) work and ApplyChanges gives every kept file the
// workspace owner's ids, never a host id of the range.
func TestUserNamespace(t *testing.T) {
	c := connect(t)
	ws := t.TempDir()
	writeFiles(t, ws, map[string]string{"a.txt": "a\n", "b.txt": "b\n", "gone.txt": "x", "d/e.txt": "e\n"})
	ctx := context.Background()
	script := `id -u; cat /proc/self/uid_map | tr -s ' ' ' '
echo new > new.txt && echo more >> a.txt && mv b.txt renamed.txt && rm gone.txt && echo f > d/f.txt && mv d/e.txt d/e2.txt || echo FAILED
read x`
	var out, errb bytes.Buffer
	stdinR, stdinW := io.Pipe()
	sb, err := c.Create(ctx, Options{ID: newID(t), Args: sh(script), Env: testEnv, Workspace: ws, Stdin: stdinR, Stdout: &out, Stderr: &errb})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close(ctx)
	if err := sb.Start(ctx); err != nil {
		t.Fatal(err)
	}
	// While the command waits on stdin: its uid as the host sees it.
	var hostUID string
	for i := 0; i < 100 && hostUID == ""; i++ {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", sb.Pid()))
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[0] == "Uid:" {
				hostUID = f[1]
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	stdinW.Write([]byte("go\n"))
	stdinW.Close()
	res, err := sb.Wait(ctx)
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("Wait = %+v, %v; stderr %s", res, err, errb.String())
	}
	if want := fmt.Sprint(HostIDBase); hostUID != want {
		t.Errorf("host uid of the command = %q, want %s", hostUID, want)
	}
	if want := fmt.Sprintf("0\n 0 %d 65536\n", HostIDBase); out.String() != want {
		t.Errorf("inside:\n%q\nwant\n%q", out.String(), want)
	}
	if _, err := sb.ApplyChanges(); err != nil {
		t.Fatal(err)
	}
	got := snapshot(t, ws)
	want := map[string]string{"a.txt": "a\nmore\n", "renamed.txt": "b\n", "new.txt": "new\n", "d": "<dir>", "d/f.txt": "f\n", "d/e2.txt": "e\n"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("workspace after ApplyChanges (-want +got):\n%s", diff)
	}
	filepath.Walk(ws, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != 0 || st.Gid != 0 {
			t.Errorf("%s owned by %d:%d on the host, want the workspace owner's 0:0", p, st.Uid, st.Gid)
		}
		return nil
	})
}

// The watchdog kills the sandbox as soon as its pipe from the recorder is
// closed, which the kernel does when the recorder dies — also before Start,
// when runc init waits for the command (cmd/behavediff's
// TestSIGKILLKillsSandbox kills a real recorder).
func TestWatchdogKillsOnPipeEOF(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	for _, start := range []bool{false, true} {
		sb, err := c.Create(ctx, Options{ID: newID(t), Args: sh("sleep 600"), Env: testEnv, Workspace: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		if start {
			if err := sb.Start(ctx); err != nil {
				t.Fatal(err)
			}
		}
		procs := filepath.Join(sb.cgroupDir, "cgroup.procs")
		if b, _ := os.ReadFile(procs); len(strings.TrimSpace(string(b))) == 0 {
			t.Fatalf("started=%v: nothing in the cgroup to begin with", start)
		}
		sb.watchdog.w.Close() // what the recorder's death does
		closed := time.Now()
		for {
			b, err := os.ReadFile(procs)
			if err == nil && len(strings.TrimSpace(string(b))) == 0 {
				break
			}
			if time.Since(closed) > 2*time.Second {
				t.Fatalf("started=%v: sandbox alive 2 s after the recorder's pipe closed: %q", start, b)
			}
			time.Sleep(20 * time.Millisecond)
		}
		sb.watchdog.w = nil
		if err := sb.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	}
}

// /tmp holds at most TmpfsBytes: writing twice that fails with ENOSPC.
func TestTmpfsLimit(t *testing.T) {
	c := connect(t)
	r := runIn(t, c, Options{
		Args:       sh(`dd if=/dev/zero of=/tmp/big bs=1M count=32 2>err.txt; echo "dd=$?"; grep -c 'No space left' err.txt; du -m /tmp/big | cut -f1`),
		TmpfsBytes: 16 << 20,
	})
	if r.stdout != "dd=1\n1\n16\n" {
		t.Errorf("dd of 2× --tmpfs-size into /tmp: %q (stderr %q)", r.stdout, r.stderr)
	}
}
