package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Final is what the recorder knows once the command is gone.
type Final struct {
	Processes   []Process
	Syscalls    []SyscallCount
	Changes     []FSChange
	ExitCode    int
	Status      string // a final status: ok, timeout, interrupted, incomplete, error
	LostByClass map[string]int64
	// Malformed counts inputs that did not parse, by Malformed* kind.
	Malformed   map[string]int64
	Stdout      []byte
	Stderr      []byte
	StdoutTrunc bool
	StderrTrunc bool
	EndedAt     time.Time // zero: now
	Spec        []byte    // nil: keep the spec given to BeginRun
	// Proxy holds a --net proxy run's requests and DNS queries.
	Proxy []ProxyRequest
	// Error is why the run failed (status error), kept in runs.error; empty
	// otherwise. Unlike Abort, a failed run finished this way keeps its
	// process table, so its events still name their programs.
	Error string
	// LimitsHit names the sandbox bounds the run reached.
	LimitsHit []string
}

// procFlags packs a process's _proc.pflags bits (see migration 004).
func procFlags(p *Process) int64 {
	var f int64
	if p.ArgvTruncated {
		f |= 1
	}
	if p.EnvTruncated {
		f |= 2
	}
	if p.Replaced {
		f |= 4
	}
	return f
}

func validFinal(status string) bool {
	switch status {
	case StatusOK, StatusTimeout, StatusInterrupted, StatusIncomplete, StatusError:
		return true
	}
	return false
}

// Finish flushes the events and writes everything else about the run in one
// transaction; only here does the run leave status "running" for f.Status.
// If Finish fails the run stays "running" and Abort may still be called.
func (w *RunWriter) Finish(ctx context.Context, f Final) error {
	if !validFinal(f.Status) {
		return fmt.Errorf("finish run %d: invalid final status %q", w.id, f.Status)
	}
	if w.finished {
		return fmt.Errorf("finish run %d: %w", w.id, errWriterDone)
	}
	if err := w.Flush(ctx); err != nil && !errors.Is(err, errWriterDone) {
		return fmt.Errorf("finish run %d: %w", w.id, err)
	}
	w.stop()
	if f.EndedAt.IsZero() {
		f.EndedAt = time.Now()
	}
	var lost int64
	for _, v := range f.LostByClass {
		lost += v
	}
	err := w.inTx(ctx, func() error {
		if err := w.writeFinal(ctx, &f); err != nil {
			return err
		}
		q := `UPDATE _run SET ended_ns = ?, exit_code = ?, status = ?, lost_events = ?, stdout = ?, stderr = ?,
			stdout_trunc = ?, stderr_trunc = ?, spec = COALESCE(?, spec), error = NULLIF(?, ''), limits_hit = ? WHERE id = ?`
		return w.rc.exec(ctx, q, f.EndedAt.UnixNano(), int64(f.ExitCode), f.Status, lost,
			nullBytes(f.Stdout), nullBytes(f.Stderr), f.StdoutTrunc, f.StderrTrunc, nullBytes(f.Spec), f.Error,
			strings.Join(f.LimitsHit, "; "), w.id)
	})
	if err != nil {
		return fmt.Errorf("finish run %d: %w", w.id, err)
	}
	w.close()
	return nil
}

var (
	procRow = plainRow("_proc", "idx", "pid", "ppid", "parent_idx", "exe", "argv", "cwd", "uid", "chain",
		"started_ns", "exited_ns", "exited", "exit_code", "exit_signal", "env", "pflags")
	sysRow       = plainRow("_sys", "proc", "name", "count", "errors")
	changeRow    = plainRow("_change", "path", "change", "size", "sha256", "is_dir")
	lostRow      = plainRow("_lost", "class", "count")
	malformedRow = plainRow("_malformed", "kind", "count")
)

func (w *RunWriter) writeFinal(ctx context.Context, f *Final) error {
	// Environments are interned like paths: most processes of a run share
	// one, and a 100k-process build must not store it 100k times.
	envs := make([]string, len(f.Processes))
	for i := range f.Processes {
		w.strs.want(f.Processes[i].Exe)
		w.strs.want(f.Processes[i].Cwd)
		if f.Processes[i].Env != nil {
			envs[i] = jsonStrings(f.Processes[i].Env)
			w.strs.want(envs[i])
		}
	}
	type key struct {
		proc int32
		name string
	}
	sys := map[key]*SyscallCount{}
	var order []key
	for i := range f.Syscalls {
		s := f.Syscalls[i]
		k := key{s.Proc, s.Name}
		if c, ok := sys[k]; ok {
			c.Count += s.Count
			c.Errors += s.Errors
			continue
		}
		sys[k] = &s
		order = append(order, k)
		w.strs.want(s.Name)
	}
	if err := w.internPending(ctx); err != nil {
		return err
	}
	procs := f.Processes
	argvs := make([]string, len(procs))
	for i, p := range procs {
		argvs[i] = jsonStrings(p.Argv)
	}
	if err := w.rc.insertRows(ctx, &procRow, w.id, len(procs), func(i int, a []driver.NamedValue) {
		p := &procs[i]
		set(a, int64(p.Idx), int64(p.Pid), int64(p.Ppid), int64(p.ParentIdx), w.strs.sid0(p.Exe), argvs[i], w.strs.sid0(p.Cwd),
			int64(p.UID), p.Chain, p.StartedAt, p.ExitedAt, p.Exited, int64(p.ExitCode), int64(p.ExitSignal),
			w.strs.sid(envs[i]), procFlags(p))
	}); err != nil {
		return fmt.Errorf("store processes: %w", err)
	}
	if err := w.rc.insertRows(ctx, &sysRow, w.id, len(order), func(i int, a []driver.NamedValue) {
		s := sys[order[i]]
		set(a, int64(s.Proc), w.strs.id(s.Name), int64(s.Count), int64(s.Errors))
	}); err != nil {
		return fmt.Errorf("store syscall counts: %w", err)
	}
	ch := f.Changes
	if err := w.rc.insertRows(ctx, &changeRow, w.id, len(ch), func(i int, a []driver.NamedValue) {
		c := &ch[i]
		set(a, c.Path, c.Change, c.Size, c.SHA256, c.IsDir)
	}); err != nil {
		return fmt.Errorf("store workspace changes: %w", err)
	}
	classes := make([]string, 0, len(f.LostByClass))
	for k := range f.LostByClass {
		classes = append(classes, k)
	}
	sort.Strings(classes)
	if err := w.rc.insertRows(ctx, &lostRow, w.id, len(classes), func(i int, a []driver.NamedValue) {
		set(a, classes[i], f.LostByClass[classes[i]])
	}); err != nil {
		return fmt.Errorf("store lost counts: %w", err)
	}
	kinds := make([]string, 0, len(f.Malformed))
	for k, n := range f.Malformed {
		if n > 0 {
			kinds = append(kinds, k)
		}
	}
	sort.Strings(kinds)
	if err := w.rc.insertRows(ctx, &malformedRow, w.id, len(kinds), func(i int, a []driver.NamedValue) {
		set(a, kinds[i], f.Malformed[kinds[i]])
	}); err != nil {
		return fmt.Errorf("store malformed counts: %w", err)
	}
	return w.writeProxy(ctx, f.Proxy)
}

// Abort ends the run without Finish: events written so far are kept (the
// buffered ones are flushed if possible), the status becomes status
// (interrupted, error, ...) and cause is stored as the run's error.
func (w *RunWriter) Abort(ctx context.Context, status string, cause error) error {
	if status == "" || status == StatusRunning {
		status = StatusInterrupted
	}
	if !validFinal(status) {
		return fmt.Errorf("abort run %d: invalid status %q", w.id, status)
	}
	if w.finished {
		return fmt.Errorf("abort run %d: %w", w.id, errWriterDone)
	}
	flushErr := w.Flush(ctx)
	if errors.Is(flushErr, errWriterDone) {
		flushErr = nil
	}
	w.stop()
	msg := ""
	if cause != nil {
		msg = cause.Error()
	}
	if flushErr != nil {
		msg = strings.TrimPrefix(msg+"; ", "; ") + "some buffered events were not stored: " + flushErr.Error()
	}
	err := w.inTx(ctx, func() error {
		return w.rc.exec(ctx, `UPDATE _run SET status = ?, error = NULLIF(?, ''), ended_ns = ? WHERE id = ?`,
			status, msg, time.Now().UnixNano(), w.id)
	})
	w.close()
	if err != nil {
		return fmt.Errorf("abort run %d: %w", w.id, err)
	}
	return nil
}

const checkpointEvery = 250 * time.Millisecond

func (w *RunWriter) checkpointLoop() {
	defer close(w.ckDone)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-w.ckStop:
			return
		case <-t.C:
			w.db.w.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
		}
	}
}

func (w *RunWriter) close() {
	w.finished = true
	close(w.ckStop)
	<-w.ckDone
	w.conn.ExecContext(context.Background(), "PRAGMA wal_autocheckpoint=1000")
	w.conn.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
	w.raw(func() error {
		w.rc.closeStmts()
		return nil
	})
	w.conn.Close()
}
