package recorder

import (
	"testing"

	"github.com/behavediff/behavediff/bpf"
	"github.com/behavediff/behavediff/store"
	"github.com/google/go-cmp/cmp"
)

// The sensor's raced/late flags become path states; late does not matter
// where the stored path is the kernel's own (an open's fd, chdir's cwd).
func TestTrackerRacedLate(t *testing.T) {
	s := &fakeSink{}
	tr := newTracker(s, 0)
	tr.handle(&bpf.Event{Kind: bpf.KindExec, Pid: 1, Exe: "/bin/sh", Cwd: "/w"})
	evs := []*bpf.Event{
		sys(t, 1, "openat", -4, func(e *bpf.Event) { e.Str[0], e.Raced = "/tmp/fifo", true }),
		sys(t, 1, "openat", 3, func(e *bpf.Event) { e.Str[0], e.Resolved, e.Raced = "/tmp/a", "/tmp/a", true }),
		sys(t, 1, "openat", 3, func(e *bpf.Event) { e.Str[0], e.Resolved, e.Late = "/tmp/b", "/tmp/b", true }),
		sys(t, 1, "openat", -2, func(e *bpf.Event) { e.Str[0], e.Late = "/tmp/c", true }),
		sys(t, 1, "unlink", 0, func(e *bpf.Event) { e.Str[0], e.Late, e.Raced = "/tmp/d", true, true }),
		sys(t, 1, "mkdir", 0, func(e *bpf.Event) { e.Str[0], e.Base[0], e.Late = "x/../y", "/w", true }),
		sys(t, 1, "chdir", 0, func(e *bpf.Event) { e.Str[0], e.Base[0], e.Resolved, e.Late = "sub", "/w", "/w/sub", true }),
	}
	for _, ev := range evs {
		if err := tr.handle(ev); err != nil {
			t.Fatal(err)
		}
	}
	var got []store.PathState
	for _, f := range s.files[1:] {
		got = append(got, f.PathState)
	}
	want := []store.PathState{store.PathRaced, store.PathRaced, store.PathKernel, store.PathLate, store.PathRaced, store.PathLate, store.PathKernel}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("path states (-want +got):\n%s", d)
	}
}
