package export

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/behavediff/behavediff/store"
)

// Format is an export file format.
type Format string

// Formats.
const (
	Parquet Format = "parquet"
	JSONL   Format = "jsonl"
)

// ErrFormat is returned for an unknown format.
var ErrFormat = errors.New("unknown export format")

// ParseFormat reads a format name.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case Parquet, JSONL:
		return f, nil
	}
	return "", fmt.Errorf("%w %q (want parquet or jsonl)", ErrFormat, s)
}

func (f Format) ext() string {
	if f == JSONL {
		return ".jsonl"
	}
	return ".parquet"
}

// Options say what to export where.
type Options struct {
	Format Format
	Dir    string
	Runs   []int64 // nil: every run in the database
}

// Stats counts what was written.
type Stats struct {
	Files   int
	Rows    map[string]int64 // per view
	Escaped int64            // text values that were not UTF-8, written with \xNN escapes
}

// rowWriter is one open output file of one view.
type rowWriter interface {
	write(row []any, escaped *int64) error
	close() error // finishes the file (footer)
}

// Export writes each view's rows of each run to
// DIR/VIEW/date=YYYY-MM-DD/run=ID/VIEW.EXT (the run's start date, UTC).
// Checks and findings go with the run they judged; those of specs that were
// never replayed go to run=0 under the date of the check. A view with no
// rows for a run gets no file. Files are written to a temporary name and
// renamed, so a reader never sees half a file; re-exporting a run replaces
// its files.
func Export(ctx context.Context, db *store.DB, o Options) (Stats, error) {
	st := Stats{Rows: map[string]int64{}}
	if _, err := ParseFormat(string(o.Format)); err != nil {
		return st, err
	}
	runs, err := runDates(ctx, db, o.Runs)
	if err != nil {
		return st, err
	}
	for _, r := range runs {
		for _, v := range Views {
			q := fmt.Sprintf("SELECT * FROM %s WHERE %s = ?", v.Name, v.runColumn())
			if err := exportPart(ctx, db, o, v, r.date, r.id, q, []any{r.id}, &st); err != nil {
				return st, err
			}
		}
	}
	if o.Runs == nil {
		// Checks without a run, by the date of the check.
		var dates []string
		err := db.QueryEach(ctx, "SELECT DISTINCT date(checked_ns / 1000000000, 'unixepoch') FROM checks WHERE run_id IS NULL",
			nil, func(_ []string, row []any) error {
				dates = append(dates, row[0].(string))
				return nil
			})
		if err != nil {
			return st, err
		}
		for _, d := range dates {
			for _, v := range Views {
				if v.Name != "checks" && v.Name != "findings" {
					continue
				}
				q := fmt.Sprintf("SELECT * FROM %s WHERE run_id IS NULL AND date(%s / 1000000000, 'unixepoch') = ?", v.Name,
					map[string]string{"checks": "checked_ns", "findings": "(SELECT checked_ns FROM checks c WHERE c.id = check_id)"}[v.Name])
				if err := exportPart(ctx, db, o, v, d, 0, q, []any{d}, &st); err != nil {
					return st, err
				}
			}
		}
	}
	return st, nil
}

type runDate struct {
	id   int64
	date string
}

func runDates(ctx context.Context, db *store.DB, only []int64) ([]runDate, error) {
	want := map[int64]bool{}
	for _, id := range only {
		want[id] = true
	}
	var out []runDate
	err := db.QueryEach(ctx, "SELECT id, started_ns FROM runs ORDER BY id", nil, func(_ []string, row []any) error {
		id := row[0].(int64)
		if only != nil && !want[id] {
			return nil
		}
		delete(want, id)
		out = append(out, runDate{id: id, date: time.Unix(0, row[1].(int64)).UTC().Format("2006-01-02")})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("export: list runs: %w", err)
	}
	for id := range want {
		return nil, fmt.Errorf("export: no run %d (see behavediff runs)", id)
	}
	return out, nil
}

// exportPart streams one query's rows into one file; no rows, no file.
func exportPart(ctx context.Context, db *store.DB, o Options, v View, date string, run int64, q string, args []any, st *Stats) (err error) {
	dir := filepath.Join(o.Dir, v.Name, "date="+date, fmt.Sprintf("run=%d", run))
	path := filepath.Join(dir, v.Name+o.Format.ext())
	var (
		f  *os.File
		w  rowWriter
		n  int64
		ok bool
	)
	defer func() {
		if f != nil && !ok {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	err = db.QueryEach(ctx, q, args, func(cols []string, row []any) error {
		if w == nil {
			if err := checkColumns(v, cols); err != nil {
				return err
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			var err error
			if f, err = os.CreateTemp(dir, "."+v.Name+".*"); err != nil {
				return err
			}
			if w, err = newWriter(o.Format, f, v); err != nil {
				return err
			}
		}
		n++
		return w.write(row, &st.Escaped)
	})
	if err != nil {
		return fmt.Errorf("export %s of run %d: %w", v.Name, run, err)
	}
	if w == nil {
		return nil
	}
	if err := w.close(); err != nil {
		return fmt.Errorf("export %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("export %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("export %s: %w", path, err)
	}
	ok = true
	st.Files++
	st.Rows[v.Name] += n
	return nil
}

// checkColumns refuses to export a view whose columns are not the ones the
// export schema documents (a newer database than this behavediff).
func checkColumns(v View, cols []string) error {
	if len(cols) != len(v.Columns) {
		return fmt.Errorf("view %s has %d columns, the export schema %d: export with the behavediff that wrote the database", v.Name, len(cols), len(v.Columns))
	}
	for i, c := range cols {
		if c != v.Columns[i].Name {
			return fmt.Errorf("view %s column %d is %s, the export schema says %s", v.Name, i, c, v.Columns[i].Name)
		}
	}
	return nil
}

func newWriter(f Format, out *os.File, v View) (rowWriter, error) {
	if f == JSONL {
		return newJSONLWriter(out, v), nil
	}
	return newParquetWriter(out, v)
}

// convert makes a SQLite value fit the column's type. Text that is not
// UTF-8 (Linux paths are bytes) has each invalid byte written as \xNN:
// Parquet STRING and JSON must be UTF-8, and engines reject or silently
// replace anything else. *escaped counts such values, so the loss of
// exactness is reported, never silent.
func convert(t Type, v any, escaped *int64) (any, error) {
	switch t {
	case Integer:
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			return int64(x), nil
		}
	case Text:
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case []byte:
			s = string(x)
		case int64:
			return fmt.Sprint(x), nil
		default:
			return nil, fmt.Errorf("value %T does not fit a %s column", v, t)
		}
		if !utf8.ValidString(s) {
			*escaped++
			s = escapeInvalid(s)
		}
		return s, nil
	case Blob:
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return []byte(x), nil
		}
	case Real:
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64:
			return float64(x), nil
		}
	}
	return nil, fmt.Errorf("value %T does not fit a %s column", v, t)
}

// escapeInvalid writes each byte that is not part of valid UTF-8 as \xNN.
func escapeInvalid(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			fmt.Fprintf(&b, "\\x%02x", s[i])
			i++
			continue
		}
		b.WriteString(s[i : i+n])
		i += n
	}
	return b.String()
}
