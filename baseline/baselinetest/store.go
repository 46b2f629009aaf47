package baselinetest

import (
	"context"
	"testing"

	"github.com/behavediff/behavediff/store"
)

// Store writes tr into db as one finished run, its events interleaved the
// way a recorder writes them, with the run's exit code, status, output and
// loss counters, and returns the run's id. Tests of everything that reads
// the store (export, reports, other engines) build their databases with it.
func Store(ctx context.Context, t testing.TB, db *store.DB, tr *store.Trace) int64 {
	t.Helper()
	w, err := db.BeginRun(ctx, tr.Run)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range tr.Files {
		if err := w.AddFile(e); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range tr.Net {
		if err := w.AddNet(e); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range tr.Priv {
		if err := w.AddPriv(e); err != nil {
			t.Fatal(err)
		}
	}
	r := tr.Run
	if err := w.Finish(ctx, store.Final{Processes: tr.Processes, Syscalls: tr.Syscalls, Changes: tr.Changes,
		ExitCode: r.ExitCode, Status: r.Status, LostByClass: r.LostByClass, Stdout: r.Stdout, Stderr: r.Stderr,
		EndedAt: r.EndedAt}); err != nil {
		t.Fatal(err)
	}
	return w.ID()
}
