package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestCloseAfterExitLeavesNothing tries to keep the run's mounts busy at
// the moment Close releases them, now that it does so while containerd is
// still deleting the task: the command leaves a detached background process
// (its own session, TERM and HUP ignored) whose cwd is the workspace
// overlay and which holds files on the run's disk open, one of them still
// being written, then exits. After Close nothing of the run may be left:
// no mount, no run directory, no loop device backed by its disk image, no
// process, no container, no cgroup.
func TestCloseAfterExitLeavesNothing(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	id := newID(t)
	ws := t.TempDir()
	const marker = "314.159265"
	script := `set -e
mkdir -p held/deeper
cd held/deeper
setsid /bin/sh -c 'trap "" TERM HUP; exec 3<../../held 4>>busy.log; while :; do echo x >&4; sleep 0.01; done & exec sleep ` + marker + `' </dev/null >/dev/null 2>&1 &
sleep 0.2
exit 0`
	sb, err := c.Create(ctx, Options{ID: id, Args: sh(script), Env: testEnv, Workspace: ws})
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close(ctx)
	if err := sb.Start(ctx); err != nil {
		t.Fatal(err)
	}
	res, err := sb.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("script exit %d", res.ExitCode)
	}
	changes, err := sb.Changes()
	if err != nil {
		t.Fatal(err)
	}
	if !hasChange(changes, "held/deeper/busy.log") {
		t.Fatalf("the background writer never wrote (the test proves nothing): %+v", changes)
	}
	runDir, cg := sb.dir, sb.cgroupDir
	img := filepath.Join(runDir, "disk.img")
	if len(loopDevicesOf(t, img)) == 0 {
		t.Fatalf("no loop device backed by %s before Close (the check below proves nothing)", img)
	}
	if err := sb.Close(ctx); err != nil {
		t.Fatal(err)
	}
	assertGone(t, c, id, runDir, cg)
	// A loop device is released when its last user goes: give the kernel a
	// moment, never forever.
	deadline := time.Now().Add(5 * time.Second)
	for {
		devs := loopDevicesOf(t, img)
		if len(devs) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("loop devices still backed by %s after Close: %v", img, devs)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, p := range processesWith(t, marker) {
		t.Errorf("process %d of the sandbox still running after Close", p)
	}
}

func hasChange(cs []Change, suffix string) bool {
	for _, c := range cs {
		if strings.HasSuffix(c.Path, suffix) {
			return true
		}
	}
	return false
}

// loopDevicesOf lists the loop devices whose backing file is img (the
// kernel appends " (deleted)" once it is unlinked).
func loopDevicesOf(t *testing.T, img string) []string {
	t.Helper()
	paths, err := filepath.Glob("/sys/block/loop*/loop/backing_file")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err == nil && strings.HasPrefix(strings.TrimSpace(string(b)), img) {
			out = append(out, filepath.Base(filepath.Dir(filepath.Dir(p))))
		}
	}
	return out
}

// processesWith lists the host pids whose command line contains s.
func processesWith(t *testing.T, s string) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.Contains(string(b), s) {
			out = append(out, pid)
		}
	}
	return out
}
