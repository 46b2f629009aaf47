package store

import (
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// Schema 4: env, argv/env truncation, replaced images and path states round
// trip, and the views expose them.
func TestSensorTruthColumns(t *testing.T) {
	db, err := Open(ctx, filepath.Join(t.TempDir(), "traces.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tr := sampleTrace()
	tr.Processes[0].Env = []string{"PATH=/bin", "NPM_TOKEN=<redacted>"}
	tr.Processes[0].ArgvTruncated, tr.Processes[0].EnvTruncated = true, true
	tr.Processes[1].Replaced, tr.Processes[1].ExitSignal = true, 0 // exit_code would read 0
	tr.Files = append(tr.Files,
		FileEvent{Proc: 2, Op: FileUnlink, Path: "/tmp/l/../x", PathState: PathUnresolved, Result: -2, TS: 71},
		FileEvent{Proc: 2, Op: FileMkdir, Path: ".../d9/deep", PathState: PathTruncated, TS: 72})
	id := writeTrace(t, db, tr)
	got, err := db.LoadTrace(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(tr.Processes, got.Processes, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("processes (-want +got):\n%s", d)
	}
	if d := cmp.Diff(tr.Files, got.Files, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("files (-want +got):\n%s", d)
	}
	res, err := db.Query(ctx, "SELECT idx, env, argv_truncated, env_truncated, replaced, exit_code FROM processes WHERE run_id = ? ORDER BY idx", id)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]any{
		{int64(0), `["PATH=/bin","NPM_TOKEN=<redacted>"]`, int64(1), int64(1), int64(0), int64(3)},
		{int64(1), nil, int64(0), int64(0), int64(1), nil}, // replaced: no exit code
		{int64(2), nil, int64(0), int64(0), int64(0), nil},
	}
	if d := cmp.Diff(want, res.Rows); d != "" {
		t.Errorf("processes view (-want +got):\n%s", d)
	}
	res, err = db.Query(ctx, "SELECT path, path_state FROM file_events WHERE run_id = ? AND ts >= 70 AND ts < 100 ORDER BY seq", id)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([][]any{{"/tmp/x", nil}, {"/tmp/l/../x", "unresolved"}, {".../d9/deep", "truncated"}}, res.Rows); d != "" {
		t.Errorf("file_events path_state (-want +got):\n%s", d)
	}
}
