package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// The run writer and the trace loader talk to SQLite through the driver
// connection under a database/sql connection: database/sql's per-call
// argument conversion costs ~10% of the write path at 300k rows/s, and its
// Scan doubles the cost per event read. rawConn holds what both share.

// withDriverConn runs f with the driver connection under conn.
func withDriverConn(conn *sql.Conn, f func(driver.Conn) error) error {
	return conn.Raw(func(dc any) error {
		c, ok := dc.(driver.Conn)
		if !ok {
			return fmt.Errorf("unexpected driver connection %T", dc)
		}
		return f(c)
	})
}

// rawConn is a driver connection with, when stmts is non-nil, a cache of
// prepared statements (the writer runs the same few statements for every
// batch; the loader runs each query once and leaves stmts nil).
type rawConn struct {
	c     driver.Conn
	stmts map[string]driver.Stmt
	// inserts caches the multi-row INSERT statements by table and row
	// count, so that a batch does not rebuild (and hash) their text.
	inserts map[insertKey]driver.Stmt
	args    []driver.NamedValue
}

type insertKey struct {
	table string
	rows  int
}

func newStmtCache() rawConn {
	return rawConn{stmts: map[string]driver.Stmt{}, inserts: map[insertKey]driver.Stmt{}}
}

// prepare returns q prepared, from the cache when there is one; release
// closes a statement that was not cached.
func (r *rawConn) prepare(ctx context.Context, q string) (driver.Stmt, error) {
	if s, ok := r.stmts[q]; ok {
		return s, nil
	}
	p, ok := r.c.(driver.ConnPrepareContext)
	if !ok {
		return nil, fmt.Errorf("driver %T cannot prepare with a context", r.c)
	}
	s, err := p.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if r.stmts != nil {
		r.stmts[q] = s
	}
	return s, nil
}

func (r *rawConn) release(s driver.Stmt) {
	if r.stmts == nil {
		s.Close()
	}
}

// closeStmts closes every cached statement; the cache stays usable.
func (r *rawConn) closeStmts() {
	for q, s := range r.stmts {
		s.Close()
		delete(r.stmts, q)
	}
	for k, s := range r.inserts {
		s.Close()
		delete(r.inserts, k)
	}
}

// nv returns a reusable argument slice of n values with ordinals set.
func (r *rawConn) nv(n int) []driver.NamedValue {
	if cap(r.args) < n {
		r.args = make([]driver.NamedValue, n)
		for i := range r.args {
			r.args[i].Ordinal = i + 1
		}
	}
	return r.args[:n]
}

// exec runs q with args.
func (r *rawConn) exec(ctx context.Context, q string, args ...driver.Value) error {
	st, err := r.prepare(ctx, q)
	if err != nil {
		return err
	}
	defer r.release(st)
	a := r.nv(len(args))
	set(a, args...)
	return execNV(ctx, st, a)
}

func execNV(ctx context.Context, st driver.Stmt, a []driver.NamedValue) error {
	_, err := st.(driver.StmtExecContext).ExecContext(ctx, a)
	for i := range a {
		a[i].Value = nil // do not pin strings and blobs
	}
	return err
}

// rowsPerStmt rows go into one multi-row INSERT.
const rowsPerStmt = 100

// rowShape is a table's row as the writer inserts it: one bound value per
// column. (Packing two small columns into one bound value and splitting it
// in SQL needs numbered parameters, ?NNN, which the driver resolves by name
// with an allocation each: 4x slower than the values saved.)
type rowShape struct {
	table string
	cols  []string
}

func plainRow(table string, cols ...string) rowShape { return rowShape{table: table, cols: cols} }

// sql is the INSERT of k rows, with run as the literal run_id.
func (sh *rowShape) sql(run int64, k int) string {
	row := "(" + strconv.FormatInt(run, 10) + strings.Repeat(",?", len(sh.cols)) + ")"
	return "INSERT INTO " + sh.table + "(run_id," + strings.Join(sh.cols, ",") + ") VALUES " +
		strings.TrimSuffix(strings.Repeat(row+",", k), ",")
}

// insertRows writes n rows of shape sh in multi-row statements of up to
// rowsPerStmt rows; fill(i, args) sets row i's values. run is
// written as a literal run_id: one bound value less per row, and every
// statement of a writer is for its one run.
func (r *rawConn) insertRows(ctx context.Context, sh *rowShape, run int64, n int, fill func(i int, a []driver.NamedValue)) error {
	np := len(sh.cols)
	for i := 0; i < n; i += rowsPerStmt {
		k := min(rowsPerStmt, n-i)
		st, err := r.insertStmt(ctx, sh, run, k)
		if err != nil {
			return err
		}
		a := r.nv(k * np)
		for j := 0; j < k; j++ {
			fill(i+j, a[j*np:(j+1)*np])
		}
		err = execNV(ctx, st, a)
		r.release(st)
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *rawConn) insertStmt(ctx context.Context, sh *rowShape, run int64, k int) (driver.Stmt, error) {
	key := insertKey{sh.table, k}
	if s, ok := r.inserts[key]; ok {
		return s, nil
	}
	p, ok := r.c.(driver.ConnPrepareContext)
	if !ok {
		return nil, fmt.Errorf("driver %T cannot prepare with a context", r.c)
	}
	s, err := p.PrepareContext(ctx, sh.sql(run, k))
	if err != nil {
		return nil, err
	}
	if r.inserts != nil {
		r.inserts[key] = s
	}
	return s, nil
}

// queryEach runs q and calls f for each row; v is reused between rows.
func (r *rawConn) queryEach(ctx context.Context, q string, args []driver.NamedValue, f func(v []driver.Value) error) error {
	st, err := r.prepare(ctx, q)
	if err != nil {
		return err
	}
	defer r.release(st)
	rows, err := st.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		return err
	}
	defer rows.Close()
	v := make([]driver.Value, len(rows.Columns()))
	for {
		if err := rows.Next(v); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if err := f(v); err != nil {
			return err
		}
	}
}

// set assigns vals to a in order.
func set(a []driver.NamedValue, vals ...driver.Value) {
	for i, v := range vals {
		a[i].Value = v
	}
}

// arg makes a fresh argument list of vals.
func arg(vals ...driver.Value) []driver.NamedValue {
	a := make([]driver.NamedValue, len(vals))
	for i, v := range vals {
		a[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return a
}
