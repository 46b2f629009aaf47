package recorder

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/behavediff/behavediff/store"
)

// tamperAllEvents is tamperQuery as it was before it read first events
// only: every file event of the run, through the public view. It is the
// reference TestTamperFirstEventsOnly holds the faster query to.
const tamperAllEvents = `
SELECT DISTINCT p FROM (
  SELECT path AS p, path2 AS p2 FROM file_events
  WHERE run_id = ?1 AND (
    (op = 'open' AND (flags & 3 <> 0 OR flags & 64 <> 0 OR flags & 512 <> 0))
    OR op IN ('unlink', 'rename', 'mkdir', 'rmdir', 'link', 'symlink', 'chmod', 'chown', 'truncate', 'utimes', 'mknod'))
)
WHERE p LIKE '%/.behavediff' OR p LIKE '%/.behavediff/%' OR p2 LIKE '%/.behavediff' OR p2 LIKE '%/.behavediff/%'
   OR p IN (?2, ?3, ?4, ?5) OR p2 IN (?2, ?3, ?4, ?5)
ORDER BY p LIMIT 20`

// TestTamperFirstEventsOnly stores runs whose tamper attempts repeat (dup
// rows), first come as harmless reads, hide behind other flags or errnos,
// and name the database through path2, and checks that projectTamper,
// reading first events only, answers exactly what the scan of every event
// answers.
func TestTamperFirstEventsOnly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	dbPath := filepath.Join(dir, ".behavediff", "trace.db")
	db, err := store.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	files := dbFiles(db.Path())

	paths := []string{"/ws/a.txt", "/ws/.behavediff", "/ws/.behavediff/x", "/ws/sub/.behavediff/baselines/b.yaml",
		files[0], files[1], files[3], "/ws/.behavediffx", "/etc/passwd", "/ws/b"}
	ops := []store.FileOp{store.FileOpen, store.FileUnlink, store.FileRename, store.FileLink, store.FileSymlink,
		store.FileChmod, store.FileStat, store.FileExec, store.FileMkdir, store.FileTruncate}
	flags := []uint32{0, 1, 2, 64, 512, 0o100000}
	results := []int64{0, 3, -1, -13}

	// One run is written by hand: the database is first opened read-only,
	// then written many times; its only write comes late and repeats; the
	// journal is removed once.
	hand := []store.FileEvent{
		{Proc: 0, Op: store.FileOpen, Path: files[0], Flags: 0, Result: 3},
		{Proc: 0, Op: store.FileOpen, Path: files[0], Flags: 0, Result: 3},
		{Proc: 0, Op: store.FileOpen, Path: "/ws/a.txt", Flags: 1, Result: 3},
		{Proc: 0, Op: store.FileRename, Path: "/ws/a.txt", Path2: "/ws/.behavediff/trace.db", Result: -13},
		{Proc: 0, Op: store.FileRename, Path: "/ws/a.txt", Path2: "/ws/.behavediff/trace.db", Result: -13},
		{Proc: 0, Op: store.FileOpen, Path: files[1], Flags: 2, Result: -13},
		{Proc: 0, Op: store.FileOpen, Path: files[1], Flags: 2, Result: -13},
		{Proc: 0, Op: store.FileOpen, Path: files[1], Flags: 2, Result: -2},
		{Proc: 0, Op: store.FileUnlink, Path: files[3], Result: -2}, // once: no repeat stands in for it
	}
	runs := [][]store.FileEvent{hand}
	for seed := range uint64(8) {
		rng := rand.New(rand.NewPCG(seed, 14))
		var evs []store.FileEvent
		for range 3000 {
			e := store.FileEvent{Proc: 0, Op: ops[rng.IntN(len(ops))], Path: paths[rng.IntN(len(paths))],
				Result: results[rng.IntN(len(results))], TS: int64(len(evs))}
			if e.Op == store.FileOpen {
				e.Flags = flags[rng.IntN(len(flags))]
			}
			if e.Op == store.FileRename || e.Op == store.FileLink || e.Op == store.FileSymlink {
				e.Path2 = paths[rng.IntN(len(paths))]
			}
			evs = append(evs, e)
		}
		runs = append(runs, evs)
	}

	for i, evs := range runs {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			w, err := db.BeginRun(ctx, store.Run{Command: []string{"tamper"}})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range evs {
				if err := w.AddFile(e); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Finish(ctx, store.Final{Status: store.StatusOK, Processes: []store.Process{{Idx: 0, Pid: 1, ParentIdx: -1, Exe: "/bin/x"}}}); err != nil {
				t.Fatal(err)
			}
			id := w.ID()
			// Repeats were stored as such, so the first-events read is
			// really tested against rows it skips.
			dups, err := db.Query(ctx, `SELECT count(*) FROM _file_rep WHERE run_id = ?`, id)
			if err != nil {
				t.Fatal(err)
			}
			if n := fmt.Sprint(dups.Rows[0][0]); n == "0" {
				t.Fatalf("run %d stored no repeats: the test checks nothing", id)
			}
			ref, err := db.Query(ctx, tamperAllEvents, id, files[0], files[1], files[2], files[3])
			if err != nil {
				t.Fatal(err)
			}
			var want []string
			for _, r := range ref.Rows {
				want = append(want, fmt.Sprint(r[0]))
			}
			got, err := projectTamper(ctx, db, id)
			if err != nil {
				t.Fatal(err)
			}
			if len(want) == 0 {
				t.Fatal("the reference found no tamper attempt: the test checks nothing")
			}
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("tamper paths (-all events +first events):\n%s", d)
			}
		})
	}
}
