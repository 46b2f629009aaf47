package htmlreport_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/behavediff/behavediff/htmlreport"
	"github.com/behavediff/behavediff/store"
)

// ingest writes a run of n file events over 20,000 distinct paths from 50
// processes, plus a network event per 64: a busy build.
func ingest(b testing.TB, db *store.DB, n int) int64 {
	w, err := db.BeginRun(ctx, store.Run{Command: []string{"bench"}, StartedAt: time.Now()})
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i++ {
		k := (i * 7919) % 20000
		e := store.FileEvent{Proc: int32(i % 50), Op: store.FileOpen, Flags: 0x80000, Result: int64(3 + i%20), TS: int64(i) * 3000,
			Path: fmt.Sprintf("/usr/lib/python3/site-packages/pkg%d/module_%d.py", k/40, k)}
		if err := w.AddFile(e); err != nil {
			b.Fatal(err)
		}
		if i%64 == 0 {
			if err := w.AddNet(store.NetEvent{Proc: int32(i % 50), Op: store.NetConnect, Family: 2, SockType: 1, Address: "10.0.0.1", Port: uint16(1000 + i%3000), TS: int64(i) * 3000}); err != nil {
				b.Fatal(err)
			}
		}
	}
	procs := make([]store.Process, 50)
	for i := range procs {
		procs[i] = store.Process{Idx: int32(i), Pid: int32(1000 + i), ParentIdx: int32(i) - 1, Exe: "/usr/bin/python3", Argv: []string{"python3", "x.py"}}
	}
	if err := w.Finish(ctx, store.Final{Status: store.StatusOK, Processes: procs, EndedAt: time.Now()}); err != nil {
		b.Fatal(err)
	}
	return w.ID()
}

// BenchmarkReport1M renders the page of a 1M-event run next to a 10k-event
// one: the page's size stays bounded by the caps (ratio of sizes), and the
// time is dominated by aggregating the events in SQLite.
//
//	go test ./htmlreport -run '^$' -bench Report1M -benchtime 1x
func BenchmarkReport1M(b *testing.B) {
	db, err := store.Open(ctx, filepath.Join(b.TempDir(), "traces.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	small, big := ingest(b, db, 10_000), ingest(b, db, 1_000_000)
	render := func(id int64) (int, time.Duration) {
		start := time.Now()
		d, err := htmlreport.Gather(ctx, db, id, htmlreport.DefaultCaps, "bench")
		if err != nil {
			b.Fatal(err)
		}
		var buf bytes.Buffer
		if err := htmlreport.Write(&buf, d); err != nil {
			b.Fatal(err)
		}
		return buf.Len(), time.Since(start)
	}
	b.ResetTimer()
	var sSmall, sBig int
	var tSmall, tBig time.Duration
	for i := 0; i < b.N; i++ {
		sSmall, tSmall = render(small)
		sBig, tBig = render(big)
	}
	b.ReportMetric(float64(sBig)/(1<<20), "page-MB-1M")
	b.ReportMetric(float64(sSmall)/(1<<20), "page-MB-10k")
	b.ReportMetric(float64(sBig)/float64(sSmall), "size-ratio-1M/10k")
	b.ReportMetric(tBig.Seconds(), "s-1M")
	b.ReportMetric(tBig.Seconds()/tSmall.Seconds(), "time-ratio-1M/10k")
}
