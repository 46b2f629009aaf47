package main

import (
	"context"
	"time"

	"flag"
	"strings"

	"github.com/behavediff/behavediff/diff"
	"github.com/behavediff/behavediff/report"
	"github.com/behavediff/behavediff/snapshot"
)

// reportOutputs are the report flags of check and diff: the terminal's
// format, extra files in other formats, and the CI job summary.
type reportOutputs struct {
	format  report.Format
	outputs []report.Output
	summary string
}

func (o *reportOutputs) register(fs *flag.FlagSet) {
	fs.Func("output", "also write the report to a file, as `FORMAT=FILE` (text, json, sarif, junit, markdown; "+
		"repeatable; FILE alone picks the format from .json .sarif .xml .md .txt)", func(s string) error {
		out, err := report.ParseOutput(s)
		if err != nil {
			return err
		}
		o.outputs = append(o.outputs, out)
		return nil
	})
	fs.StringVar(&o.summary, "summary-file", "", "append a Markdown summary to `FILE` (e.g. \"$GITHUB_STEP_SUMMARY\")")
}

func (o *reportOutputs) validate(format string) error {
	f, err := report.ParseFormat(format)
	if err != nil {
		return usageError("unknown --format %q (want text, json, sarif, junit or markdown)", format)
	}
	o.format = f
	return nil
}

// emit renders r to stdout in --format, then to every --output file and
// the summary file. Every output is attempted; the first error is returned.
func (a *app) emit(o reportOutputs, command string, failOn diff.Level, r diff.Report) (report.Document, error) {
	opts := report.Options{Command: command, Version: versionString(), FailOn: failOn}
	if p, err := project(); err == nil {
		opts.Root = p.Root
		opts.SpecPath = func(n string) string { return specPathOf(p, n) }
		opts.BaselinePath = func(n string) string { return baselinePathOf(p, n) }
	}
	d := report.Build(r, opts)
	first := a.writeTerminal(o.format, d)
	for _, out := range o.outputs {
		if err := report.WriteFile(out.Path, out.Format, d); err != nil && first == nil {
			first = err
		}
	}
	if o.summary != "" {
		if err := report.AppendFile(o.summary, d); err != nil && first == nil {
			first = err
		}
	}
	return d, first
}

// specPathOf and baselinePathOf are "" for names that are not spec names
// (diff's "run 3"); diff --baseline NAME reports as "baseline NAME".
func specPathOf(p snapshot.Project, name string) string {
	name = strings.TrimPrefix(name, "baseline ")
	if snapshot.ValidName(name) != nil {
		return ""
	}
	return p.SpecPath(name)
}

func baselinePathOf(p snapshot.Project, name string) string {
	name = strings.TrimPrefix(name, "baseline ")
	if snapshot.ValidName(name) != nil {
		return ""
	}
	return p.BaselinePath(name)
}

// storeChecks keeps the check's verdicts and findings in the trace
// database (views checks and findings).
func (a *app) storeChecks(ctx context.Context, dbFlag string, d report.Document) error {
	db, err := openRW(ctx, dbFlag)
	if err != nil {
		return err
	}
	defer db.Close()
	_, err = db.AddChecks(ctx, report.Checks(d, time.Now()))
	return err
}
