package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/behavediff/behavediff/diff"
	"github.com/behavediff/behavediff/htmlreport"
	"github.com/behavediff/behavediff/report"
)

const reportAbout = `
Writes one self-contained HTML page about a run: the findings of its newest
check with the events behind each, the process tree (collapsible) with a
timeline of exec, file, network and privilege events per process, every
distinct behaviour (paged and filterable), workspace changes, a syscall
histogram, and the run's metadata and limits. The page fetches nothing: open
it from disk or a CI artifact. For huge runs it holds aggregates under caps
it states (at most 20,000 distinct behaviours; a few MB).

RUN is a run id, a spec name (its newest run) or "last".

Example:
  behavediff report build -o report.html`

func (a *app) htmlReport(ctx context.Context, args []string) (int, error) {
	fs := a.newFlags("report", "RUN|NAME -o FILE", reportAbout)
	dbFlag := fs.String("db", "", "trace database `file` (default .behavediff/traces.db in the project)")
	out := fs.String("o", "", "output `file` (.html)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return exitUsage, err
	}
	if len(pos) != 1 || *out == "" {
		return exitUsage, usageError("report wants one RUN and -o FILE")
	}
	db, id, err := openRun(ctx, *dbFlag, pos[0])
	if err != nil {
		return exitUsage, err
	}
	defer db.Close()
	if err := htmlreport.WriteFile(ctx, db, id, *out, "behavediff "+versionString()); err != nil {
		return exitUsage, err
	}
	fmt.Fprintf(a.stderr, "report: wrote %s\n", *out)
	return exitOK, nil
}

// reportDir is check's --report DIR.
type reportDir struct{ dir string }

func (r *reportDir) register(fs *flag.FlagSet) {
	fs.StringVar(&r.dir, "report", "", "write an HTML report per failing or undecided spec to `DIR`/NAME.html")
}

// write renders the page of each spec that did not pass and has a run.
func (r *reportDir) write(ctx context.Context, a *app, dbFlag string, d report.Document) error {
	if r.dir == "" {
		return nil
	}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return fmt.Errorf("--report: %w", err)
	}
	db, err := openRO(ctx, dbFlag)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, s := range d.Specs {
		if s.Status == diff.StatusPass || s.RunID == 0 {
			continue
		}
		p := filepath.Join(r.dir, s.Name+".html")
		if err := htmlreport.WriteFile(ctx, db, s.RunID, p, "behavediff "+versionString()); err != nil {
			return err
		}
		fmt.Fprintf(a.stderr, "check: report of %s: %s\n", s.Name, p)
	}
	return nil
}
