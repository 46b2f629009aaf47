package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// ErrMergeSchema is returned when a database to merge has another schema
// version than this build's, or is not a trace database.
var ErrMergeSchema = errors.New("cannot merge trace database")

// MergeStats says what a merge copied from one input.
type MergeStats struct {
	Source string
	Runs   int   // runs copied
	Offset int64 // their new id = old id + Offset
	Checks int
}

// Merge copies every run of each input database, with all its rows, into
// db. Run ids are renumbered (old id + an offset above db's highest id, so
// their order is kept); replay links, checks and findings follow their run;
// each copied run's origin (source file and id there) is kept in view
// run_origins — for a run that was itself merged before, its first origin.
// Each input is copied in one transaction: all of it or nothing.
//
// The copy is generic over the storage tables: every table with a run_id
// column is copied with the id remapped, so tables added by later schema
// versions are merged without code here; a storage table merge cannot place
// is an error, never a silent loss.
func (db *DB) Merge(ctx context.Context, inputs ...string) ([]MergeStats, error) {
	if db.w == nil {
		return nil, fmt.Errorf("merge: trace database %s is open read-only", db.path)
	}
	var out []MergeStats
	for _, in := range inputs {
		st, err := db.mergeOne(ctx, in)
		if err != nil {
			return out, fmt.Errorf("merge %s: %w", in, err)
		}
		out = append(out, st)
	}
	return out, nil
}

func (db *DB) mergeOne(ctx context.Context, in string) (MergeStats, error) {
	st := MergeStats{Source: in}
	abs, err := filepath.Abs(in)
	if err != nil {
		return st, err
	}
	if abs == db.path {
		return st, fmt.Errorf("%w: it is the output database", ErrMergeSchema)
	}
	if _, _, err := checkHeader(abs); err != nil {
		return st, err
	}
	conn, err := db.w.Conn(ctx)
	if err != nil {
		return st, err
	}
	defer conn.Close()
	u := strings.ReplaceAll((&url.URL{Path: abs}).EscapedPath(), "?", "%3F")
	if _, err := conn.ExecContext(ctx, "ATTACH DATABASE ? AS src", "file:"+u+"?mode=ro"); err != nil {
		return st, fmt.Errorf("attach: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), "DETACH DATABASE src")

	var app, version int
	if err := conn.QueryRowContext(ctx, "PRAGMA src.application_id").Scan(&app); err != nil {
		return st, err
	}
	if err := conn.QueryRowContext(ctx, "PRAGMA src.user_version").Scan(&version); err != nil {
		return st, err
	}
	if app != applicationID {
		return st, fmt.Errorf("%w: not a behavediff trace database", ErrMergeSchema)
	}
	if version != SchemaVersion() {
		return st, fmt.Errorf("%w: schema version %d, this behavediff writes %d (open it once with this behavediff, e.g. behavediff runs --db %s, to upgrade it)",
			ErrMergeSchema, version, SchemaVersion(), in)
	}
	plan, err := mergePlan(ctx, conn)
	if err != nil {
		return st, err
	}

	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return st, err
	}
	done := false
	defer func() {
		if !done {
			conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	var runOff, checkOff int64
	if err := conn.QueryRowContext(ctx, `SELECT max(coalesce((SELECT max(id) FROM main._run), 0),
		coalesce((SELECT seq FROM main.sqlite_sequence WHERE name = '_run'), 0))`).Scan(&runOff); err != nil {
		return st, err
	}
	if err := conn.QueryRowContext(ctx, `SELECT max(coalesce((SELECT max(id) FROM main._check), 0),
		coalesce((SELECT seq FROM main.sqlite_sequence WHERE name = '_check'), 0))`).Scan(&checkOff); err != nil {
		return st, err
	}
	st.Offset = runOff
	for _, t := range plan {
		q := t.insert(runOff, checkOff)
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return st, fmt.Errorf("copy %s: %w", t.name, err)
		}
	}
	// Origins: runs merged before keep theirs (copied above, remapped); the
	// others came from this input.
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`INSERT INTO main._origin (run_id, source, source_run_id)
		SELECT r.id + %d, ?, r.id FROM src._run r WHERE r.id NOT IN (SELECT run_id FROM src._origin)`, runOff), in); err != nil {
		return st, fmt.Errorf("record origins: %w", err)
	}
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM src._run").Scan(&st.Runs); err != nil {
		return st, err
	}
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM src._check").Scan(&st.Checks); err != nil {
		return st, err
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return st, err
	}
	done = true
	return st, nil
}

// tableCopy is how one storage table is copied.
type tableCopy struct {
	name string
	cols []string // copied columns
	expr []string // what is inserted for each
}

func (t tableCopy) insert(runOff, checkOff int64) string {
	expr := make([]string, len(t.expr))
	for i, e := range t.expr {
		e = strings.ReplaceAll(e, "$RUN", fmt.Sprint(runOff))
		expr[i] = strings.ReplaceAll(e, "$CHECK", fmt.Sprint(checkOff))
	}
	return fmt.Sprintf("INSERT INTO main.%s (%s) SELECT %s FROM src.%s", t.name,
		strings.Join(t.cols, ", "), strings.Join(expr, ", "), t.name)
}

// mergePlan lists the input's storage tables in an order that satisfies
// foreign keys (_run first, then tables pointing at runs, _finding after
// _check), with each column's remapping.
func mergePlan(ctx context.Context, conn *sql.Conn) ([]tableCopy, error) {
	rows, err := conn.QueryContext(ctx, "SELECT name FROM src.sqlite_master WHERE type = 'table' AND name LIKE '\\_%' ESCAPE '\\' ORDER BY name")
	if err != nil {
		return nil, err
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		names = append(names, n)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	order := map[string]int{"_run": 0, "_check": 2, "_finding": 3}
	var plan []tableCopy
	for _, n := range names {
		t, err := planTable(ctx, conn, n)
		if err != nil {
			return nil, err
		}
		if t != nil {
			plan = append(plan, *t)
		}
	}
	rank := func(n string) int {
		if r, ok := order[n]; ok {
			return r
		}
		return 1
	}
	for i := 1; i < len(plan); i++ { // insertion sort by rank, stable
		for j := i; j > 0 && rank(plan[j].name) < rank(plan[j-1].name); j-- {
			plan[j], plan[j-1] = plan[j-1], plan[j]
		}
	}
	return plan, nil
}

func planTable(ctx context.Context, conn *sql.Conn, name string) (*tableCopy, error) {
	rows, err := conn.QueryContext(ctx, "SELECT name, pk FROM pragma_table_info(?, 'src')", name)
	if err != nil {
		return nil, err
	}
	type col struct {
		name string
		pk   int
	}
	var cols []col
	npk := 0
	for rows.Next() {
		var c col
		if err := rows.Scan(&c.name, &c.pk); err != nil {
			rows.Close()
			return nil, err
		}
		if c.pk > 0 {
			npk++
		}
		cols = append(cols, c)
	}
	rows.Close()
	t := &tableCopy{name: name}
	hasRun := false
	for _, c := range cols {
		e := c.name
		switch {
		case name == "_run" && c.name == "id", name == "_run" && c.name == "replay_of", c.name == "run_id":
			e, hasRun = c.name+" + $RUN", true
		case name == "_check" && c.name == "id", name == "_finding" && c.name == "check_id":
			e = c.name + " + $CHECK"
		case c.name == "id" && c.pk == 1 && npk == 1:
			continue // a rowid of its own: the copy gets a new one
		}
		t.cols = append(t.cols, c.name)
		t.expr = append(t.expr, e)
	}
	if name == "_finding" {
		return t, nil
	}
	if !hasRun {
		var n int
		if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM src."+quoteIdent(name)).Scan(&n); err != nil {
			return nil, err
		}
		if n > 0 {
			return nil, fmt.Errorf("%w: table %s has %d rows and no run_id; this behavediff does not know how to merge it", ErrMergeSchema, name, n)
		}
		return nil, nil
	}
	return t, nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
