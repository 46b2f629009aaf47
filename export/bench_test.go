package export_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/behavediff/behavediff/export"
	"github.com/behavediff/behavediff/store"
)

// ingest writes a run of n file events (plus one net event per 64) over
// 1000 distinct paths and 50 processes, as a busy build would.
func ingest(b testing.TB, db *store.DB, n int) {
	w, err := db.BeginRun(ctx, store.Run{Command: []string{"bench"}, StartedAt: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i++ {
		e := store.FileEvent{Proc: int32(i % 50), Op: store.FileOpen, Flags: 0x80000, Result: int64(3 + i%20), TS: int64(i) * 3000,
			Path: fmt.Sprintf("/usr/lib/python3/site-packages/pkg%d/module_%d.py", (i*7919)%1000/40, (i*7919)%1000)}
		if err := w.AddFile(e); err != nil {
			b.Fatal(err)
		}
		if i%64 == 0 {
			if err := w.AddNet(store.NetEvent{Proc: 1, Op: store.NetConnect, Family: 2, SockType: 1, Address: "10.0.0.1", Port: 443, TS: int64(i)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	procs := make([]store.Process, 50)
	for i := range procs {
		procs[i] = store.Process{Idx: int32(i), Pid: int32(1000 + i), ParentIdx: int32(i) - 1, Exe: "/usr/bin/python3", Argv: []string{"python3", "x.py"}}
	}
	if err := w.Finish(ctx, store.Final{Status: store.StatusOK, Processes: procs}); err != nil {
		b.Fatal(err)
	}
}

// peakHeap runs f and returns the highest live heap seen while it ran
// (sampled every 5ms, after a GC so earlier garbage does not count).
func peakHeap(f func()) uint64 {
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak uint64
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				mu.Lock()
				peak = max(peak, m.HeapAlloc)
				mu.Unlock()
			}
		}
	}()
	f()
	close(done)
	mu.Lock()
	defer mu.Unlock()
	if peak < base.HeapAlloc {
		return 0
	}
	return peak - base.HeapAlloc
}

// BenchmarkExport1M exports a 1M-event run to Parquet and reports the peak
// heap next to that of a 10k-event run in the same process: streaming keeps
// the ratio near 1 (memory does not grow with the run), and rows/s.
//
//	go test ./export -run '^$' -bench Export1M -benchtime 1x
func BenchmarkExport1M(b *testing.B) {
	dir := b.TempDir()
	open := func(name string, n int) *store.DB {
		db, err := store.Open(ctx, filepath.Join(dir, name))
		if err != nil {
			b.Fatal(err)
		}
		ingest(b, db, n)
		return db
	}
	small, big := open("small.db", 10_000), open("big.db", 1_000_000)
	defer small.Close()
	defer big.Close()
	for _, f := range []export.Format{export.Parquet, export.JSONL} {
		b.Run(string(f), func(b *testing.B) {
			var peakSmall, peakBig uint64
			var took time.Duration
			var size int64
			for i := 0; i < b.N; i++ {
				out := b.TempDir()
				peakSmall = peakHeap(func() {
					if _, err := export.Export(ctx, small, export.Options{Format: f, Dir: filepath.Join(out, "s")}); err != nil {
						b.Fatal(err)
					}
				})
				start := time.Now()
				peakBig = peakHeap(func() {
					if _, err := export.Export(ctx, big, export.Options{Format: f, Dir: filepath.Join(out, "b")}); err != nil {
						b.Fatal(err)
					}
				})
				took = time.Since(start)
				size = dirSize(b, filepath.Join(out, "b"))
			}
			b.ReportMetric(float64(peakBig)/(1<<20), "peak-heap-MB-1M")
			b.ReportMetric(float64(peakSmall)/(1<<20), "peak-heap-MB-10k")
			b.ReportMetric(float64(peakBig)/float64(max(peakSmall, 1)), "heap-ratio-1M/10k")
			b.ReportMetric(1e6/took.Seconds(), "events/s")
			b.ReportMetric(float64(size)/(1<<20), "output-MB-1M")
		})
	}
}

func dirSize(b testing.TB, dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}
