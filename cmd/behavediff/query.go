package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/behavediff/behavediff/internal/queryfmt"
)

const queryAbout = `
Runs one read-only SQL statement against the trace database. The public
views are documented in docs/schema.md: runs, processes, file_events,
net_events, fs_changes, syscalls, priv_events, lost_events.
Write statements (INSERT, UPDATE, DELETE, DDL, ATTACH, ...) are refused.

Examples:
  behavediff query "SELECT op, path, error FROM file_events WHERE run_id = 3 AND result < 0"
  behavediff query --format json "SELECT * FROM net_events WHERE op = 'dns'"
  behavediff query --format csv "SELECT name, sum(count) FROM syscalls GROUP BY name"
  behavediff query -f suspicious.sql
  echo "SELECT count(*) FROM runs" | behavediff query -`

func (a *app) query(ctx context.Context, args []string) (int, error) {
	fs := a.newFlags("query", "[--db FILE] [--format table|json|csv] SQL | -f FILE | -", queryAbout)
	dbFlag := fs.String("db", "", "trace database `file` (default .behavediff/traces.db in the project)")
	format := fs.String("format", "table", "output `format`: table, json or csv")
	file := fs.String("f", "", "read the SQL from `FILE` (- for stdin)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return exitUsage, err
	}
	src := "" // where the SQL comes from, when not an argument
	switch {
	case *file != "" && len(pos) > 0:
		return exitUsage, usageError("query: give the SQL as an argument or with -f, not both")
	case *file != "":
		src = *file
	case len(pos) == 1 && pos[0] == "-":
		src = "-"
	case len(pos) != 1:
		return exitUsage, usageError("query wants exactly one SQL argument (quote it), -f FILE, or - for stdin; got %d arguments", len(pos))
	}
	if src != "" {
		sql, err := a.readSQL(src)
		if err != nil {
			return exitUsage, err
		}
		pos = []string{sql}
	}
	switch *format {
	case "table", "json", "csv":
	default:
		return exitUsage, usageError("unknown --format %q (want table, json or csv)", *format)
	}
	db, err := openRO(ctx, *dbFlag)
	if err != nil {
		return exitUsage, err
	}
	defer db.Close()
	res, err := db.Query(ctx, pos[0])
	if err != nil {
		return exitUsage, err
	}
	switch *format {
	case "json":
		err = queryfmt.JSON(a.stdout, res)
	case "csv":
		err = queryfmt.CSV(a.stdout, res)
	default:
		err = queryfmt.Table(a.stdout, res)
	}
	return exitOK, err
}

// readSQL reads a query from a file, or from stdin for "-".
func (a *app) readSQL(name string) (string, error) {
	var b []byte
	var err error
	if name == "-" {
		b, err = io.ReadAll(io.LimitReader(a.stdin, 1<<20))
	} else {
		b, err = os.ReadFile(name)
	}
	if err != nil {
		return "", fmt.Errorf("read SQL: %w", err)
	}
	sql := strings.TrimSpace(string(b))
	if sql == "" {
		return "", fmt.Errorf("read SQL from %s: it is empty", name)
	}
	return sql, nil
}
