package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/behavediff/behavediff/diff"
	"github.com/behavediff/behavediff/report"
	"github.com/behavediff/behavediff/snapshot"
)

// reportFlags are the output flags shared by diff and check.
type reportFlags struct {
	format, failOn string
	verbose        bool
	fail           snapshot.FailOn
	out            reportOutputs
}

func (r *reportFlags) register(fs *flag.FlagSet, defFailOn string) {
	fs.StringVar(&r.format, "format", "text", "output `format`: text, json, sarif, junit or markdown (docs/report.md)")
	r.out.register(fs)
	fs.StringVar(&r.failOn, "fail-on", defFailOn, "fail on differences at or above this `level` (low, medium, high, critical; info: any difference; none: never fail, only report)")
	fs.BoolVar(&r.verbose, "verbose", false, "also list informational differences")
}

// validate checks the flag values after parsing.
func (r *reportFlags) validate() error {
	f, err := snapshot.ParseFailOn(r.failOn)
	if err != nil {
		return err
	}
	r.fail = f
	return r.out.validate(r.format)
}

// writeReport prints r in --format (text in colour on a terminal) and
// writes every --output file and the --summary-file.
func (a *app) writeReport(rf reportFlags, command string, r diff.Report) (report.Document, error) {
	return a.emit(rf.out, command, rf.fail.Level, r)
}

// writeTerminal is the terminal side of emit: text goes through the
// colour path, the other formats as rendered.
func (a *app) writeTerminal(f report.Format, d report.Document) error {
	if f != report.Text {
		return report.Write(a.stdout, f, d)
	}
	var buf bytes.Buffer
	if err := report.Write(&buf, f, d); err != nil {
		return err
	}
	return a.writeText(buf.String())
}

// exitFor: 2 when any spec could not be decided, else 1 when any failed.
func exitFor(specs []diff.SpecResult) int {
	code := exitOK
	for _, s := range specs {
		switch s.Status {
		case diff.StatusError, diff.StatusNew, diff.StatusInconclusive, diff.StatusSkipped:
			return exitCheckErr
		case diff.StatusFail:
			code = exitFindings
		}
	}
	return code
}

// diffGCPercent is the GC target of a diff (the runtime's default is 100).
const diffGCPercent = 200

const diffAbout = `
Lists the behaviour differences between two runs, or between a baseline and
a run, each with a risk level and a reason (docs/risk.md). Both sides are
normalised first (docs/normalisation.md), so pids, temp names, ports and
timings never show up as differences. A changed exit code is a difference.
--baseline refuses a run of another spec unless --any-spec.

Exit 0 when nothing is at or above --fail-on, 1 when something is, 2 when
the comparison could not be made.

Examples:
  behavediff diff 3 4
  behavediff diff --baseline build last
  behavediff diff --format json --fail-on high 3 last`

func (a *app) diff(ctx context.Context, args []string) (int, error) {
	fs := a.newFlags("diff", "RUN_A RUN_B | --baseline NAME RUN", diffAbout)
	dbFlag := fs.String("db", "", "trace database `file` (default .behavediff/traces.db in the project)")
	base := fs.String("baseline", "", "compare RUN with the baseline of spec `NAME`")
	anySpec := fs.Bool("any-spec", false, "with --baseline, compare a run of another spec anyway")
	var rf reportFlags
	cfg, cfgErr := a.config()
	rf.register(fs, cfg.FailOnOr("medium"))
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return exitUsage, err
	}
	if cfgErr != nil {
		return exitUsage, cfgErr
	}
	if err := rf.validate(); err != nil {
		return exitUsage, err
	}
	if (*base == "" && len(pos) != 2) || (*base != "" && len(pos) != 1) {
		return exitUsage, usageError("diff wants RUN_A RUN_B, or --baseline NAME RUN")
	}
	p, r, err := a.runner(*dbFlag, "", true)
	if err != nil {
		return exitUsage, err
	}
	o := snapshot.DiffOptions{FailOn: rf.fail, Verbose: rf.verbose, AnySpec: *anySpec, Config: cfg}
	// A diff reads two runs into a heap that only grows until it ends:
	// collecting at twice the live heap instead of at once more took ~10%
	// of its CPU off a diff of two 1M-event runs for ~15 MB. GOGC, when
	// set, still decides.
	if a.getenv == nil || a.getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(diffGCPercent))
	}
	var res diff.SpecResult
	if *base != "" {
		res, err = p.DiffBaseline(ctx, r, *base, pos[0], o)
	} else {
		res, err = snapshot.DiffRuns(ctx, r, pos[0], pos[1], o)
	}
	if err != nil {
		return exitUsage, err
	}
	if _, err := a.writeReport(rf, "diff", diff.Report{Specs: []diff.SpecResult{res}}); err != nil {
		return exitUsage, err
	}
	return exitFor([]diff.SpecResult{res}), nil
}

const checkAbout = `
Replays each named spec (all of .behavediff/specs/ when none are named) in a
fresh sandbox, compares the new run with its baseline and prints a
snapshot-test style report. A changed exit code (or a command that now
crashes or times out) is a high finding; a failing replay's stderr is shown.

Every failing spec leaves .behavediff/baselines/NAME.yaml.new, the baseline as
it would be if accepted (check never approves): review it with "behavediff
review", here or on the pending files copied from a CI artifact.

Exit 0 when nothing new is at or above --fail-on; 1 when something is (or,
with --unreferenced=fail, a baseline has no spec); 2 when a spec could not be
decided: no baseline yet, a run with lost events, an error; 130 when
interrupted (the specs not run are listed as skipped).`

func (a *app) check(ctx context.Context, args []string) (int, error) {
	fs := a.newFlags("check", "[--fail-on LEVEL] [--jobs N] [--enforce] [--format text|json] [NAME...]", checkAbout)
	dbFlag := fs.String("db", "", "trace database `file` (default .behavediff/traces.db in the project)")
	var rf reportFlags
	cfg, cfgErr := a.config()
	rf.register(fs, cfg.FailOnOr("medium"))
	address := fs.String("address", "", "containerd socket `path`; empty = behavediff's private daemon")
	jobs := fs.Int("jobs", 1, "replay up to `N` specs at once")
	var sh shardFlag
	sh.register(fs)
	var rd reportDir
	rd.register(fs)
	unref := fs.String("unreferenced", "warn", "baselines without a spec: `warn` or fail")
	enforce := fs.Bool("enforce", false, "replay each spec under its approved baseline's policy: egress only to its endpoints, its syscalls only; blocked attempts are recorded denied and are findings")
	names, err := parseInterleaved(fs, args)
	if err != nil {
		return exitUsage, err
	}
	if cfgErr != nil {
		return exitUsage, cfgErr
	}
	if err := rf.validate(); err != nil {
		return exitUsage, err
	}
	if *jobs < 1 {
		return exitUsage, usageError("--jobs must be at least 1")
	}
	if *unref != "warn" && *unref != "fail" {
		return exitUsage, usageError("--unreferenced=%s: want warn or fail", *unref)
	}
	p, r, err := a.runner(*dbFlag, *address, true)
	if err != nil {
		return exitUsage, err
	}
	if *enforce {
		r.Options.Enforce = a.enforceApproved(p)
	}
	if len(names) == 0 {
		if names, err = p.SpecNames(); err != nil {
			return exitCheckErr, err
		}
		if len(names) == 0 {
			return exitCheckErr, fmt.Errorf("no specs in %s: record one with: behavediff record --name NAME -- CMD", p.SpecPath("NAME"))
		}
	}
	for _, n := range names {
		if !p.HasSpec(n) {
			msg := fmt.Sprintf("%v %q (looked for %s)", snapshot.ErrNoSpec, n, p.SpecPath(n))
			all, _ := p.SpecNames()
			if s := suggest(n, all); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			return exitCheckErr, errors.New(msg)
		}
	}
	names = sh.filter(a.stderr, names)
	prog := a.newProgress(len(names))
	report := p.Check(ctx, r, names, snapshot.CheckOptions{FailOn: rf.fail, Verbose: rf.verbose, Jobs: *jobs, Progress: prog.event, Config: cfg})
	prog.stop()
	if report.Unreferenced, err = p.Unreferenced(); err != nil {
		return exitCheckErr, err
	}
	d, err := a.writeReport(rf, "check", report)
	if err != nil {
		return exitUsage, err
	}
	// An interrupted check still keeps what it decided: the verdicts are
	// stored and the pages written after Ctrl-C, not abandoned with it.
	keep := context.WithoutCancel(ctx)
	if err := a.storeChecks(keep, *dbFlag, d); err != nil {
		return exitCheckErr, err
	}
	if err := rd.write(keep, a, *dbFlag, d); err != nil {
		return exitCheckErr, err
	}
	if report.Interrupted {
		var skipped []string
		for _, s := range report.Specs {
			if s.Status == diff.StatusSkipped {
				skipped = append(skipped, s.Name)
			}
		}
		fmt.Fprintf(a.stderr, "check: interrupted; not checked: %s\n", strings.Join(skipped, ", "))
		return exitInterrupted, nil
	}
	code := exitFor(report.Specs)
	if code == exitOK && *unref == "fail" && len(report.Unreferenced) > 0 {
		code = exitFindings
	}
	return code, nil
}

// progress shows which specs are replaying and for how long: a live line
// on a terminal, one line per start and end otherwise.
type progress struct {
	w       io.Writer
	live    bool
	total   int
	mu      sync.Mutex
	done    int
	running map[string]time.Time
	quit    chan struct{}
	wg      sync.WaitGroup
}

func (a *app) newProgress(total int) *progress {
	pr := &progress{w: a.stderr, live: isTerminal(a.stderr), total: total, running: map[string]time.Time{}, quit: make(chan struct{})}
	if pr.live {
		pr.wg.Add(1)
		go func() {
			defer pr.wg.Done()
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				select {
				case <-pr.quit:
					return
				case <-t.C:
					pr.mu.Lock()
					pr.redraw()
					pr.mu.Unlock()
				}
			}
		}()
	}
	return pr
}

func (pr *progress) event(ev snapshot.CheckEvent) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if ev.Result == nil {
		pr.running[ev.Name] = time.Now()
		if !pr.live {
			fmt.Fprintf(pr.w, "check: [%d/%d] replaying %s\n", ev.Index+1, ev.Total, ev.Name)
		}
	} else {
		delete(pr.running, ev.Name)
		pr.done++
		line := fmt.Sprintf("check: [%d/%d] %s %s in %s", ev.Index+1, ev.Total, ev.Name, ev.Result.Status, (time.Duration(ev.Result.DurationMS) * time.Millisecond).Round(100*time.Millisecond))
		if pr.live {
			fmt.Fprintf(pr.w, "\r\x1b[K%s\n", line)
		} else {
			fmt.Fprintln(pr.w, line)
		}
	}
	pr.redraw()
}

// redraw rewrites the live line (callers hold mu).
func (pr *progress) redraw() {
	if !pr.live || len(pr.running) == 0 {
		return
	}
	var parts []string
	for n, t := range pr.running {
		parts = append(parts, fmt.Sprintf("%s %s", n, time.Since(t).Round(time.Second)))
	}
	sort.Strings(parts)
	fmt.Fprintf(pr.w, "\r\x1b[Kcheck: %d/%d done; replaying %s", pr.done, pr.total, strings.Join(parts, ", "))
}

func (pr *progress) stop() {
	close(pr.quit)
	pr.wg.Wait()
	if pr.live {
		fmt.Fprint(pr.w, "\r\x1b[K")
	}
}
