package store

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user+system CPU time so far: under a loaded
// machine wall time measures the neighbours, CPU time the work.
func cpuTime(b testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

const benchEvents = 1_000_000

// benchPaths are ~1000 distinct paths, as a build touching a tree would.
var benchPaths = func() []string {
	var ps []string
	for i := 0; i < 1000; i++ {
		ps = append(ps, fmt.Sprintf("/usr/lib/python3.11/site-packages/pkg%d/module_%d.py", i/40, i))
	}
	return ps
}()

var benchOps = []FileOp{FileOpen, FileOpen, FileOpen, FileStat, FileOpen, FileChmod, FileUnlink, FileRename}

func benchFile(i int) FileEvent {
	op := benchOps[i%len(benchOps)]
	e := FileEvent{Proc: int32(i % 50), Op: op, Path: benchPaths[(i*7919)%len(benchPaths)], TS: int64(i) * 3_000}
	switch op {
	case FileOpen:
		e.Flags, e.Result = 0x80000, int64(3+i%20)
		if i%10 == 0 {
			e.Result = -2
		}
	case FileRename:
		e.Path2 = benchPaths[(i*31)%len(benchPaths)]
	case FileChmod:
		e.Mode = 0o644
	}
	return e
}

// ingest writes n file events (plus one net event per 64) as a run.
func ingest(b testing.TB, db *DB, n int) int64 {
	w, err := db.BeginRun(ctx, Run{Command: []string{"bench"}, StartedAt: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i++ {
		if err := w.AddFile(benchFile(i)); err != nil {
			b.Fatal(err)
		}
		if i%64 == 0 {
			if err := w.AddNet(NetEvent{Proc: 1, Op: NetConnect, Family: 2, SockType: 1, Address: "10.0.0.1", Port: 443, TS: int64(i)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	procs := make([]Process, 50)
	for i := range procs {
		procs[i] = Process{Idx: int32(i), Pid: int32(1000 + i), ParentIdx: int32(i) - 1, Exe: "/usr/bin/python3", Argv: []string{"python3", "x.py"}}
	}
	if err := w.Finish(ctx, Final{Status: StatusOK, Processes: procs}); err != nil {
		b.Fatal(err)
	}
	return w.ID()
}

func dbBytes(b testing.TB, db *DB) int64 {
	if _, err := db.w.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		b.Fatal(err)
	}
	var total int64
	for _, suf := range []string{"", "-wal"} {
		if st, err := os.Stat(db.path + suf); err == nil {
			total += st.Size()
		}
	}
	return total
}

func BenchmarkIngest1M(b *testing.B) {
	var events, bytes int64
	var elapsed, cpu time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		db, err := Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
		if err != nil {
			b.Fatal(err)
		}
		empty := dbBytes(b, db)
		b.StartTimer()
		t0, c0 := time.Now(), cpuTime(b)
		ingest(b, db, benchEvents)
		elapsed += time.Since(t0)
		cpu += cpuTime(b) - c0
		b.StopTimer()
		events += benchEvents + benchEvents/64
		bytes += dbBytes(b, db) - empty
		db.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(events)/elapsed.Seconds(), "events/s")
	// CPU per event, all goroutines (the writer, the checkpointer, GC):
	// what the recorder takes from the traced program's cores.
	b.ReportMetric(float64(cpu.Nanoseconds())/1000/float64(events), "cpu-µs/event")
	b.ReportMetric(float64(bytes)/float64(events), "bytes/event")
	b.ReportMetric(0, "ns/op")
	fmt.Printf("store ingest of %d events: %.0f events/s (goal >= 600k/s, every event stored), %.2f CPU µs per event (goal <= 2 µs), %.1f bytes/event\n",
		events, float64(events)/elapsed.Seconds(), float64(cpu.Nanoseconds())/1000/float64(events), float64(bytes)/float64(events))
}

func BenchmarkLoadTrace1M(b *testing.B) {
	db, err := Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	id := ingest(b, db, benchEvents)
	b.ReportAllocs()
	b.ResetTimer()
	var n int
	for i := 0; i < b.N; i++ {
		tr, err := db.LoadTrace(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		n = len(tr.Files) + len(tr.Net)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/event")
}

// BenchmarkLoadDistinct1M reads the first file events of a 1M-event run
// (what a baseline is built from), per event stored in the run.
func BenchmarkLoadDistinct1M(b *testing.B) {
	db, err := Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	id := ingest(b, db, benchEvents)
	b.ReportAllocs()
	b.ResetTimer()
	var n int
	for i := 0; i < b.N; i++ {
		tr, err := db.LoadDistinct(ctx, id)
		if err != nil {
			b.Fatal(err)
		}
		n = len(tr.Files)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(benchEvents), "ns/stored-event")
	b.ReportMetric(float64(n), "distinct-files")
}
