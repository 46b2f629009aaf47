package store

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	sqlite3 "modernc.org/sqlite/lib"
)

const (
	// batchRows events go to the writer goroutine at once and are written
	// in one transaction; a partial batch is written after flushEvery.
	batchRows  = 4096
	flushEvery = 100 * time.Millisecond
	// rowsPerStmt rows go into one multi-row INSERT.
	rowsPerStmt   = 100
	queuedBatches = 2 // back-pressure: Add blocks when this many wait
)

var errWriterDone = errors.New("run writer already finished")

type fileRow struct {
	seq int64
	FileEvent
}

type netRow struct {
	seq int64
	NetEvent
}

type privRow struct {
	seq int64
	PrivEvent
}

type batch struct {
	files []fileRow
	nets  []netRow
	privs []privRow
	n     int
	done  chan error // non-nil when a Flush waits for this batch
}

func (b *batch) reset() {
	b.files, b.nets, b.privs, b.n, b.done = b.files[:0], b.nets[:0], b.privs[:0], 0, nil
}

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

// RunWriter streams one run's events into the database. Add* buffer events
// and hand full batches to a writer goroutine (multi-row INSERTs, one
// transaction per batch or per 100 ms); they block only when the writer is
// behind (back-pressure), never drop. Add* are safe for concurrent use but
// one producer goroutine is the expected use.
type RunWriter struct {
	db   *DB
	id   int64
	conn *sql.Conn // the writer's own connection; statements are prepared on it

	mu     sync.Mutex
	cur    *batch
	seq    int64
	closed bool

	work   chan *batch
	free   chan *batch
	exited chan struct{}
	ckStop chan struct{}
	ckDone chan struct{}

	errMu sync.Mutex
	err   error // sticky: the first write error

	// Below: owned by the writer goroutine (and by Finish/Abort after it stopped).
	cache    map[string]int64     // interned strings: the run's string ids
	nextStr  int64                // the last string id given out
	seen     map[fileKey]struct{} // distinct file behaviours stored so far (see first)
	newKeys  []fileKey            // added to seen in the current transaction
	pending  []string             // interned in the current transaction
	dc       driver.Conn          // set inside raw
	stmts    map[string]driver.Stmt
	args     []driver.NamedValue
	nFile    int64
	nNet     int64
	nPriv    int64
	finished bool
}

// BeginRun inserts r as a running run (recording this process as its
// recorder) and returns a writer for its events. r.ID, r.Status and
// r.ExitCode are ignored; StartedAt defaults to now.
func (db *DB) BeginRun(ctx context.Context, r Run) (*RunWriter, error) {
	if db.w == nil {
		return nil, fmt.Errorf("begin run: trace database %s is open read-only", db.path)
	}
	if r.StartedAt.IsZero() {
		r.StartedAt = time.Now()
	}
	cmd := jsonStrings(r.Command)
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin run: %w", err)
	}
	pid := os.Getpid()
	l := r.Limits
	res, err := conn.ExecContext(ctx, `INSERT INTO _run(name, command, workspace, started_ns, exit_code, status,
		replay_of, spec, stdout_cap, stderr_cap, tool_version, recorder_pid, recorder_start, recorder_boot,
		memory_limit, pids_limit, disk_limit, tmpfs_limit, cpu_limit)
		VALUES (?, ?, ?, ?, -1, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Name, cmd, r.Workspace, r.StartedAt.UnixNano(), nullID(r.ReplayOf), nullBytes(r.Spec),
		r.StdoutCap, r.StderrCap, r.ToolVersion, pid, procStart(pid), bootID(),
		nullID(l.MemoryBytes), nullID(l.Pids), nullID(l.DiskBytes), nullID(l.TmpfsBytes), nullCPUs(l.CPUs))
	if err != nil {
		conn.Close()
		if sqliteCode(err) == sqlite3.SQLITE_CONSTRAINT && r.ReplayOf != 0 {
			return nil, fmt.Errorf("begin run: replay of run %d: no such run", r.ReplayOf)
		}
		return nil, fmt.Errorf("begin run in %s: %w", db.path, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("begin run: %w", err)
	}
	w := &RunWriter{
		db: db, id: id, conn: conn,
		cur:    &batch{},
		work:   make(chan *batch, queuedBatches),
		free:   make(chan *batch, queuedBatches+2),
		exited: make(chan struct{}),
		ckStop: make(chan struct{}),
		ckDone: make(chan struct{}),
		cache:  make(map[string]int64),
		seen:   make(map[fileKey]struct{}),
		stmts:  make(map[string]driver.Stmt),
	}
	// The writer never checkpoints (a checkpoint fsyncs and copies pages on
	// the write path); a helper goroutine does PASSIVE checkpoints on
	// another connection, in parallel with the writes.
	if _, err := conn.ExecContext(ctx, "PRAGMA wal_autocheckpoint=0"); err != nil {
		conn.Close()
		return nil, fmt.Errorf("begin run: %w", err)
	}
	go w.loop()
	go w.checkpointLoop()
	return w, nil
}

// ID is the run's id.
func (w *RunWriter) ID() int64 { return w.id }

func (w *RunWriter) getErr() error {
	w.errMu.Lock()
	defer w.errMu.Unlock()
	return w.err
}

func (w *RunWriter) setErr(err error) {
	w.errMu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.errMu.Unlock()
}

// addable is called with w.mu held.
func (w *RunWriter) addable() error {
	if w.closed {
		return fmt.Errorf("run %d: %w", w.id, errWriterDone)
	}
	return w.getErr()
}

func (w *RunWriter) newBatch() *batch {
	select {
	case b := <-w.free:
		return b
	default:
		return &batch{}
	}
}

// handoff queues the current batch; called with w.mu held (so batches are
// queued in sequence order). It blocks while the writer is behind.
func (w *RunWriter) handoff(done chan error) {
	b := w.cur
	b.done = done
	w.cur = w.newBatch()
	w.work <- b
}

// AddFile buffers one file event.
func (w *RunWriter) AddFile(e FileEvent) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.addable(); err != nil {
		return err
	}
	w.seq++
	w.cur.files = append(w.cur.files, fileRow{w.seq, e})
	if w.cur.n++; w.cur.n >= batchRows {
		w.handoff(nil)
	}
	return nil
}

// AddNet buffers one network event.
func (w *RunWriter) AddNet(e NetEvent) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.addable(); err != nil {
		return err
	}
	w.seq++
	w.cur.nets = append(w.cur.nets, netRow{w.seq, e})
	if w.cur.n++; w.cur.n >= batchRows {
		w.handoff(nil)
	}
	return nil
}

// AddPriv buffers one privilege event.
func (w *RunWriter) AddPriv(e PrivEvent) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.addable(); err != nil {
		return err
	}
	w.seq++
	w.cur.privs = append(w.cur.privs, privRow{w.seq, e})
	if w.cur.n++; w.cur.n >= batchRows {
		w.handoff(nil)
	}
	return nil
}

// Flush writes every buffered event and waits until it is committed.
func (w *RunWriter) Flush(ctx context.Context) error {
	w.mu.Lock()
	if err := w.addable(); err != nil {
		w.mu.Unlock()
		return err
	}
	done := make(chan error, 1)
	w.handoff(done)
	w.mu.Unlock()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("flush run %d: %w", w.id, ctx.Err())
	}
}

func (w *RunWriter) loop() {
	defer close(w.exited)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case b, ok := <-w.work:
			if !ok {
				return
			}
			w.handle(b)
		case <-t.C:
			// Write a partial batch that has waited long enough. TryLock:
			// a producer may hold mu while blocked handing us a batch.
			if !w.mu.TryLock() {
				continue
			}
			var b *batch
			if len(w.work) == 0 && w.cur.n > 0 && !w.closed {
				b, w.cur = w.cur, w.newBatch()
			}
			w.mu.Unlock()
			if b != nil {
				w.handle(b)
			}
		}
	}
}

func (w *RunWriter) handle(b *batch) {
	err := w.getErr()
	if err == nil && b.n > 0 {
		if err = w.write(b); err != nil {
			w.setErr(fmt.Errorf("store events of run %d: %w", w.id, err))
			err = w.getErr()
		}
	}
	if b.done != nil {
		b.done <- err
	}
	b.reset()
	select {
	case w.free <- b:
	default:
	}
}

// stop ends the writer goroutine after it has drained the queue.
func (w *RunWriter) stop() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		<-w.exited
		return
	}
	w.closed = true
	close(w.work)
	w.mu.Unlock()
	<-w.exited
}

// The writer talks to SQLite through the driver connection under its
// sql.Conn (database/sql's per-call argument conversion costs ~10% at
// 300k rows/s). Statements are prepared once per writer and cached.

// raw runs f with w.dc set to the writer's driver connection.
func (w *RunWriter) raw(f func() error) error {
	return w.conn.Raw(func(dc any) error {
		c, ok := dc.(driver.Conn)
		if !ok {
			return fmt.Errorf("unexpected driver connection %T", dc)
		}
		w.dc = c
		defer func() { w.dc = nil }()
		return f()
	})
}

func (w *RunWriter) stmt(ctx context.Context, q string) (driver.Stmt, error) {
	if s, ok := w.stmts[q]; ok {
		return s, nil
	}
	p, ok := w.dc.(driver.ConnPrepareContext)
	if !ok {
		return nil, fmt.Errorf("driver %T cannot prepare with a context", w.dc)
	}
	s, err := p.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	w.stmts[q] = s
	return s, nil
}

// nv returns a reusable argument slice of n values with ordinals set.
func (w *RunWriter) nv(n int) []driver.NamedValue {
	if cap(w.args) < n {
		w.args = make([]driver.NamedValue, n)
		for i := range w.args {
			w.args[i].Ordinal = i + 1
		}
	}
	return w.args[:n]
}

// exec runs q (prepared and cached) with args.
func (w *RunWriter) exec(ctx context.Context, q string, args ...driver.Value) error {
	st, err := w.stmt(ctx, q)
	if err != nil {
		return err
	}
	a := w.nv(len(args))
	for i, v := range args {
		a[i].Value = v
	}
	return w.execNV(ctx, st, a)
}

func (w *RunWriter) execNV(ctx context.Context, st driver.Stmt, a []driver.NamedValue) error {
	_, err := st.(driver.StmtExecContext).ExecContext(ctx, a)
	for i := range a {
		a[i].Value = nil // do not pin strings and blobs
	}
	return err
}

// inTx runs f in one IMMEDIATE transaction on the writer's connection.
// Strings interned by a failed transaction are forgotten again.
func (w *RunWriter) inTx(ctx context.Context, f func() error) error {
	return w.raw(func() error {
		w.pending, w.newKeys = w.pending[:0], w.newKeys[:0]
		if err := w.exec(ctx, "BEGIN IMMEDIATE"); err != nil {
			return err
		}
		err := f()
		if err == nil {
			err = w.exec(ctx, "COMMIT")
		}
		if err != nil {
			w.exec(context.WithoutCancel(ctx), "ROLLBACK")
			for _, s := range w.pending {
				delete(w.cache, s)
			}
			for _, k := range w.newKeys {
				delete(w.seen, k)
			}
			return err
		}
		return nil
	})
}

// want gives s the run's next string id if it has none yet; the string is
// written by internPending in the same transaction. Ids are per run (see
// migrations/002_run_strings.sql), so no other writer can take one.
func (w *RunWriter) want(s string) {
	if s == "" {
		return
	}
	if _, ok := w.cache[s]; !ok {
		w.nextStr++
		w.cache[s] = w.nextStr
		w.pending = append(w.pending, s)
	}
}

// internPending writes the strings noted by want.
func (w *RunWriter) internPending(ctx context.Context) error {
	p := w.pending
	if err := w.insertRows(ctx, "_str", []string{"id", "s"}, len(p), func(i int, a []driver.NamedValue) {
		a[0].Value, a[1].Value = w.cache[p[i]], p[i]
	}); err != nil {
		return fmt.Errorf("intern strings: %w", err)
	}
	return nil
}

// fileKey is what makes a file event a distinct behaviour for a baseline:
// everything but the timestamp, the success value and (except for exec,
// which decides process identities) the process.
type fileKey struct {
	path, path2 int64
	flags, mode uint32
	errno       int32 // 0 on success
	proc        int32 // exec only
	op          FileOp
	// a raced or late event is another behaviour than the same path read
	// cleanly: deduplicated away, its flag would never reach the baseline
	state PathState
}

// maxDistinct bounds the writer's memory for distinct file behaviours
// (~80 bytes each); past it every event counts as first.
const maxDistinct = 1 << 19

// first reports whether e is the first event of its behaviour in the run
// (the others get _file.dup = 1; LoadDistinct skips them). Past maxDistinct
// behaviours every event counts as first: a superset only costs speed.
func (w *RunWriter) first(e *fileRow, path, path2 int64) bool {
	k := fileKey{path: path, path2: path2, flags: e.Flags, mode: e.Mode, op: e.Op, state: e.PathState}
	if e.Result < 0 {
		k.errno = int32(max(e.Result, math.MinInt32))
	}
	if e.Op == FileExec {
		k.proc = e.Proc
	}
	if _, ok := w.seen[k]; ok {
		return false
	}
	if len(w.seen) >= maxDistinct {
		return true
	}
	w.seen[k] = struct{}{}
	w.newKeys = append(w.newKeys, k)
	return true
}

// sid is the interned id of s, or nil for "".
func (w *RunWriter) sid(s string) driver.Value {
	if s == "" {
		return nil
	}
	return w.cache[s]
}

// insertRows writes n rows of cols columns into table in multi-row
// statements; fill(i, args) sets row i's values (run_id is a literal).
func (w *RunWriter) insertRows(ctx context.Context, table string, cols []string, n int, fill func(i int, a []driver.NamedValue)) error {
	nc := len(cols)
	prefix := "INSERT INTO " + table + "(run_id," + strings.Join(cols, ",") + ") VALUES "
	row := "(" + strconv.FormatInt(w.id, 10) + strings.Repeat(",?", nc) + ")"
	for i := 0; i < n; i += rowsPerStmt {
		k := min(rowsPerStmt, n-i)
		st, err := w.stmt(ctx, prefix+strings.TrimSuffix(strings.Repeat(row+",", k), ","))
		if err != nil {
			return err
		}
		a := w.nv(k * nc)
		for j := 0; j < k; j++ {
			fill(i+j, a[j*nc:(j+1)*nc])
		}
		if err := w.execNV(ctx, st, a); err != nil {
			return err
		}
	}
	return nil
}

var (
	fileCols = []string{"seq", "proc", "op", "path", "path2", "flags", "mode", "result", "ts", "dup", "pflags"}
	netCols  = []string{"seq", "proc", "op", "family", "sock_type", "addr", "port", "domain", "qtype", "result", "ts", "verdict"}
	privCols = []string{"seq", "proc", "syscall", "args", "result", "ts"}
)

func (w *RunWriter) write(b *batch) error {
	ctx := context.Background()
	return w.inTx(ctx, func() error {
		for i := range b.files {
			w.want(b.files[i].Path)
			w.want(b.files[i].Path2)
		}
		for i := range b.nets {
			w.want(b.nets[i].Address)
			w.want(b.nets[i].Domain)
		}
		for i := range b.privs {
			w.want(b.privs[i].Syscall)
			w.want(b.privs[i].Args)
		}
		if err := w.internPending(ctx); err != nil {
			return err
		}
		if err := w.insertRows(ctx, "_file", fileCols, len(b.files), func(i int, a []driver.NamedValue) {
			e := &b.files[i]
			path, path2 := w.cache[e.Path], w.sid(e.Path2)
			a[0].Value, a[1].Value, a[2].Value, a[3].Value = e.seq, int64(e.Proc), int64(e.Op), path
			a[4].Value, a[5].Value, a[6].Value, a[7].Value, a[8].Value = path2, int64(e.Flags), int64(e.Mode), e.Result, e.TS
			p2, _ := path2.(int64)
			a[9].Value = nil
			if !w.first(e, path, p2) {
				a[9].Value = int64(1)
			}
			a[10].Value = nil
			if e.PathState != PathKernel {
				a[10].Value = int64(e.PathState)
			}
		}); err != nil {
			return err
		}
		if err := w.insertRows(ctx, "_net", netCols, len(b.nets), func(i int, a []driver.NamedValue) {
			e := &b.nets[i]
			a[0].Value, a[1].Value, a[2].Value, a[3].Value, a[4].Value = e.seq, int64(e.Proc), int64(e.Op), int64(e.Family), int64(e.SockType)
			a[5].Value, a[6].Value, a[7].Value, a[8].Value, a[9].Value, a[10].Value = w.sid(e.Address), int64(e.Port), w.sid(e.Domain), int64(e.QType), e.Result, e.TS
			a[11].Value = int64(e.Verdict)
		}); err != nil {
			return err
		}
		if err := w.insertRows(ctx, "_priv", privCols, len(b.privs), func(i int, a []driver.NamedValue) {
			e := &b.privs[i]
			a[0].Value, a[1].Value, a[2].Value, a[3].Value, a[4].Value, a[5].Value = e.seq, int64(e.Proc), w.cache[e.Syscall], w.sid(e.Args), e.Result, e.TS
		}); err != nil {
			return err
		}
		nf, nn, np := w.nFile+int64(len(b.files)), w.nNet+int64(len(b.nets)), w.nPriv+int64(len(b.privs))
		if err := w.exec(ctx, "UPDATE _run SET n_file = ?, n_net = ?, n_priv = ? WHERE id = ?", nf, nn, np, w.id); err != nil {
			return err
		}
		w.nFile, w.nNet, w.nPriv = nf, nn, np
		return nil
	})
}

// nullCPUs stores an unrecorded CPU limit as NULL.
func nullCPUs(c float64) any {
	if c == 0 {
		return nil
	}
	return c
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
		return w.exec(ctx, q, f.EndedAt.UnixNano(), int64(f.ExitCode), f.Status, lost,
			nullBytes(f.Stdout), nullBytes(f.Stderr), f.StdoutTrunc, f.StderrTrunc, nullBytes(f.Spec), f.Error,
			strings.Join(f.LimitsHit, "; "), w.id)
	})
	if err != nil {
		return fmt.Errorf("finish run %d: %w", w.id, err)
	}
	w.close()
	return nil
}

func (w *RunWriter) writeFinal(ctx context.Context, f *Final) error {
	// Environments are interned like paths: most processes of a run share
	// one, and a 100k-process build must not store it 100k times.
	envs := make([]string, len(f.Processes))
	for i := range f.Processes {
		w.want(f.Processes[i].Exe)
		w.want(f.Processes[i].Cwd)
		if f.Processes[i].Env != nil {
			envs[i] = jsonStrings(f.Processes[i].Env)
			w.want(envs[i])
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
		w.want(s.Name)
	}
	if err := w.internPending(ctx); err != nil {
		return err
	}
	sid0 := func(s string) driver.Value { // exe and cwd are NOT NULL: "" is stored as 0
		if s == "" {
			return int64(0)
		}
		return w.cache[s]
	}
	procs := f.Processes
	argvs := make([]string, len(procs))
	for i, p := range procs {
		argvs[i] = jsonStrings(p.Argv)
	}
	if err := w.insertRows(ctx, "_proc", []string{"idx", "pid", "ppid", "parent_idx", "exe", "argv", "cwd", "uid", "chain",
		"started_ns", "exited_ns", "exited", "exit_code", "exit_signal", "env", "pflags"}, len(procs), func(i int, a []driver.NamedValue) {
		p := &procs[i]
		set(a, int64(p.Idx), int64(p.Pid), int64(p.Ppid), int64(p.ParentIdx), sid0(p.Exe), argvs[i], sid0(p.Cwd),
			int64(p.UID), p.Chain, p.StartedAt, p.ExitedAt, p.Exited, int64(p.ExitCode), int64(p.ExitSignal),
			w.sid(envs[i]), procFlags(p))
	}); err != nil {
		return fmt.Errorf("store processes: %w", err)
	}
	if err := w.insertRows(ctx, "_sys", []string{"proc", "name", "count", "errors"}, len(order), func(i int, a []driver.NamedValue) {
		s := sys[order[i]]
		set(a, int64(s.Proc), w.cache[s.Name], int64(s.Count), int64(s.Errors))
	}); err != nil {
		return fmt.Errorf("store syscall counts: %w", err)
	}
	ch := f.Changes
	if err := w.insertRows(ctx, "_change", []string{"path", "change", "size", "sha256", "is_dir"}, len(ch), func(i int, a []driver.NamedValue) {
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
	if err := w.insertRows(ctx, "_lost", []string{"class", "count"}, len(classes), func(i int, a []driver.NamedValue) {
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
	if err := w.insertRows(ctx, "_malformed", []string{"kind", "count"}, len(kinds), func(i int, a []driver.NamedValue) {
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
		return w.exec(ctx, `UPDATE _run SET status = ?, error = NULLIF(?, ''), ended_ns = ? WHERE id = ?`,
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
		for _, s := range w.stmts {
			s.Close()
		}
		return nil
	})
	w.stmts = nil
	w.conn.Close()
}

// jsonStrings encodes a string list as a JSON array without HTML escaping
// (so "a && b" stays readable in SQL output).
func jsonStrings(ss []string) string {
	if ss == nil {
		ss = []string{} // [] rather than null
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ss); err != nil {
		return "[]" // strings always encode; never reached
	}
	return strings.TrimRight(buf.String(), "\n")
}

// set assigns vals to a in order.
func set(a []driver.NamedValue, vals ...driver.Value) {
	for i, v := range vals {
		a[i].Value = v
	}
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

func nullBytes(b []byte) driver.Value {
	if len(b) == 0 {
		return nil
	}
	return b
}
