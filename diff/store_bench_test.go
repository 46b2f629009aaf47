package diff_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/behavediff/behavediff/baseline"
	"github.com/behavediff/behavediff/diff"
	"github.com/behavediff/behavediff/store"
)

// storeRun writes a synthetic trace into db as a finished run.
func storeRun(b *testing.B, db *store.DB, t *store.Trace) int64 {
	b.Helper()
	ctx := context.Background()
	w, err := db.BeginRun(ctx, store.Run{Command: t.Run.Command, Workspace: t.Run.Workspace, StartedAt: time.Now(), ExitCode: -1})
	if err != nil {
		b.Fatal(err)
	}
	for _, f := range t.Files {
		if err := w.AddFile(f); err != nil {
			b.Fatal(err)
		}
	}
	for _, n := range t.Net {
		if err := w.AddNet(n); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Finish(ctx, store.Final{Processes: t.Processes, Syscalls: t.Syscalls, Status: store.StatusOK, EndedAt: time.Now()}); err != nil {
		b.Fatal(err)
	}
	return w.ID()
}

// BenchmarkDiffStoredRuns1M is `behavediff diff A B` on two stored 1M-event
// runs: load both traces from SQLite, normalise, compare. Goal: <= 2 s and
// <= 512 MiB (peak Go heap while diffing, sampled).
func BenchmarkDiffStoredRuns1M(b *testing.B) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(b.TempDir(), "t.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	ida := storeRun(b, db, bigTrace(1, 1_000_000))
	idb := storeRun(b, db, bigTrace(2, 1_000_000))
	// `behavediff diff` is a later, separate process: reopen the file as it
	// would (closing the last connection also checkpoints the WAL).
	path := db.Path()
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	if db, err = store.OpenReadOnly(ctx, path); err != nil {
		b.Fatal(err)
	}
	runtime.GC()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var base runtime.MemStats
		runtime.ReadMemStats(&base)
		// Sample the live heap with runtime/metrics: ReadMemStats would stop
		// the world every sample and distort the timing.
		var peak atomic.Uint64
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
			for {
				metrics.Read(sample)
				if v := sample[0].Value.Uint64(); v > peak.Load() {
					peak.Store(v)
				}
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
		start := time.Now()
		bs, err := baseline.FromRuns(ctx, db, baseline.Options{}, ida, idb)
		if err != nil {
			b.Fatal(err)
		}
		fs := diff.Compare(bs[0], bs[1], diff.Context{RunID: idb, BaseRunID: ida})
		el := time.Since(start)
		close(stop)
		<-done
		mib := float64(peak.Load()-min(peak.Load(), base.HeapAlloc)) / (1 << 20)
		b.ReportMetric(el.Seconds(), "s/diff")
		b.ReportMetric(mib, "MiB-peak-heap")
		fmt.Printf("diff of two stored 1M-event runs: %.2f s (goal <= 1.0 s), peak heap %.0f MiB (goal <= 512 MiB), %d findings\n", el.Seconds(), mib, len(fs))
	}
}
