package store

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func queryRows(t *testing.T, db *DB, q string, args ...any) [][]any {
	t.Helper()
	res, err := db.Query(ctx, q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return res.Rows
}

func TestViews(t *testing.T) {
	db, _ := openTemp(t)
	id := writeTrace(t, db, sampleTrace())
	tests := []struct {
		q    string
		want [][]any
	}{
		{`SELECT id, name, command, workspace, started_at, ended_at, exit_code, status, lost_events, duration_ms, stdout_trunc, stderr_trunc FROM runs`,
			[][]any{{id, "build", `["sh","-c","make && curl https://example.com"]`, "/home/u/proj", "2026-03-04T05:06:07.123Z", "2026-03-04T05:06:09.623Z", int64(3), "incomplete", int64(7), int64(2500), int64(0), int64(1)}}},
		{`SELECT run_id, pid, ppid, exe, argv, cwd, uid, started_at, exited_at, exit_code, idx, parent_idx, exit_signal, chain FROM processes ORDER BY idx`,
			[][]any{
				{id, int64(100), int64(90), "/bin/sh", `["sh","-c","make"]`, "/home/u/proj", int64(1000), int64(0), int64(2400000000), int64(3), int64(0), nil, nil, "/bin/sh"},
				{id, int64(101), int64(100), "/usr/bin/curl", `["curl","https://example.com"]`, "/home/u/proj", int64(0), int64(1000000), int64(2000000000), nil, int64(1), int64(0), int64(9), "/bin/sh > /usr/bin/curl"},
				{id, int64(102), int64(100), nil, `[]`, nil, int64(0), int64(5), nil, nil, int64(2), int64(0), nil, "/bin/sh > ?"},
			}},
		{`SELECT run_id, pid, exe, op, path, flags, result, error, ts, path2, mode, proc_idx FROM file_events WHERE op IN ('open','rename') ORDER BY seq`,
			[][]any{
				{id, int64(100), "/bin/sh", "open", "/etc/passwd", int64(0x80000), int64(3), nil, int64(20), nil, int64(0), int64(0)},
				{id, int64(100), "/bin/sh", "open", "/etc/shadow", int64(0), int64(-13), "EACCES", int64(30), nil, int64(0), int64(0)},
				{id, int64(101), "/usr/bin/curl", "open", "/home/u/proj/out.txt", int64(0x241), int64(4), nil, int64(40), nil, int64(0o644), int64(1)},
				{id, int64(101), "/usr/bin/curl", "rename", "/home/u/proj/out.txt", int64(0), int64(0), nil, int64(50), "/home/u/proj/final.txt", int64(0), int64(1)},
			}},
		{`SELECT run_id, pid, exe, op, family, address, port, result, error, ts, domain, sock_type, qtype FROM net_events ORDER BY seq`,
			[][]any{
				{id, int64(101), "/usr/bin/curl", "socket", "inet", nil, nil, int64(5), nil, int64(100), nil, "dgram", nil},
				{id, int64(101), "/usr/bin/curl", "dns", "inet", "127.0.0.53", int64(53), int64(29), nil, int64(110), "example.com", "dgram", "A"},
				{id, int64(101), "/usr/bin/curl", "connect", "inet6", "2001:db8::1", int64(443), int64(-101), "ENETUNREACH", int64(120), "example.com", "stream", nil},
				{id, int64(101), "/usr/bin/curl", "connect", "unix", "/run/docker.sock", nil, int64(-2), "ENOENT", int64(130), nil, "stream", nil},
			}},
		{`SELECT * FROM fs_changes ORDER BY path`,
			[][]any{
				{id, "/home/u/proj/dir", "created", nil, nil, int64(1)},
				{id, "/home/u/proj/final.txt", "created", int64(12), "ab12", int64(0)},
				{id, "/home/u/proj/old", "deleted", nil, nil, int64(0)},
			}},
		{`SELECT run_id, pid, exe, name, count, errors FROM syscalls ORDER BY pid, name`,
			[][]any{
				{id, int64(100), "/bin/sh", "openat", int64(10), int64(1)},
				{id, int64(100), "/bin/sh", "read", int64(100), int64(0)},
				{id, int64(101), "/usr/bin/curl", "connect", int64(2), int64(2)},
			}},
		{`SELECT run_id, pid, exe, syscall, args, result, error, ts FROM priv_events ORDER BY seq`,
			[][]any{
				{id, int64(100), "/bin/sh", "unshare", "flags=CLONE_NEWUSER|CLONE_NEWNET", int64(-1), "EPERM", int64(200)},
				{id, int64(101), "/usr/bin/curl", "setuid", "uid=0", int64(0), nil, int64(210)},
			}},
		{`SELECT * FROM lost_events ORDER BY class`,
			[][]any{{id, "file", int64(5)}, {id, "net", int64(2)}}},
	}
	for _, tt := range tests {
		if d := cmp.Diff(tt.want, queryRows(t, db, tt.q)); d != "" {
			t.Errorf("%s (-want +got):\n%s", tt.q, d)
		}
	}
}

func TestQueryReadOnly(t *testing.T) {
	db, path := openTemp(t)
	writeTrace(t, db, sampleTrace())
	bad := []string{
		"INSERT INTO _run(status, started_ns) VALUES ('ok', 0)",
		"DROP TABLE _file",
		"  /* c */ delete FROM _file",
		"ATTACH DATABASE '/tmp/x.db' AS x",
		"SELECT 1; DROP TABLE _file",
		"SELECT 1; SELECT 2",
		"PRAGMA query_only = 0",
		"PRAGMA journal_mode=DELETE",
		"PRAGMA wal_checkpoint",
		"WITH x AS (SELECT 1) INSERT INTO _str(s) SELECT 'a' FROM x",
		"VACUUM",
		"CREATE TEMP TABLE t(x)",
		"REPLACE INTO _str(s) VALUES('x')",
	}
	for _, ro := range []bool{false, true} {
		qdb := db
		if ro {
			var err error
			qdb, err = OpenReadOnly(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer qdb.Close()
		}
		for _, q := range bad {
			_, err := qdb.Query(ctx, q)
			if err == nil || !errors.Is(err, ErrReadOnly) || !strings.Contains(err.Error(), "query is read-only") {
				t.Errorf("ro=%v %q: err %v, want query is read-only", ro, q, err)
			}
		}
		for _, q := range []string{"SELECT count(*) FROM file_events;", "-- hi\nselect ';' AS x", "PRAGMA table_info(file_events)", "VALUES (1)", "SELECT * FROM pragma_table_info('runs')"} {
			if _, err := qdb.Query(ctx, q); err != nil {
				t.Errorf("ro=%v %q: %v", ro, q, err)
			}
		}
	}
	if n := queryRows(t, db, "SELECT count(*) FROM _str WHERE s = 'x' OR s = 'a'"); n[0][0] != int64(0) {
		t.Errorf("a refused query wrote: %v", n)
	}
}
