package baseline_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/behavediff/behavediff/baseline"
	"github.com/behavediff/behavediff/store"
)

// repetitiveTrace is a run that does the same few things many times, from
// several processes, with varying results: what LoadDistinct thins out.
func repetitiveTrace(seed uint64) *store.Trace {
	r := rand.New(rand.NewPCG(seed, 7))
	t := &store.Trace{Run: store.Run{Command: []string{"make"}, Workspace: "/ws"}}
	exes := []string{"/usr/bin/make", "/bin/sh", "/usr/bin/cc", "/usr/bin/ld"}
	for i := 0; i < 40; i++ {
		parent := int32(-1)
		if i > 0 {
			parent = int32(r.IntN(i))
		}
		t.Processes = append(t.Processes, store.Process{Idx: int32(i), Pid: int32(100 + i), ParentIdx: parent, Exe: exes[i%len(exes)]})
		if i%5 != 4 { // every fifth is a fork that never exec'd
			t.Files = append(t.Files,
				store.FileEvent{Proc: int32(i), Op: store.FileExec, Path: "/usr/local/bin/" + filepath.Base(exes[i%len(exes)]), Result: -2},
				store.FileEvent{Proc: int32(i), Op: store.FileExec, Path: exes[i%len(exes)]})
		}
	}
	paths := []string{"/etc/passwd", "/ws/a.c", "/ws/b.c", "/root/.ssh/id_rsa", "/usr/lib/libc.so.6", "/ws/out"}
	errnos := []int64{3, 4, 5, -2, -13}
	for i := 0; i < 5000; i++ {
		p := int32(r.IntN(40))
		path := paths[r.IntN(len(paths))]
		res := errnos[r.IntN(len(errnos))]
		ts := int64(i) * 1000
		switch k := r.IntN(10); {
		case k < 5:
			// some reads of the same paths are raced or late (bpf/pathargs.h):
			// another behaviour, which deduplication must keep
			st := []store.PathState{store.PathKernel, store.PathKernel, store.PathKernel, store.PathLate, store.PathRaced}[r.IntN(5)]
			t.Files = append(t.Files, store.FileEvent{Proc: p, Op: store.FileOpen, Path: path, PathState: st, Result: res, TS: ts})
		case k < 7:
			t.Files = append(t.Files, store.FileEvent{Proc: p, Op: store.FileOpen, Path: path, Flags: 0x241, Mode: 0o644, Result: res, TS: ts})
		case k < 8:
			t.Files = append(t.Files, store.FileEvent{Proc: p, Op: store.FileOpen, Path: fmt.Sprintf("/tmp/cc%06d.s", r.IntN(1e6)), Flags: 0xc2, Result: 3, TS: ts})
		case k < 9:
			t.Files = append(t.Files, store.FileEvent{Proc: p, Op: store.FileMkdir, Path: "/ws/obj", Mode: 0o755, Result: []int64{0, -17}[r.IntN(2)], TS: ts})
		default:
			t.Files = append(t.Files,
				store.FileEvent{Proc: p, Op: store.FileRename, Path: "/ws/out", Path2: "/ws/final", Result: min(res, 0), TS: ts},
				store.FileEvent{Proc: p, Op: store.FileChmod, Path: "/ws/final", Mode: uint32(0o644 + r.IntN(2)*0o111), TS: ts + 1})
		}
		if i%50 == 0 {
			t.Net = append(t.Net,
				store.NetEvent{Proc: p, Op: store.NetDNS, Family: 2, SockType: 2, Address: "127.0.0.53", Port: 53, Domain: "example.com", TS: ts},
				store.NetEvent{Proc: p, Op: store.NetConnect, Family: 2, SockType: 1, Address: fmt.Sprintf("192.0.2.%d", r.IntN(9)), Port: 443, TS: ts + 1})
		}
	}
	t.Syscalls = []store.SyscallCount{{Proc: 0, Name: "openat", Count: 5000}, {Proc: 3, Name: "connect", Count: 100}}
	return t
}

// A baseline built from LoadDistinct equals the one built from the whole
// trace, down to which process each behaviour is attributed to.
func TestLoadDistinctSameBaseline(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "traces.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for seed := uint64(1); seed <= 3; seed++ {
		tr := repetitiveTrace(seed)
		w, err := db.BeginRun(ctx, tr.Run)
		if err != nil {
			t.Fatal(err)
		}
		fi, ni := 0, 0
		for fi < len(tr.Files) || ni < len(tr.Net) { // interleaved, as recorded
			if fi < len(tr.Files) {
				w.AddFile(tr.Files[fi])
				fi++
			}
			if ni < len(tr.Net) && (fi%100 == 0 || fi == len(tr.Files)) {
				w.AddNet(tr.Net[ni])
				ni++
			}
		}
		if err := w.Finish(ctx, store.Final{Processes: tr.Processes, Syscalls: tr.Syscalls, Status: store.StatusOK}); err != nil {
			t.Fatal(err)
		}
		full, err := db.LoadTrace(ctx, w.ID())
		if err != nil {
			t.Fatal(err)
		}
		thin, err := db.LoadDistinct(ctx, w.ID())
		if err != nil {
			t.Fatal(err)
		}
		if len(thin.Files)*3 > len(full.Files) {
			t.Errorf("seed %d: LoadDistinct read %d of %d file events; expected a fraction", seed, len(thin.Files), len(full.Files))
		}
		if d := cmp.Diff(full.Net, thin.Net); d != "" {
			t.Errorf("seed %d: network events differ (-full +distinct):\n%s", seed, d)
		}
		want := mustFromTrace(t, full, baseline.Options{})
		got := mustFromTrace(t, thin, baseline.Options{})
		if d := cmp.Diff(want, got, cmp.AllowUnexported(baseline.Baseline{}, baseline.Entry{}), cmpopts.IgnoreUnexported(baseline.Redaction{})); d != "" {
			t.Errorf("seed %d: baseline from distinct events differs (-full +distinct):\n%s", seed, d)
		}
	}
}
