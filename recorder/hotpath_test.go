package recorder

import (
	"testing"

	"github.com/behavediff/behavediff/bpf"
	"github.com/behavediff/behavediff/store"
)

// FuzzLexicalTidy: a path returned as it is (no split and join) must be
// exactly what splitting and joining makes of it, ".." state included;
// crafted near-misses (a "." or ".." inside a name, "...", a trailing "/.",
// repeated slashes, a relative path) are the seeds.
func FuzzLexicalTidy(f *testing.F) {
	for _, p := range []string{"/", "", "/a", "/a/b.c", "/a/.b", "/a/b.", "/a/..b", "/a/b..", "/a/...", "/a/.", "/a/./b",
		"/a/..", "/a/../b", "/..", "//a", "/a//b", "/a/", "a", "./a", "../a", ".", "..", "/.", "/a/b/c/d/e/f/g.so.6"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		got, gotState := lexicalTidy(p)
		want, wantState := splitJoinTidy(p)
		if got != want || gotState != wantState {
			t.Fatalf("lexicalTidy(%q) = %q, %v; splitting and joining gives %q, %v", p, got, gotState, want, wantState)
		}
	})
}

// nopSink takes every event and keeps none: the tracker's own cost.
type nopSink struct{ n int }

func (s *nopSink) AddFile(store.FileEvent) error { s.n++; return nil }
func (s *nopSink) AddNet(store.NetEvent) error   { s.n++; return nil }
func (s *nopSink) AddPriv(store.PrivEvent) error { s.n++; return nil }

// BenchmarkTrackerOpens runs the tracker over the syscall-heavy mix of
// open records (absolute and opened, absolute and missing, relative to the
// cwd), a fork, exec and exit every 1000: its cost per event, with the
// allocations, outside the sensor and the store.
func BenchmarkTrackerOpens(b *testing.B) {
	openat, _ := bpf.SyscallNr("openat")
	open := func(str, base, resolved string, ret int64) bpf.Event {
		return bpf.Event{Kind: bpf.KindSyscall, Pid: 10, Tid: 10, Nr: int32(openat), Ret: ret, TS: 5,
			Str: [2]string{str, ""}, Base: [2]string{base, ""}, Resolved: resolved}
	}
	mix := []bpf.Event{
		open("/etc/hostname", "", "/etc/hostname", 3),
		open("/usr/lib/python3/dist-packages/missing.py", "", "", -2),
		open("src/f1.c", "/work", "/work/src/f1.c", 3),
		open("include/missing.h", "/work", "", -2),
	}
	b.ReportAllocs()
	s := &nopSink{}
	tr := newTracker(s, 0)
	tr.handle(&bpf.Event{Kind: bpf.KindExec, Pid: 10, Exe: "/bin/heavy", Argv: []string{"heavy"}, Cwd: "/work"})
	pid := uint32(100)
	i := 0
	for b.Loop() {
		ev := mix[i%len(mix)]
		if i%1000 == 999 {
			pid++
			tr.handle(&bpf.Event{Kind: bpf.KindFork, Pid: 10, Child: pid})
			tr.handle(&bpf.Event{Kind: bpf.KindExec, Pid: pid, Exe: "/bin/true", Argv: []string{"true"}, Cwd: "/work"})
			ev = bpf.Event{Kind: bpf.KindExit, Pid: pid}
		}
		if err := tr.handle(&ev); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
