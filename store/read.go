package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

const runCols = `id, name, command, workspace, started_ns, ended_ns, exit_code, status, error, lost_events,
	replay_of, stdout_cap, stderr_cap, stdout_trunc, stderr_trunc, tool_version`

type scanner interface{ Scan(dest ...any) error }

func scanRun(s scanner, extra ...any) (Run, error) {
	var r Run
	var cmd string
	var started int64
	var ended, replay sql.NullInt64
	var errText sql.NullString
	dest := append([]any{&r.ID, &r.Name, &cmd, &r.Workspace, &started, &ended, &r.ExitCode, &r.Status, &errText,
		&r.LostEvents, &replay, &r.StdoutCap, &r.StderrCap, &r.StdoutTrunc, &r.StderrTrunc, &r.ToolVersion}, extra...)
	if err := s.Scan(dest...); err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(cmd), &r.Command); err != nil {
		return r, fmt.Errorf("run %d: bad command %q: %w", r.ID, cmd, err)
	}
	if len(r.Command) == 0 {
		r.Command = nil
	}
	r.StartedAt = time.Unix(0, started)
	if ended.Valid {
		r.EndedAt = time.Unix(0, ended.Int64)
	}
	r.ReplayOf = replay.Int64
	r.Error = errText.String
	return r, nil
}

// Runs lists all runs, newest first, without their stdout, stderr and spec.
func (db *DB) Runs(ctx context.Context) ([]Run, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT "+runCols+" FROM _run ORDER BY id DESC")
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("list runs: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	for i := range out {
		if out[i].LostByClass, err = lostByClass(ctx, db.r, out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func lostByClass(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, id int64) (map[string]int64, error) {
	rows, err := q.QueryContext(ctx, "SELECT class, count FROM _lost WHERE run_id = ?", id)
	if err != nil {
		return nil, fmt.Errorf("run %d lost events: %w", id, err)
	}
	defer rows.Close()
	var m map[string]int64
	for rows.Next() {
		var c string
		var n int64
		if err := rows.Scan(&c, &n); err != nil {
			return nil, err
		}
		if m == nil {
			m = map[string]int64{}
		}
		m[c] = n
	}
	return m, rows.Err()
}

// ResolveRun turns a run reference into an id: a number, "last" (the newest
// run) or a run name (the newest run with that name).
func (db *DB) ResolveRun(ctx context.Context, ref string) (int64, error) {
	ref = strings.TrimSpace(ref)
	var id int64
	var err error
	switch {
	case ref == "":
		return 0, errors.New("no run given (an id, a name or \"last\")")
	case ref == "last" || ref == "latest":
		err = db.r.QueryRowContext(ctx, "SELECT id FROM _run ORDER BY id DESC LIMIT 1").Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("no runs yet in %s (record one with: behavediff record -- CMD)", db.path)
		}
	default:
		if n, perr := strconv.ParseInt(ref, 10, 64); perr == nil {
			err = db.r.QueryRowContext(ctx, "SELECT id FROM _run WHERE id = ?", n).Scan(&id)
			if err == nil || !errors.Is(err, sql.ErrNoRows) {
				break
			}
			// fall through to a name made of digits
		}
		err = db.r.QueryRowContext(ctx, "SELECT id FROM _run WHERE name = ? ORDER BY id DESC LIMIT 1", ref).Scan(&id)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("no run %s (see behavediff runs)", ref)
	}
	if err != nil {
		return 0, fmt.Errorf("resolve run %s: %w", ref, err)
	}
	return id, nil
}

// SetSpec replaces the run's JSON spec.
func (db *DB) SetSpec(ctx context.Context, id int64, spec []byte) error {
	if db.w == nil {
		return fmt.Errorf("set spec of run %d: trace database %s is open read-only", id, db.path)
	}
	res, err := db.w.ExecContext(ctx, "UPDATE _run SET spec = ? WHERE id = ?", nullBytes(spec), id)
	if err != nil {
		return fmt.Errorf("set spec of run %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("no run %d (see behavediff runs)", id)
	}
	return nil
}

// Spec returns the run's JSON spec (nil if none was stored).
func (db *DB) Spec(ctx context.Context, id int64) ([]byte, error) {
	var b []byte
	err := db.r.QueryRowContext(ctx, "SELECT spec FROM _run WHERE id = ?", id).Scan(&b)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("no run %d (see behavediff runs)", id)
	}
	if err != nil {
		return nil, fmt.Errorf("spec of run %d: %w", id, err)
	}
	return b, nil
}

// strResolver maps _str ids to strings, loading each id once; equal paths
// share one Go string.
type strResolver struct {
	ctx  context.Context
	stmt *sql.Stmt
	m    map[int64]string
}

func (r *strResolver) get(id sql.NullInt64) (string, error) {
	if !id.Valid || id.Int64 == 0 {
		return "", nil
	}
	if s, ok := r.m[id.Int64]; ok {
		return s, nil
	}
	var s string
	if err := r.stmt.QueryRowContext(r.ctx, id.Int64).Scan(&s); err != nil {
		return "", fmt.Errorf("string %d: %w", id.Int64, err)
	}
	r.m[id.Int64] = s
	return s, nil
}

// LoadTrace reads a whole run in one read transaction (a consistent
// snapshot even while the run is being written). Events come in recording
// order, processes by Idx, syscall counts by (Proc, Name), changes as stored.
func (db *DB) LoadTrace(ctx context.Context, id int64) (*Trace, error) {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("load run %d: %w", id, err)
	}
	defer tx.Rollback()
	t, err := loadTrace(ctx, tx, id)
	if err != nil {
		return nil, fmt.Errorf("load run %d: %w", id, err)
	}
	return t, nil
}

func loadTrace(ctx context.Context, tx *sql.Tx, id int64) (*Trace, error) {
	var t Trace
	var nf, nn, np int
	var stdout, stderr, spec []byte
	var err error
	t.Run, err = scanRun(tx.QueryRowContext(ctx, "SELECT "+runCols+", stdout, stderr, spec, n_file, n_net, n_priv FROM _run WHERE id = ?", id),
		&stdout, &stderr, &spec, &nf, &nn, &np)
	t.Run.Stdout, t.Run.Stderr, t.Run.Spec = stdout, stderr, spec
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("no run %d (see behavediff runs)", id)
	}
	if err != nil {
		return nil, err
	}
	if t.Run.LostByClass, err = lostByClass(ctx, tx, id); err != nil {
		return nil, err
	}
	st, err := tx.PrepareContext(ctx, "SELECT s FROM _str WHERE id = ?")
	if err != nil {
		return nil, err
	}
	defer st.Close()
	sr := &strResolver{ctx: ctx, stmt: st, m: map[int64]string{}}

	// Processes.
	rows, err := tx.QueryContext(ctx, `SELECT idx, pid, ppid, parent_idx, exe, argv, cwd, uid, chain, started_ns, exited_ns,
		exited, exit_code, exit_signal FROM _proc WHERE run_id = ? ORDER BY idx`, id)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var p Process
		var exe, cwd sql.NullInt64
		var argv string
		if err := rows.Scan(&p.Idx, &p.Pid, &p.Ppid, &p.ParentIdx, &exe, &argv, &cwd, &p.UID, &p.Chain, &p.StartedAt,
			&p.ExitedAt, &p.Exited, &p.ExitCode, &p.ExitSignal); err != nil {
			rows.Close()
			return nil, err
		}
		if p.Exe, err = sr.get(exe); err == nil {
			p.Cwd, err = sr.get(cwd)
		}
		if err == nil {
			err = json.Unmarshal([]byte(argv), &p.Argv)
		}
		if err != nil {
			rows.Close()
			return nil, err
		}
		if len(p.Argv) == 0 {
			p.Argv = nil
		}
		t.Processes = append(t.Processes, p)
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}

	// File events.
	if nf > 0 {
		t.Files = make([]FileEvent, 0, nf)
	}
	rows, err = tx.QueryContext(ctx, `SELECT proc, op, path, path2, flags, mode, result, ts FROM _file WHERE run_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var e FileEvent
		var p1, p2 sql.NullInt64
		var proc, op, flags, mode int64
		if err := rows.Scan(&proc, &op, &p1, &p2, &flags, &mode, &e.Result, &e.TS); err != nil {
			rows.Close()
			return nil, err
		}
		e.Proc, e.Op, e.Flags, e.Mode = int32(proc), FileOp(op), uint32(flags), uint32(mode)
		if e.Path, err = sr.get(p1); err == nil {
			e.Path2, err = sr.get(p2)
		}
		if err != nil {
			rows.Close()
			return nil, err
		}
		t.Files = append(t.Files, e)
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}

	// Network events.
	if nn > 0 {
		t.Net = make([]NetEvent, 0, nn)
	}
	rows, err = tx.QueryContext(ctx, `SELECT proc, op, family, sock_type, addr, port, domain, qtype, result, ts FROM _net WHERE run_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var e NetEvent
		var a, d sql.NullInt64
		var proc, op, fam, typ, port, qt int64
		if err := rows.Scan(&proc, &op, &fam, &typ, &a, &port, &d, &qt, &e.Result, &e.TS); err != nil {
			rows.Close()
			return nil, err
		}
		e.Proc, e.Op, e.Family, e.SockType, e.Port, e.QType = int32(proc), NetOp(op), uint16(fam), uint16(typ), uint16(port), uint16(qt)
		if e.Address, err = sr.get(a); err == nil {
			e.Domain, err = sr.get(d)
		}
		if err != nil {
			rows.Close()
			return nil, err
		}
		t.Net = append(t.Net, e)
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}

	// Privilege events.
	if np > 0 {
		t.Priv = make([]PrivEvent, 0, np)
	}
	rows, err = tx.QueryContext(ctx, `SELECT proc, syscall, args, result, ts FROM _priv WHERE run_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var e PrivEvent
		var sc, a sql.NullInt64
		var proc int64
		if err := rows.Scan(&proc, &sc, &a, &e.Result, &e.TS); err != nil {
			rows.Close()
			return nil, err
		}
		e.Proc = int32(proc)
		if e.Syscall, err = sr.get(sc); err == nil {
			e.Args, err = sr.get(a)
		}
		if err != nil {
			rows.Close()
			return nil, err
		}
		t.Priv = append(t.Priv, e)
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}

	// Syscall counts.
	rows, err = tx.QueryContext(ctx, `SELECT proc, name, count, errors FROM _sys WHERE run_id = ?`, id)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var s SyscallCount
		var n sql.NullInt64
		if err := rows.Scan(&s.Proc, &n, &s.Count, &s.Errors); err != nil {
			rows.Close()
			return nil, err
		}
		if s.Name, err = sr.get(n); err != nil {
			rows.Close()
			return nil, err
		}
		t.Syscalls = append(t.Syscalls, s)
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}
	sort.Slice(t.Syscalls, func(i, j int) bool {
		a, b := t.Syscalls[i], t.Syscalls[j]
		if a.Proc != b.Proc {
			return a.Proc < b.Proc
		}
		return a.Name < b.Name
	})

	// Workspace changes.
	rows, err = tx.QueryContext(ctx, `SELECT path, change, size, sha256, is_dir FROM _change WHERE run_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var c FSChange
		if err := rows.Scan(&c.Path, &c.Change, &c.Size, &c.SHA256, &c.IsDir); err != nil {
			rows.Close()
			return nil, err
		}
		t.Changes = append(t.Changes, c)
	}
	if err := closeRows(rows); err != nil {
		return nil, err
	}
	return &t, nil
}

func closeRows(rows *sql.Rows) error {
	err := rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return err
}
