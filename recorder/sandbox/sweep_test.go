package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A rootfs view is a mount point, so its mtime is its image root's: hours
// old for a view made a moment ago from an image unpacked long before.
// Another recorder's sweep, running while this one is between making the
// view and creating its container, must judge the view by its run dir and
// leave it; a view whose run dir is old, or gone, is an orphan and goes.
func TestSweepKeepsFreshViewOfOldImage(t *testing.T) {
	c := connect(t)
	ctx := context.Background()
	image := t.TempDir()
	old := time.Now().Add(-3 * staleDirAge)
	if err := os.Chtimes(image, old, old); err != nil {
		t.Fatal(err)
	}
	view := func(id string, withRunDir bool) (string, string) {
		v, run := filepath.Join(rootsDir, id), filepath.Join(runsDir, id)
		if withRunDir {
			if err := os.MkdirAll(run, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.MkdirAll(v, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := unix.Mount(image, v, "", unix.MS_BIND, ""); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = releaseRootView(id); _ = os.RemoveAll(run) })
		return v, run
	}
	mounted := func(p string) bool { return sameTree(p, image) }
	base := "bd-sweepview-" + strconv.Itoa(os.Getpid())
	fresh, _ := view(base+"-fresh", true)
	stale, staleRun := view(base+"-stale", true)
	orphan, _ := view(base+"-orphan", false)
	if err := os.Chtimes(staleRun, old, old); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(fresh); err != nil || time.Since(st.ModTime()) < staleDirAge {
		t.Fatalf("the fresh view's own mtime %v (%v) is not old: the test would not test the race", st.ModTime(), err)
	}

	if err := c.sweepStaleDirs(ctx); err != nil {
		t.Fatal(err)
	}
	if !mounted(fresh) {
		t.Error("a view made a moment ago (of an image unpacked hours ago) was swept while its run was being created")
	}
	for _, v := range []string{stale, orphan} {
		if _, err := os.Stat(v); !os.IsNotExist(err) {
			t.Errorf("%s: an orphaned view was kept (%v)", v, err)
		}
	}
}

// sameTree reports whether p shows dir's contents (a bind mount of it).
func sameTree(p, dir string) bool {
	var a, b unix.Stat_t
	return unix.Stat(p, &a) == nil && unix.Stat(dir, &b) == nil && a.Ino == b.Ino && a.Dev == b.Dev
}
