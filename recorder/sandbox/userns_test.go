package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The host id range is refused when an account database uses it.
func TestIDRangeInUse(t *testing.T) {
	dir := t.TempDir()
	lo, hi := uint64(HostIDBase), uint64(HostIDBase)+uint64(IDRange)
	for _, tc := range []struct {
		name, content string
		span, bad     bool
	}{
		{"passwd-ok", "root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n", false, false},
		{"passwd-uid", fmt.Sprintf("evil:x:%d:0::/:/bin/sh\n", HostIDBase+5), false, true},
		{"passwd-gid", fmt.Sprintf("evil:x:5:%d::/:/bin/sh\n", HostIDBase+IDRange-1), false, true},
		{"passwd-above", fmt.Sprintf("ok:x:%d:0::/:/bin/sh\n", HostIDBase+IDRange), false, false},
		{"subuid-ok", "alice:100000:65536\n", true, false},
		{"subuid-overlap", fmt.Sprintf("alice:%d:65536\n", HostIDBase-10), true, true},
		{"subuid-inside", fmt.Sprintf("alice:%d:1\n", HostIDBase+100), true, true},
	} {
		p := filepath.Join(dir, tc.name)
		if err := os.WriteFile(p, []byte(tc.content), 0o644); err != nil {
			t.Fatal(err)
		}
		err := checkIDFile(p, []int{2, 3}, tc.span, lo, hi)
		if got := errors.Is(err, ErrIDRangeInUse); got != tc.bad {
			t.Errorf("%s: err = %v, want in use %v", tc.name, err, tc.bad)
		}
	}
	if err := checkIDRange(); err != nil {
		t.Errorf("this host: %v", err)
	}
}

// Close leaves no mount behind: the workspace overlay, its idmapped lower
// layer, the disk and an idmapped --rootfs view are all gone, with the
// host root and with a root filesystem of its own.
func TestCloseUnmountsUserNamespaceMounts(t *testing.T) {
	c := connect(t)
	root, _ := secretRootfs(t)
	for _, o := range []Options{
		{Args: sh("echo x > f")},
		{Args: []string{"/bin/busybox", "sh", "-c", "echo x > f"}, Rootfs: root},
	} {
		r := runIn(t, c, o)
		if r.res.ExitCode != 0 {
			t.Fatalf("run: %+v %s", r.res, r.stderr)
		}
		id := r.sb.opts.ID
		mounted := func() []string {
			infos, err := readMountInfo()
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, m := range infos {
				if strings.Contains(m.MountPoint, id) {
					out = append(out, m.MountPoint)
				}
			}
			return out
		}
		want := 3 // disk, lower, merged
		if o.Rootfs != "" {
			want = 4 // and the rootfs view
		}
		if got := mounted(); len(got) != want {
			t.Errorf("rootfs %q: %d mounts of the run before Close, want %d: %v", o.Rootfs, len(got), want, got)
		}
		if err := r.sb.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := mounted(); len(got) != 0 {
			t.Errorf("rootfs %q: mounts left after Close: %v", o.Rootfs, got)
		}
		if _, err := os.Stat(filepath.Join(rootsDir, id)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("rootfs view dir left: %v", err)
		}
	}
}

// A workspace below a private directory (/root is 0700, many homes are
// 0750) that root of the user namespace cannot search still runs: the
// private directory is covered by an empty read-only one holding only the
// way down to the workspace, so a file next to the workspace is not there
// at all, and the same holds for a private $HOME.
func TestWorkspaceUnderPrivateHome(t *testing.T) {
	c := connect(t)
	priv, err := os.MkdirTemp("/var/tmp", "bd-home-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(priv) })
	if err := os.Chmod(priv, 0o700); err != nil {
		t.Fatal(err)
	}
	ws := filepath.Join(priv, "src", "proj")
	writeFiles(t, ws, map[string]string{"in.txt": "in"})
	if err := os.WriteFile(filepath.Join(priv, ".netrc"), []byte("machine x password y"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := append([]string{}, testEnv...)
	env = append(env, "HOME="+priv)
	script := `cat in.txt; echo; echo out > out.txt
ls -A "$HOME" | tr '\n' ' '; echo
ls -A "$HOME/src" | tr '\n' ' '; echo
if cat "$HOME/.netrc" 2>/dev/null; then echo netrc-read; fi
if touch "$HOME/x" 2>/dev/null; then echo home-written; fi`
	r := runIn(t, c, Options{Workspace: ws, Env: env, Args: sh(script)})
	if r.res.ExitCode != 0 {
		t.Fatalf("%+v stdout %q stderr %q", r.res, r.stdout, r.stderr)
	}
	if want := "in\nsrc \nproj \n"; r.stdout != want {
		t.Errorf("stdout %q, want %q (stderr %q)", r.stdout, want, r.stderr)
	}
	ch, err := r.sb.Changes()
	if err != nil || len(ch) != 1 || ch[0].Path != ws+"/out.txt" {
		t.Errorf("Changes = %v, %v", ch, err)
	}

	// The control: without the namespace the private directory is not
	// covered (root on the host may search it).
	r = runIn(t, c, Options{Workspace: ws, Env: env, NoUserNamespace: true, Args: sh(`ls -A "$HOME" | tr '\n' ' '`)})
	if !strings.Contains(r.stdout, ".netrc") {
		t.Errorf("control: stdout %q, want .netrc listed (stderr %q)", r.stdout, r.stderr)
	}
}

// Masks inside a covering directory are dropped (their targets are not
// there), except the cover itself and what is inside the workspace.
func TestDropCovered(t *testing.T) {
	ms := []specs.Mount{
		{Destination: "/root"},                 // the cover
		{Destination: "/root/other/traces.db"}, // hidden by it: dropped
		{Destination: "/root/ws"},              // the workspace
		{Destination: "/root/ws/.behavediff"},  // inside the workspace
		{Destination: "/rootless/x"},           // a sibling name, not under /root
		{Destination: "/etc/shadow"},
	}
	got := dropCovered(ms, []string{"/root"}, "/root/ws")
	var dests []string
	for _, m := range got {
		dests = append(dests, m.Destination)
	}
	want := []string{"/root", "/root/ws", "/root/ws/.behavediff", "/rootless/x", "/etc/shadow"}
	if diff := cmp.Diff(want, dests); diff != "" {
		t.Errorf("dropCovered (-want +got):\n%s", diff)
	}
}
