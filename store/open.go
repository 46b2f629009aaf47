package store

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// applicationID marks a SQLite file as a behavediff trace database
// (PRAGMA application_id, "bdif").
const applicationID = 0x62646966

// busyTimeoutMS is how long a statement waits for another writer's lock.
const busyTimeoutMS = 60000

// quickCheckMaxBytes bounds the database size for which Open runs
// PRAGMA quick_check; bigger files only get the cheap structural probe.
const quickCheckMaxBytes = 32 << 20

var migrations = mustLoadMigrations()

func mustLoadMigrations() []string {
	ents, err := fs.ReadDir(migrationFS, "migrations")
	if err != nil {
		panic(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	out := make([]string, 0, len(names))
	for i, n := range names {
		v, err := strconv.Atoi(strings.SplitN(n, "_", 2)[0])
		if err != nil || v != i+1 {
			panic(fmt.Sprintf("store: migration %s out of sequence", n))
		}
		b, _ := migrationFS.ReadFile("migrations/" + n)
		out = append(out, string(b))
	}
	return out
}

// SchemaVersion is the schema version this build writes (PRAGMA user_version).
func SchemaVersion() int { return len(migrations) }

// DB is an open trace database. Writes (BeginRun, SetSpec) need Open;
// OpenReadOnly gives a handle for the read API and Query only.
type DB struct {
	path string
	w    *sql.DB // nil when read-only
	r    *sql.DB // mode=ro, query_only: reads and Query
}

// Path is the database file's absolute path.
func (db *DB) Path() string { return db.path }

// Close closes the database. RunWriters must be finished or aborted first.
func (db *DB) Close() error {
	var err error
	if db.w != nil {
		err = db.w.Close()
	}
	if e := db.r.Close(); err == nil {
		err = e
	}
	return err
}

func dsn(abs string, readOnly bool) string {
	u := (&url.URL{Path: abs}).EscapedPath()
	// EscapedPath leaves '?' alone only if it is not in the path; be sure.
	u = strings.ReplaceAll(u, "?", "%3F")
	q := []string{
		"_pragma=busy_timeout(" + strconv.Itoa(busyTimeoutMS) + ")",
		"_pragma=foreign_keys(1)",
	}
	if readOnly {
		q = append(q, "mode=ro", "_pragma=query_only(1)", "_pragma=mmap_size(1073741824)", "_pragma=cache_size(-16384)")
	} else {
		q = append(q, "_pragma=synchronous(NORMAL)", "_txlock=immediate")
	}
	return "file:" + u + "?" + strings.Join(q, "&")
}

// primaryCodeMask keeps the primary result code (sqlite3.SQLITE_*) of an
// extended one: SQLite puts it in the low byte (SQLITE_IOERR_FSYNC is
// SQLITE_IOERR | 4<<8).
const primaryCodeMask = 0xff

// sqliteCode returns the primary SQLite result code in err, or 0; compare
// it with the sqlite3.SQLITE_* constants, never with numbers.
func sqliteCode(err error) int {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() & primaryCodeMask
	}
	return 0
}

// classify turns a SQLite error on open into the messages users see.
func classify(path string, err error) error {
	switch sqliteCode(err) {
	case sqlite3.SQLITE_NOTADB:
		return fmt.Errorf("%s is not a behavediff trace database: file is not a database", path)
	case sqlite3.SQLITE_CORRUPT:
		return fmt.Errorf("trace database %s is corrupt (%v); move it aside and record again", path, err)
	case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_AUTH:
		return fmt.Errorf("open trace db %s: %v (is the directory writable?)", path, err)
	}
	return fmt.Errorf("open trace db %s: %w", path, err)
}

// checkHeader rejects an existing non-empty file that is not SQLite before
// SQLite gets to touch it. It reports whether the file exists and is non-empty.
func checkHeader(path string) (exists bool, size int64, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, 0, nil
	}
	if err != nil {
		return false, 0, fmt.Errorf("open trace db %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false, 0, fmt.Errorf("open trace db %s: %w", path, err)
	}
	if st.IsDir() {
		return false, 0, fmt.Errorf("open trace db %s: is a directory, want a file", path)
	}
	if st.Size() == 0 {
		return true, 0, nil
	}
	hdr := make([]byte, 16)
	if _, err := io.ReadFull(f, hdr); err != nil || !bytes.Equal(hdr, []byte("SQLite format 3\x00")) {
		return true, st.Size(), fmt.Errorf("%s is not a behavediff trace database: file is not a database", path)
	}
	return true, st.Size(), nil
}

// Open opens (creating it if needed) the trace database at path for
// recording: WAL, synchronous=NORMAL, a long busy timeout, foreign keys,
// migrations applied, runs of dead recorders marked interrupted.
func Open(ctx context.Context, path string) (*DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open trace db %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, fmt.Errorf("open trace db %s: %v (is the directory writable?)", path, err)
	}
	unlock, err := lockSetup(abs)
	if err != nil {
		return nil, fmt.Errorf("open trace db %s: %v (is the directory writable?)", path, err)
	}
	defer unlock()
	_, size, err := checkHeader(abs)
	if err != nil {
		return nil, err
	}
	w, err := sql.Open("sqlite", dsn(abs, false))
	if err != nil {
		return nil, fmt.Errorf("open trace db %s: %w", path, err)
	}
	db := &DB{path: abs, w: w}
	fail := func(err error) (*DB, error) {
		w.Close()
		if db.r != nil {
			db.r.Close()
		}
		return nil, err
	}
	version, err := inspect(ctx, w, path)
	if err != nil {
		return fail(err)
	}
	if size > 0 && size <= quickCheckMaxBytes && version > 0 {
		if err := quickCheck(ctx, w, path); err != nil {
			return fail(err)
		}
	}
	if _, err := w.ExecContext(ctx, "PRAGMA journal_mode=WAL"); err != nil {
		return fail(classify(path, err))
	}
	if err := migrate(ctx, w, path); err != nil {
		return fail(err)
	}
	if err := probe(ctx, w, path); err != nil {
		return fail(err)
	}
	if err := repairRuns(ctx, w); err != nil {
		return fail(fmt.Errorf("open trace db %s: repair interrupted runs: %w", path, err))
	}
	db.r, err = sql.Open("sqlite", dsn(abs, true))
	if err != nil {
		return fail(fmt.Errorf("open trace db %s: %w", path, err))
	}
	return db, nil
}

// lockSetup serialises Open's setup (first creation, switch to WAL,
// migrations, repair) between processes: two records starting at once on a
// new file otherwise race in SQLite's journal-mode switch, which reports
// SQLITE_BUSY without waiting. The lock is a sidecar file, never the
// database itself: closing any descriptor of the database would drop
// SQLite's own POSIX locks held by this process.
func lockSetup(abs string) (func(), error) {
	f, err := os.OpenFile(abs+"-lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return func() {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	}, nil
}

// OpenReadOnly opens an existing trace database for reading (show, query,
// runs). It never creates the file. If the schema is older than this build's
// or a dead recorder left a run "running", it briefly opens the file for
// writing to fix that (ignored if the file is not writable).
func OpenReadOnly(ctx context.Context, path string) (*DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open trace db %s: %w", path, err)
	}
	exists, size, err := checkHeader(abs)
	if err != nil {
		return nil, err
	}
	if !exists {
		return nil, fmt.Errorf("no trace database at %s (record a run first)", path)
	}
	if size == 0 {
		return nil, fmt.Errorf("%s is an empty file, not a behavediff trace database yet (record a run first)", path)
	}
	r, err := sql.Open("sqlite", dsn(abs, true))
	if err != nil {
		return nil, fmt.Errorf("open trace db %s: %w", path, err)
	}
	version, err := inspect(ctx, r, path)
	if err != nil {
		r.Close()
		return nil, err
	}
	stale := false
	if version == SchemaVersion() {
		stale, err = hasStaleRuns(ctx, r)
		if err != nil {
			r.Close()
			return nil, classify(path, err)
		}
	}
	if version < SchemaVersion() || stale {
		rw, werr := Open(ctx, path)
		if werr == nil {
			rw.Close()
		} else if version < SchemaVersion() {
			r.Close()
			if version == 0 {
				return nil, fmt.Errorf("%s is not a behavediff trace database yet (record a run first)", path)
			}
			return nil, fmt.Errorf("trace database %s has schema version %d and needs an upgrade to %d, which failed: %v", path, version, SchemaVersion(), werr)
		}
	}
	if size <= quickCheckMaxBytes {
		if err := quickCheck(ctx, r, path); err != nil {
			r.Close()
			return nil, err
		}
	}
	if err := probe(ctx, r, path); err != nil {
		r.Close()
		return nil, err
	}
	return &DB{path: abs, r: r}, nil
}

// inspect decides whether the file is ours (or empty) and returns its schema
// version. It reads the header pragmas and sqlite_master, which also catches
// a file whose first page is damaged.
func inspect(ctx context.Context, db *sql.DB, path string) (int, error) {
	var appID, version int
	if err := db.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return 0, classify(path, err)
	}
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return 0, classify(path, err)
	}
	rows, err := db.QueryContext(ctx, "SELECT name FROM sqlite_master WHERE type IN ('table','view') AND name NOT LIKE 'sqlite_%' ORDER BY name")
	if err != nil {
		return 0, classify(path, err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return 0, classify(path, err)
		}
		tables = append(tables, n)
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return 0, classify(path, err)
	}
	rows.Close()
	switch {
	case appID == applicationID:
	case appID == 0 && len(tables) == 0 && version == 0:
		return 0, nil // a fresh or empty SQLite file: ours to initialise
	default:
		shown := tables
		if len(shown) > 5 {
			shown = append(shown[:5:5], "...")
		}
		return 0, fmt.Errorf("%s is not a behavediff trace database: it is a SQLite database of another application (tables: %s); refusing to modify it", path, strings.Join(shown, ", "))
	}
	if version > SchemaVersion() {
		return 0, fmt.Errorf("trace database %s has schema version %d, newer than this behavediff understands (%d): upgrade behavediff or use another --db", path, version, SchemaVersion())
	}
	return version, nil
}

func quickCheck(ctx context.Context, db *sql.DB, path string) error {
	var res string
	if err := db.QueryRowContext(ctx, "PRAGMA quick_check(1)").Scan(&res); err != nil {
		return classify(path, err)
	}
	if res != "ok" {
		return fmt.Errorf("trace database %s is corrupt (%s); move it aside and record again", path, res)
	}
	return nil
}

// probeQueries touch the root and rightmost pages of the main tables, each
// in its primary key's order: one descent per table, never a scan (ordering
// _str by id alone, which is not its key's prefix, scanned and sorted the
// whole table, ~0.1 s per open at 1M events).
var probeQueries = []string{
	"SELECT count(*) FROM (SELECT id FROM _run ORDER BY id DESC LIMIT 1)",
	"SELECT count(*) FROM (SELECT run_id FROM _file ORDER BY run_id DESC, seq DESC LIMIT 1)",
	"SELECT count(*) FROM (SELECT id FROM _str ORDER BY run_id DESC, id DESC LIMIT 1)",
}

// probe is cheap, and enough to notice a truncated or overwritten file that
// quick_check skipped.
func probe(ctx context.Context, db *sql.DB, path string) error {
	for _, q := range probeQueries {
		var n int
		if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
			return classify(path, err)
		}
	}
	return nil
}

// migrate applies the missing migrations, each in one IMMEDIATE transaction
// (so concurrent openers serialise and the loser sees the new version).
func migrate(ctx context.Context, db *sql.DB, path string) error {
	for {
		done, err := migrateOne(ctx, db)
		if err != nil {
			return fmt.Errorf("open trace db %s: migrate schema: %w", path, classify(path, err))
		}
		if done {
			return nil
		}
	}
}

func migrateOne(ctx context.Context, db *sql.DB) (done bool, err error) {
	tx, err := db.BeginTx(ctx, nil) // _txlock=immediate
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return false, err
	}
	if version >= len(migrations) {
		return true, nil
	}
	if _, err := tx.ExecContext(ctx, migrations[version]); err != nil {
		return false, fmt.Errorf("version %d: %w", version+1, err)
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id=%d", applicationID)); err != nil {
		return false, err
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version=%d", version+1)); err != nil {
		return false, err
	}
	return false, tx.Commit()
}
