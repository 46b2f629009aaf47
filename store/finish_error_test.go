package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"
)

// A run that failed after recording keeps its cause and its process table,
// so its events still name their programs.
func TestFinishWithError(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w, err := db.BeginRun(ctx, Run{Command: []string{"x"}, Workspace: "/ws", StartedAt: time.Now(), ExitCode: -1})
	if err != nil {
		t.Fatal(err)
	}
	w.AddFile(FileEvent{Proc: 0, Op: FileOpen, Path: "/etc/hosts", Result: 3})
	err = w.Finish(ctx, Final{
		Processes: []Process{{Idx: 0, ParentIdx: -1, Pid: 9, Exe: "/bin/x", Argv: []string{"x"}}},
		ExitCode:  -1, Status: StatusError, Error: "apply workspace changes: disk full",
	})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := db.LoadTrace(ctx, w.ID())
	if err != nil {
		t.Fatal(err)
	}
	if tr.Run.Status != StatusError || tr.Run.Error != "apply workspace changes: disk full" || len(tr.Processes) != 1 {
		t.Fatalf("run %+v processes %+v", tr.Run, tr.Processes)
	}
	res, err := db.Query(ctx, "SELECT exe FROM file_events WHERE run_id = ?", w.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 1 || res.Rows[0][0] != "/bin/x" {
		t.Errorf("event exe: %v", res.Rows)
	}
	if err := w.Finish(ctx, Final{Status: StatusOK}); !errors.Is(err, errWriterDone) {
		t.Errorf("second Finish: %v", err)
	}
}
