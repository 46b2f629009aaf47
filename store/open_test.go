package store

import (
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// makeDB creates a closed trace database holding the sample run.
func makeDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "traces.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	writeTrace(t, db, sampleTrace())
	// Pad with events so the file spans many pages.
	tr := sampleTrace()
	for i := 0; i < 20000; i++ {
		tr.Files = append(tr.Files, FileEvent{Proc: 1, Op: FileOpen, Path: fmt.Sprintf("/f/%d", i%3000), TS: int64(i)})
	}
	writeTrace(t, db, tr)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); err == nil {
		t.Logf("note: WAL left behind")
	}
	return path
}

func wantErr(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one mentioning %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not mention %q", err, p)
		}
	}
}

func TestOpenBadInputs(t *testing.T) {
	dir := t.TempDir()

	t.Run("not sqlite", func(t *testing.T) {
		p := filepath.Join(dir, "text.db")
		content := []byte(strings.Repeat("just some text, not a database\n", 200))
		os.WriteFile(p, content, 0o644)
		_, err := Open(ctx, p)
		wantErr(t, err, p, "is not a behavediff trace database: file is not a database")
		_, err = OpenReadOnly(ctx, p)
		wantErr(t, err, p, "is not a behavediff trace database")
		if b, _ := os.ReadFile(p); !bytes.Equal(b, content) {
			t.Error("Open modified a file that is not a database")
		}
	})

	t.Run("short file", func(t *testing.T) {
		p := filepath.Join(dir, "short.db")
		os.WriteFile(p, []byte("SQLite"), 0o644)
		_, err := Open(ctx, p)
		wantErr(t, err, "not a behavediff trace database")
	})

	t.Run("unwritable dir", func(t *testing.T) {
		file := filepath.Join(dir, "afile")
		os.WriteFile(file, nil, 0o644)
		p := filepath.Join(file, "sub", "traces.db")
		_, err := Open(ctx, p)
		wantErr(t, err, "open trace db "+p, "is the directory writable?")
		if os.Getuid() != 0 {
			ro := filepath.Join(dir, "ro")
			os.Mkdir(ro, 0o555)
			_, err := Open(ctx, filepath.Join(ro, "traces.db"))
			wantErr(t, err, "is the directory writable?")
		}
	})

	t.Run("directory", func(t *testing.T) {
		_, err := Open(ctx, dir)
		wantErr(t, err, dir, "directory")
	})

	t.Run("missing read-only", func(t *testing.T) {
		p := filepath.Join(dir, "nope", "traces.db")
		_, err := OpenReadOnly(ctx, p)
		wantErr(t, err, "no trace database at "+p+" (record a run first)")
		if _, err := os.Stat(filepath.Dir(p)); err == nil {
			t.Error("OpenReadOnly created a directory")
		}
	})

	t.Run("other application", func(t *testing.T) {
		p := filepath.Join(dir, "app.db")
		raw := rawDB(t, p)
		if _, err := raw.Exec("CREATE TABLE users(id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users VALUES (1, 'ann')"); err != nil {
			t.Fatal(err)
		}
		raw.Close()
		before, _ := os.ReadFile(p)
		_, err := Open(ctx, p)
		wantErr(t, err, p, "another application", "users", "refusing")
		_, err = OpenReadOnly(ctx, p)
		wantErr(t, err, "another application")
		if after, _ := os.ReadFile(p); !bytes.Equal(before, after) {
			t.Error("Open modified another application's database")
		}
	})

	t.Run("empty file is initialised", func(t *testing.T) {
		p := filepath.Join(dir, "empty.db")
		os.WriteFile(p, nil, 0o644)
		db, err := Open(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
	})

	t.Run("newer schema", func(t *testing.T) {
		p := makeDB(t)
		raw := rawDB(t, p)
		if _, err := raw.Exec(fmt.Sprintf("PRAGMA user_version=%d", SchemaVersion()+1)); err != nil {
			t.Fatal(err)
		}
		raw.Close()
		_, err := Open(ctx, p)
		wantErr(t, err, p, fmt.Sprintf("schema version %d, newer than this behavediff understands (%d)", SchemaVersion()+1, SchemaVersion()))
		_, err = OpenReadOnly(ctx, p)
		wantErr(t, err, "newer than this behavediff")
	})
}

func TestOpenCorrupt(t *testing.T) {
	corrupt := map[string]func(b []byte) []byte{
		"first page body": func(b []byte) []byte {
			for i := 100; i < len(b); i++ {
				b[i] = 0xA5
			}
			return b
		},
		"header pages": func(b []byte) []byte {
			for i := 100; i < 4*4096 && i < len(b); i++ {
				b[i] = byte(i * 7)
			}
			return b
		},
		"truncated": func(b []byte) []byte { return b[:len(b)/3] },
		"middle pages zeroed": func(b []byte) []byte {
			for i := len(b) / 3; i < 2*len(b)/3; i++ {
				b[i] = 0
			}
			return b
		},
	}
	for name, f := range corrupt {
		t.Run(name, func(t *testing.T) {
			p := makeDB(t)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(p, f(b), 0o644)
			os.Remove(p + "-wal")
			os.Remove(p + "-shm")
			_, err = Open(ctx, p)
			wantErr(t, err, p)
			if !strings.Contains(err.Error(), "corrupt") && !strings.Contains(err.Error(), "not a database") {
				t.Errorf("error %q does not say the database is corrupt", err)
			}
			_, err = OpenReadOnly(ctx, p)
			wantErr(t, err, p)
		})
	}
}

func TestConcurrentOpenAndWriters(t *testing.T) {
	path := filepath.Join(t.TempDir(), "traces.db")
	const writers = 2
	const events = 30000
	var wg sync.WaitGroup
	ids := make([]int64, writers)
	errs := make([]error, writers)
	for k := 0; k < writers; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			// Two handles, as two `behavediff record` processes would have.
			db, err := Open(ctx, path)
			if err != nil {
				errs[k] = err
				return
			}
			defer db.Close()
			w, err := db.BeginRun(ctx, Run{Name: fmt.Sprintf("w%d", k), Command: []string{"w"}})
			if err != nil {
				errs[k] = err
				return
			}
			for i := 0; i < events; i++ {
				// Half the paths shared between writers, half private.
				p := fmt.Sprintf("/shared/%d", i%500)
				if i%2 == 1 {
					p = fmt.Sprintf("/w%d/%d", k, i%700)
				}
				if err := w.AddFile(FileEvent{Proc: 0, Op: FileOpen, Path: p, TS: int64(i)}); err != nil {
					errs[k] = err
					return
				}
			}
			errs[k] = w.Finish(ctx, Final{Status: StatusOK, Processes: []Process{{Exe: "/bin/w", ParentIdx: -1}}})
			ids[k] = w.ID()
		}(k)
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	db, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for k, id := range ids {
		tr, err := db.LoadTrace(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(tr.Files) != events {
			t.Fatalf("writer %d: %d events, want %d", k, len(tr.Files), events)
		}
		for i, e := range tr.Files {
			p := fmt.Sprintf("/shared/%d", i%500)
			if i%2 == 1 {
				p = fmt.Sprintf("/w%d/%d", k, i%700)
			}
			if e.Path != p || e.TS != int64(i) {
				t.Fatalf("writer %d event %d: %+v, want path %s", k, i, e, p)
			}
		}
		if tr.Run.Status != StatusOK {
			t.Errorf("status %s", tr.Run.Status)
		}
	}
	// Strings are interned per run: each writer stores each of its paths once.
	res, err := db.Query(ctx, "SELECT count(*), count(DISTINCT run_id || ' ' || s) FROM _str WHERE s LIKE '/shared/%'")
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(250 * len(ids)); res.Rows[0][0] != want || res.Rows[0][1] != want {
		t.Errorf("shared strings: %v rows, %v distinct per run; want %d each (250 per run)", res.Rows[0][0], res.Rows[0][1], want)
	}
}

func TestInterruptedRunRepair(t *testing.T) {
	db, path := openTemp(t)
	// A live recorder (this process) keeps its run running.
	w, err := db.BeginRun(ctx, Run{Name: "live", Command: []string{"sleep"}})
	if err != nil {
		t.Fatal(err)
	}
	w.AddFile(FileEvent{Op: FileOpen, Path: "/a"})
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// A dead recorder: a process that has exited.
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid
	raw := rawDB(t, path)
	ins := `INSERT INTO _run(name, command, started_ns, status, recorder_pid, recorder_start, recorder_boot) VALUES (?, '[]', ?, 'running', ?, ?, ?)`
	now := time.Now().UnixNano()
	mustExec := func(q string, args ...any) int64 {
		res, err := raw.Exec(q, args...)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := res.LastInsertId()
		return id
	}
	deadID := mustExec(ins, "dead", now, dead, 1, bootID())
	rebootID := mustExec(ins, "rebooted", now, os.Getpid(), procStart(os.Getpid()), "another-boot")
	reusedID := mustExec(ins, "pid-reused", now, os.Getpid(), procStart(os.Getpid())+12345, bootID())
	mustExec(`INSERT INTO _str(run_id, id, s) VALUES (?, 1, '/dead')`, deadID)
	mustExec(`INSERT INTO _file(run_id, seq, proc, op, path, flags, mode, result, ts) VALUES (?, 1, 0, 1, 1, 0, 0, 0, 0)`, deadID)
	raw.Close()

	db2, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	runs, err := db2.Runs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range runs {
		got[r.Name] = r.Status
		if r.Status == StatusInterrupted && !strings.Contains(r.Error, "recorder") {
			t.Errorf("run %s: error %q does not explain", r.Name, r.Error)
		}
	}
	want := map[string]string{"live": StatusRunning, "dead": StatusInterrupted, "rebooted": StatusInterrupted, "pid-reused": StatusInterrupted}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("statuses after repair (-want +got):\n%s", d)
	}
	_ = rebootID
	_ = reusedID
	// What the dead recorder wrote is kept.
	tr, err := db2.LoadTrace(ctx, deadID)
	if err != nil || len(tr.Files) != 1 || tr.Files[0].Path != "/dead" {
		t.Errorf("dead run's events: %v %v", tr, err)
	}
	if err := w.Finish(ctx, Final{Status: StatusOK}); err != nil {
		t.Fatal(err)
	}
}

func TestAbortKeepsEvents(t *testing.T) {
	db, _ := openTemp(t)
	w, err := db.BeginRun(ctx, Run{Name: "x", Command: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		w.AddFile(FileEvent{Op: FileOpen, Path: "/p", TS: int64(i)})
	}
	w.AddNet(NetEvent{Op: NetConnect, Family: 2, Address: "10.0.0.1", Port: 80})
	if err := w.Abort(ctx, StatusError, errors.New("sandbox exploded")); err != nil {
		t.Fatal(err)
	}
	if err := w.AddFile(FileEvent{Op: FileOpen, Path: "/late"}); err == nil {
		t.Error("AddFile after Abort succeeded")
	}
	if err := w.Finish(ctx, Final{Status: StatusOK}); err == nil {
		t.Error("Finish after Abort succeeded")
	}
	tr, err := db.LoadTrace(ctx, w.ID())
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Files) != 10 || len(tr.Net) != 1 || tr.Run.Status != StatusError || tr.Run.Error != "sandbox exploded" || tr.Run.EndedAt.IsZero() {
		t.Errorf("after abort: %d files, %d net, run %+v", len(tr.Files), len(tr.Net), tr.Run)
	}
}

func TestFinishValidation(t *testing.T) {
	db, _ := openTemp(t)
	w, err := db.BeginRun(ctx, Run{Command: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Finish(ctx, Final{Status: StatusRunning}); err == nil {
		t.Error("Finish with status running succeeded")
	}
	if err := w.Finish(ctx, Final{Status: StatusOK}); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(ctx, StatusInterrupted, nil); err == nil {
		t.Error("Abort after Finish succeeded")
	}
}

func TestRunsResolveSpec(t *testing.T) {
	db, path := openTemp(t)
	mk := func(name string) int64 {
		w, err := db.BeginRun(ctx, Run{Name: name, Command: []string{"echo", name}, Spec: []byte(`{"v":1}`)})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Finish(ctx, Final{Status: StatusOK, LostByClass: map[string]int64{"exec": 1}}); err != nil {
			t.Fatal(err)
		}
		return w.ID()
	}
	a1, b1, a2 := mk("a"), mk("b"), mk("a")
	digits := mk("42")

	runs, err := db.Runs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, r := range runs {
		got = append(got, r.ID)
		if r.LostEvents != 1 || r.LostByClass["exec"] != 1 || r.ExitCode != 0 || r.Stdout != nil {
			t.Errorf("run %+v", r)
		}
	}
	if d := cmp.Diff([]int64{digits, a2, b1, a1}, got); d != "" {
		t.Errorf("Runs order (-want +got):\n%s", d)
	}
	for ref, want := range map[string]int64{"a": a2, "b": b1, "last": digits, fmt.Sprint(a1): a1, "42": digits, " 2 ": b1} {
		id, err := db.ResolveRun(ctx, ref)
		if err != nil || id != want {
			t.Errorf("ResolveRun(%q) = %d, %v; want %d", ref, id, err, want)
		}
	}
	_, err = db.ResolveRun(ctx, "nope")
	wantErr(t, err, "no run nope (see behavediff runs)")
	_, err = db.ResolveRun(ctx, "999")
	wantErr(t, err, "no run 999 (see behavediff runs)")

	if err := db.SetSpec(ctx, b1, []byte(`{"v":2}`)); err != nil {
		t.Fatal(err)
	}
	ro, err := OpenReadOnly(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if s, err := ro.Spec(ctx, b1); err != nil || string(s) != `{"v":2}` {
		t.Errorf("Spec = %s, %v", s, err)
	}
	if err := ro.SetSpec(ctx, b1, nil); err == nil {
		t.Error("SetSpec on a read-only handle succeeded")
	}
	if _, err := ro.BeginRun(ctx, Run{}); err == nil {
		t.Error("BeginRun on a read-only handle succeeded")
	}
	_, err = ro.Spec(ctx, 999)
	wantErr(t, err, "no run 999")
	_, err = ro.LoadTrace(ctx, 999)
	wantErr(t, err, "no run 999")

	empty, _ := openTemp(t)
	_, err = empty.ResolveRun(ctx, "last")
	wantErr(t, err, "no runs yet")
}

func TestLoadWhileRunning(t *testing.T) {
	db, _ := openTemp(t)
	tr := sampleTrace()
	w, err := db.BeginRun(ctx, tr.Run)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range tr.Files {
		w.AddFile(e)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, err := db.LoadTrace(ctx, w.ID())
	if err != nil {
		t.Fatal(err)
	}
	if got.Run.Status != StatusRunning || got.Run.ExitCode != -1 || !got.Run.EndedAt.IsZero() {
		t.Errorf("running run: %+v", got.Run)
	}
	if d := cmp.Diff(tr.Files, got.Files, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("files (-want +got):\n%s", d)
	}
	// The periodic flush writes without an explicit Flush.
	w.AddFile(FileEvent{Op: FileUnlink, Path: "/later"})
	time.Sleep(3 * flushEvery)
	got, _ = db.LoadTrace(ctx, w.ID())
	if len(got.Files) != len(tr.Files)+1 {
		t.Errorf("timed flush: %d files, want %d", len(got.Files), len(tr.Files)+1)
	}
	w.Finish(ctx, Final{Status: StatusOK})
}
