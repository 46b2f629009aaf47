package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
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

// LoadTrace reads a whole run in one read transaction (a consistent
// snapshot even while the run is being written). Events come in recording
// order, processes by Idx, syscall counts by (Proc, Name), changes as stored.
// It reads through the driver connection: database/sql's Scan would double
// the cost per event.
func (db *DB) LoadTrace(ctx context.Context, id int64) (*Trace, error) {
	return db.load(ctx, id, false)
}

// LoadDistinct is LoadTrace for building a baseline: of the file events
// that differ only in process, timestamp and success value, it reads only
// the first (execs are kept per process; a failure's errno counts). A
// build opens the same few thousand files a million times; a baseline
// needs each behaviour once, with the process that did it first, and this
// reads a fraction of the rows. Network and privilege events are all read
// (egress is named after the DNS answer before it: order matters).
func (db *DB) LoadDistinct(ctx context.Context, id int64) (*Trace, error) {
	return db.load(ctx, id, true)
}

func (db *DB) load(ctx context.Context, id int64, distinct bool) (*Trace, error) {
	conn, err := db.r.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("load run %d: %w", id, err)
	}
	defer conn.Close()
	var t *Trace
	err = withDriverConn(conn, func(c driver.Conn) error {
		l := &loader{ctx: ctx, rawConn: rawConn{c: c}, distinct: distinct}
		if err := l.exec("BEGIN"); err != nil {
			return err
		}
		defer l.exec("ROLLBACK")
		t, err = l.load(id)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("load run %d: %w", id, err)
	}
	return t, nil
}

type loader struct {
	ctx context.Context
	rawConn
	dense  []string         // the run's strings by id (see loadStrings) ...
	sparse map[int64]string // ... or, for sparse ids, by map
	// distinct: read only the first file event of each behaviour.
	distinct bool
}

func (l *loader) exec(q string) error { return l.rawConn.exec(l.ctx, q) }

// query runs q and calls f for each row; v is reused between rows.
func (l *loader) query(q string, args []driver.NamedValue, f func(v []driver.Value) error) error {
	return l.queryEach(l.ctx, q, args, f)
}

// loadStrings reads the run's interned strings in one range scan. Ids are
// dense for runs written since schema version 2, so they index a slice;
// runs migrated from version 1 keep sparse global ids and use a map.
func (l *loader) loadStrings(run int64) error {
	var ids []int64
	var strs []string
	var maxID int64
	err := l.query("SELECT id, s FROM _str WHERE run_id = ?", arg(run), func(v []driver.Value) error {
		id := vInt(v[0])
		ids, strs = append(ids, id), append(strs, vStr(v[1]))
		maxID = max(maxID, id)
		return nil
	})
	if err != nil {
		return fmt.Errorf("strings: %w", err)
	}
	if maxID <= int64(2*len(ids)+1024) {
		l.dense = make([]string, maxID+1)
		for i, id := range ids {
			if id > 0 {
				l.dense[id] = strs[i]
			}
		}
		return nil
	}
	l.sparse = make(map[int64]string, len(ids))
	for i, id := range ids {
		l.sparse[id] = strs[i]
	}
	return nil
}

// str resolves an interned string id (nil/0: ""). Equal strings of a run
// share one Go string.
func (l *loader) str(v driver.Value) (string, error) {
	id, ok := v.(int64)
	if !ok || id == 0 {
		return "", nil
	}
	if id > 0 && id < int64(len(l.dense)) && l.dense[id] != "" { // "" is never interned
		return l.dense[id], nil
	}
	if s, ok := l.sparse[id]; ok {
		return s, nil
	}
	return "", fmt.Errorf("string %d missing", id)
}

func (l *loader) load(id int64) (*Trace, error) {
	var t Trace
	r := &t.Run
	found := false
	var nf, nn, np int64
	err := l.query(`SELECT id, name, command, workspace, started_ns, ended_ns, exit_code, status, error, lost_events,
		replay_of, stdout_cap, stderr_cap, stdout_trunc, stderr_trunc, tool_version, stdout, stderr, spec,
		n_file, n_net, n_priv, memory_limit, pids_limit, disk_limit, tmpfs_limit, cpu_limit, limits_hit
		FROM _run WHERE id = ?`, arg(id), func(v []driver.Value) error {
		found = true
		r.ID, r.Name, r.Workspace = vInt(v[0]), vStr(v[1]), vStr(v[3])
		if err := json.Unmarshal([]byte(vStr(v[2])), &r.Command); err != nil {
			return fmt.Errorf("bad command %q: %w", v[2], err)
		}
		if len(r.Command) == 0 {
			r.Command = nil
		}
		r.StartedAt = time.Unix(0, vInt(v[4]))
		if v[5] != nil {
			r.EndedAt = time.Unix(0, vInt(v[5]))
		}
		r.ExitCode, r.Status, r.Error, r.LostEvents = int(vInt(v[6])), vStr(v[7]), vStr(v[8]), vInt(v[9])
		r.ReplayOf, r.StdoutCap, r.StderrCap = vInt(v[10]), vInt(v[11]), vInt(v[12])
		r.StdoutTrunc, r.StderrTrunc, r.ToolVersion = vInt(v[13]) != 0, vInt(v[14]) != 0, vStr(v[15])
		r.Stdout, r.Stderr, r.Spec = vBytes(v[16]), vBytes(v[17]), vBytes(v[18])
		nf, nn, np = vInt(v[19]), vInt(v[20]), vInt(v[21])
		r.Limits = Limits{MemoryBytes: vInt(v[22]), Pids: vInt(v[23]), DiskBytes: vInt(v[24]), TmpfsBytes: vInt(v[25])}
		switch c := v[26].(type) {
		case float64:
			r.Limits.CPUs = c
		case int64:
			r.Limits.CPUs = float64(c)
		}
		if hit := vStr(v[27]); hit != "" {
			r.LimitsHit = strings.Split(hit, "; ")
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("no run %d (see behavediff runs)", id)
	}
	if err := l.loadStrings(id); err != nil {
		return nil, err
	}
	err = l.query("SELECT class, count FROM _lost WHERE run_id = ?", arg(id), func(v []driver.Value) error {
		if r.LostByClass == nil {
			r.LostByClass = map[string]int64{}
		}
		r.LostByClass[vStr(v[0])] = vInt(v[1])
		return nil
	})
	if err != nil {
		return nil, err
	}
	err = l.query("SELECT kind, count FROM _malformed WHERE run_id = ?", arg(id), func(v []driver.Value) error {
		if r.Malformed == nil {
			r.Malformed = map[string]int64{}
		}
		r.Malformed[vStr(v[0])] = vInt(v[1])
		return nil
	})
	if err != nil {
		return nil, err
	}

	err = l.query(`SELECT idx, pid, ppid, parent_idx, exe, argv, cwd, uid, chain, started_ns, exited_ns,
		exited, exit_code, exit_signal, env, pflags FROM _proc WHERE run_id = ? ORDER BY idx`, arg(id), func(v []driver.Value) error {
		pf := vInt(v[15])
		p := Process{Idx: int32(vInt(v[0])), Pid: int32(vInt(v[1])), Ppid: int32(vInt(v[2])), ParentIdx: int32(vInt(v[3])),
			UID: uint32(vInt(v[7])), Chain: vStr(v[8]), StartedAt: vInt(v[9]), ExitedAt: vInt(v[10]), Exited: vInt(v[11]) != 0,
			ExitCode: int32(vInt(v[12])), ExitSignal: int32(vInt(v[13])),
			ArgvTruncated: pf&1 != 0, EnvTruncated: pf&2 != 0, Replaced: pf&4 != 0}
		env, err := l.str(v[14])
		if err != nil {
			return err
		}
		if env != "" {
			if err := json.Unmarshal([]byte(env), &p.Env); err != nil {
				return fmt.Errorf("process %d: bad env: %w", p.Idx, err)
			}
			if len(p.Env) == 0 {
				p.Env = nil
			}
		}
		if p.Exe, err = l.str(v[4]); err != nil {
			return err
		}
		if p.Cwd, err = l.str(v[6]); err != nil {
			return err
		}
		if err := json.Unmarshal([]byte(vStr(v[5])), &p.Argv); err != nil {
			return fmt.Errorf("process %d: bad argv: %w", p.Idx, err)
		}
		if len(p.Argv) == 0 {
			p.Argv = nil
		}
		t.Processes = append(t.Processes, p)
		return nil
	})
	if err != nil {
		return nil, err
	}

	if err := l.loadFiles(&t, id, nf); err != nil {
		return nil, err
	}
	if nn > 0 {
		t.Net = make([]NetEvent, 0, nn)
	}
	err = l.query(`SELECT (proc << 16) | (verdict << 8) | op, family | (sock_type << 16) | (port << 32) | (qtype << 48), addr, domain, result, ts
		FROM _net WHERE run_id = ? ORDER BY seq`, arg(id), func(v []driver.Value) error {
		po, x := vInt(v[0]), uint64(vInt(v[1]))
		e := NetEvent{Proc: int32(po >> 16), Op: NetOp(po & 0xff), Family: uint16(x), SockType: uint16(x >> 16), Port: uint16(x >> 32),
			QType: uint16(x >> 48), Result: vInt(v[4]), TS: vInt(v[5]), Verdict: NetVerdict(po >> 8 & 0xff)}
		var err error
		if e.Address, err = l.str(v[2]); err != nil {
			return err
		}
		if e.Domain, err = l.str(v[3]); err != nil {
			return err
		}
		t.Net = append(t.Net, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if np > 0 {
		t.Priv = make([]PrivEvent, 0, np)
	}
	err = l.query(`SELECT proc, syscall, args, result, ts FROM _priv WHERE run_id = ? ORDER BY seq`, arg(id), func(v []driver.Value) error {
		e := PrivEvent{Proc: int32(vInt(v[0])), Result: vInt(v[3]), TS: vInt(v[4])}
		var err error
		if e.Syscall, err = l.str(v[1]); err != nil {
			return err
		}
		if e.Args, err = l.str(v[2]); err != nil {
			return err
		}
		t.Priv = append(t.Priv, e)
		return nil
	})
	if err != nil {
		return nil, err
	}

	err = l.query(`SELECT proc, name, count, errors FROM _sys WHERE run_id = ?`, arg(id), func(v []driver.Value) error {
		s := SyscallCount{Proc: int32(vInt(v[0])), Count: uint64(vInt(v[2])), Errors: uint64(vInt(v[3]))}
		var err error
		if s.Name, err = l.str(v[1]); err != nil {
			return err
		}
		t.Syscalls = append(t.Syscalls, s)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(t.Syscalls, func(i, j int) bool {
		a, b := t.Syscalls[i], t.Syscalls[j]
		if a.Proc != b.Proc {
			return a.Proc < b.Proc
		}
		return a.Name < b.Name
	})

	err = l.query(`SELECT path, change, size, sha256, is_dir FROM _change WHERE run_id = ? ORDER BY id`, arg(id), func(v []driver.Value) error {
		t.Changes = append(t.Changes, FSChange{Path: vStr(v[0]), Change: vStr(v[1]), Size: vInt(v[2]), SHA256: vStr(v[3]), IsDir: vInt(v[4]) != 0})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := l.loadProxy(id, &t); err != nil {
		return nil, err
	}
	return &t, nil
}
