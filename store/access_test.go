package store

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// file_events.access says in words what an event did to the file.
func TestFileEventsAccess(t *testing.T) {
	db, err := Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w, err := db.BeginRun(ctx, Run{Name: "a", Command: []string{"x"}, Workspace: "/w", StartedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	evs := []FileEvent{
		{Op: FileOpen, Path: "/r", Flags: 0},
		{Op: FileOpen, Path: "/w1", Flags: 1},
		{Op: FileOpen, Path: "/w2", Flags: 0x200},
		{Op: FileOpen, Path: "/c", Flags: 0x41},
		{Op: FileMkdir, Path: "/d"},
		{Op: FileUnlink, Path: "/u"},
		{Op: FileExec, Path: "/bin/sh"},
		{Op: FileStat, Path: "/s"},
	}
	for _, e := range evs {
		w.AddFile(e)
	}
	if err := w.Finish(ctx, Final{Status: StatusOK, EndedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	res, err := db.Query(ctx, "SELECT path, access FROM file_events ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range res.Rows {
		got = append(got, fmt.Sprint(r[0], "=", r[1]))
	}
	want := []string{"/r=read", "/w1=write", "/w2=write", "/c=create", "/d=create", "/u=write", "/bin/sh=exec", "/s=read"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("access (-want +got):\n%s", d)
	}
}
