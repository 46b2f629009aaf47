package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	sqlite3 "modernc.org/sqlite/lib"
)

const (
	// batchRows events go to the writer goroutine at once and are written
	// in one transaction; a partial batch is written after flushEvery.
	batchRows     = 4096
	flushEvery    = 100 * time.Millisecond
	queuedBatches = 2 // back-pressure: Add blocks when this many wait
)

var errWriterDone = errors.New("run writer already finished")

// seqRow is an event with its place in the run's recording order (the
// seq column): events of all kinds share one sequence.
type seqRow[E any] struct {
	seq int64
	ev  E
}

type batch struct {
	files []seqRow[FileEvent]
	nets  []seqRow[NetEvent]
	privs []seqRow[PrivEvent]
	n     int
	done  chan error // non-nil when a Flush waits for this batch
}

func (b *batch) reset() {
	b.files, b.nets, b.privs, b.n, b.done = b.files[:0], b.nets[:0], b.privs[:0], 0, nil
}

// fullRow is file event i of a batch, stored as a full _file row: a
// first event, or a repeat (dup) that no group could take.
type fullRow struct {
	i   int32
	dup bool
}

func (b *batch) fileRows() *[]seqRow[FileEvent] { return &b.files }
func (b *batch) netRows() *[]seqRow[NetEvent]   { return &b.nets }
func (b *batch) privRows() *[]seqRow[PrivEvent] { return &b.privs }

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
	strs     interner    // the run's string ids
	distinct distinctSet // file behaviours stored so far
	rc       rawConn     // rc.c is set inside raw
	pathIDs  []int64     // a batch's path and path2 ids (reused)
	full     []fullRow   // a batch's events stored as full rows (reused)
	reps     repGroups   // a batch's grouped repeats (reused)
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
		cur:      &batch{},
		work:     make(chan *batch, queuedBatches),
		free:     make(chan *batch, queuedBatches+2),
		exited:   make(chan struct{}),
		ckStop:   make(chan struct{}),
		ckDone:   make(chan struct{}),
		strs:     newInterner(),
		distinct: newDistinctSet(),
		rc:       newStmtCache(),
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

// add buffers one event in the rows of its kind; every Add* is this.
func add[E any](w *RunWriter, rows func(*batch) *[]seqRow[E], e E) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.addable(); err != nil {
		return err
	}
	w.seq++
	r := rows(w.cur)
	*r = append(*r, seqRow[E]{w.seq, e})
	if w.cur.n++; w.cur.n >= batchRows {
		w.handoff(nil)
	}
	return nil
}

// AddFile buffers one file event.
func (w *RunWriter) AddFile(e FileEvent) error { return add(w, (*batch).fileRows, e) }

// AddNet buffers one network event.
func (w *RunWriter) AddNet(e NetEvent) error { return add(w, (*batch).netRows, e) }

// AddPriv buffers one privilege event.
func (w *RunWriter) AddPriv(e PrivEvent) error { return add(w, (*batch).privRows, e) }

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

// raw runs f with w.rc.c set to the writer's driver connection.
func (w *RunWriter) raw(f func() error) error {
	return withDriverConn(w.conn, func(c driver.Conn) error {
		w.rc.c = c
		defer func() { w.rc.c = nil }()
		return f()
	})
}

// inTx runs f in one IMMEDIATE transaction on the writer's connection.
// Strings interned by a failed transaction are forgotten again.
func (w *RunWriter) inTx(ctx context.Context, f func() error) error {
	return w.raw(func() error {
		w.strs.begin()
		w.distinct.begin()
		if err := w.rc.exec(ctx, "BEGIN IMMEDIATE"); err != nil {
			return err
		}
		err := f()
		if err == nil {
			err = w.rc.exec(ctx, "COMMIT")
		}
		if err != nil {
			w.rc.exec(context.WithoutCancel(ctx), "ROLLBACK")
			w.strs.rollback()
			w.distinct.rollback()
			return err
		}
		return nil
	})
}

var (
	fileRow = plainRow("_file", "seq", "proc", "op", "path", "path2", "flags", "mode", "result", "ts", "dup", "pflags")
	repRow  = plainRow("_file_rep", "seq", "of", "proc", "result", "evs")
	netRow  = plainRow("_net", "seq", "proc", "op", "family", "sock_type", "addr", "port", "domain", "qtype", "result", "ts", "verdict")
	privRow = plainRow("_priv", "seq", "proc", "syscall", "args", "result", "ts")
)

// write stores one batch in one transaction: its new strings first, then
// its events, then the run's event counts.
func (w *RunWriter) write(b *batch) error {
	ctx := context.Background()
	return w.inTx(ctx, func() error {
		// the path ids, looked up once per event
		ids := w.pathIDs[:0]
		for i := range b.files {
			ids = append(ids, w.strs.want(b.files[i].ev.Path), w.strs.want(b.files[i].ev.Path2))
		}
		w.pathIDs = ids
		for i := range b.nets {
			w.strs.want(b.nets[i].ev.Address)
			w.strs.want(b.nets[i].ev.Domain)
		}
		for i := range b.privs {
			w.strs.want(b.privs[i].ev.Syscall)
			w.strs.want(b.privs[i].ev.Args)
		}
		if err := w.internPending(ctx); err != nil {
			return err
		}
		// The first event of a behaviour gets a full row; its repeats go
		// into groups, a row per (first, process, result) and transaction
		// (repeats.go). A repeat that cannot join a group gets a full row
		// marked dup, as every repeat did before schema 13.
		full, reps := w.full[:0], &w.reps
		reps.reset()
		for i := range b.files {
			r := &b.files[i]
			of, first := w.distinct.first(&r.ev, r.seq, ids[2*i], ids[2*i+1])
			if !first && reps.add(repKey{of: of, result: r.ev.Result, proc: r.ev.Proc}, r.seq, r.ev.TS) {
				continue
			}
			full = append(full, fullRow{int32(i), !first})
		}
		w.full = full
		if err := w.rc.insertRows(ctx, &fileRow, w.id, len(full), func(k int, a []driver.NamedValue) {
			i := full[k].i
			r := &b.files[i]
			e := &r.ev
			set(a, r.seq, int64(e.Proc), int64(e.Op), ids[2*i], nullID(ids[2*i+1]), int64(e.Flags), int64(e.Mode), e.Result, e.TS, nil, nil)
			if full[k].dup {
				a[9].Value = int64(1)
			}
			if e.PathState != PathKernel {
				a[10].Value = int64(e.PathState)
			}
		}); err != nil {
			return err
		}
		if err := w.rc.insertRows(ctx, &repRow, w.id, reps.n, func(k int, a []driver.NamedValue) {
			g := &reps.groups[k]
			set(a, g.seq, g.of, int64(g.proc), g.result, reps.text(k))
		}); err != nil {
			return err
		}
		if err := w.rc.insertRows(ctx, &netRow, w.id, len(b.nets), func(i int, a []driver.NamedValue) {
			r := &b.nets[i]
			e := &r.ev
			set(a, r.seq, int64(e.Proc), int64(e.Op), int64(e.Family), int64(e.SockType), w.strs.sid(e.Address),
				int64(e.Port), w.strs.sid(e.Domain), int64(e.QType), e.Result, e.TS, int64(e.Verdict))
		}); err != nil {
			return err
		}
		if err := w.rc.insertRows(ctx, &privRow, w.id, len(b.privs), func(i int, a []driver.NamedValue) {
			r := &b.privs[i]
			e := &r.ev
			set(a, r.seq, int64(e.Proc), w.strs.id(e.Syscall), w.strs.sid(e.Args), e.Result, e.TS)
		}); err != nil {
			return err
		}
		nf, nn, np := w.nFile+int64(len(b.files)), w.nNet+int64(len(b.nets)), w.nPriv+int64(len(b.privs))
		if err := w.rc.exec(ctx, "UPDATE _run SET n_file = ?, n_net = ?, n_priv = ? WHERE id = ?", nf, nn, np, w.id); err != nil {
			return err
		}
		w.nFile, w.nNet, w.nPriv = nf, nn, np
		return nil
	})
}
