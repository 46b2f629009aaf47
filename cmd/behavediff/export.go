package main

import (
	"context"
	"fmt"
	"sort"

	"github.com/behavediff/behavediff/export"
)

const exportAbout = `
Writes the documented views (runs, processes, file_events, net_events,
priv_events, syscalls, fs_changes, lost_events, checks, findings) as files
that DuckDB, ClickHouse, BigQuery or Spark read directly: one file per view
and run, in Hive partitions DIR/VIEW/date=YYYY-MM-DD/run=ID/VIEW.EXT.
Rows are streamed, so a run of millions of events exports in bounded
memory. RUN is a run id, a spec name (its newest run) or "last"; without
RUN every run is exported. The columns and how to load them: docs/export.md.

Examples:
  behavediff export --format parquet --out warehouse/
  behavediff export --format jsonl --out /tmp/x last`

func (a *app) export(ctx context.Context, args []string) (int, error) {
	fs := a.newFlags("export", "--format parquet|jsonl --out DIR [RUN...]", exportAbout)
	dbFlag := fs.String("db", "", "trace database `file` (default .behavediff/traces.db in the project)")
	format := fs.String("format", "parquet", "file `format`: parquet or jsonl")
	out := fs.String("out", "", "output `directory` (created if missing)")
	refs, err := parseInterleaved(fs, args)
	if err != nil {
		return exitUsage, err
	}
	f, err := export.ParseFormat(*format)
	if err != nil {
		return exitUsage, usageError("unknown --format %q (want parquet or jsonl)", *format)
	}
	if *out == "" {
		return exitUsage, usageError("export wants --out DIR")
	}
	db, err := openRO(ctx, *dbFlag)
	if err != nil {
		return exitUsage, err
	}
	defer db.Close()
	o := export.Options{Format: f, Dir: *out}
	for _, ref := range refs {
		id, err := db.ResolveRun(ctx, ref)
		if err != nil {
			return exitUsage, err
		}
		o.Runs = append(o.Runs, id)
	}
	st, err := export.Export(ctx, db, o)
	if err != nil {
		return exitUsage, err
	}
	views := make([]string, 0, len(st.Rows))
	for v := range st.Rows {
		views = append(views, v)
	}
	sort.Strings(views)
	for _, v := range views {
		fmt.Fprintf(a.stderr, "export: %-12s %d rows\n", v, st.Rows[v])
	}
	if st.Escaped > 0 {
		fmt.Fprintf(a.stderr, "export: %d text values were not UTF-8: their invalid bytes are written as \\xNN (docs/export.md)\n", st.Escaped)
	}
	fmt.Fprintf(a.stderr, "export: %d files in %s\n", st.Files, *out)
	return exitOK, nil
}
