package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/behavediff/behavediff/baseline"
	"github.com/behavediff/behavediff/diff"
	"github.com/behavediff/behavediff/replay"
	"github.com/behavediff/behavediff/store"
)

const approveAbout = `
Turns a run into the reviewed baseline .behavediff/baselines/NAME.yaml, the
snapshot that check compares every later replay with. It first shows what
changes against the current baseline. REF is a spec name (its newest run, or
a fresh replay when it has none), a run id, or "last".

--runs N replays the spec N times and approves their union; behaviour seen in
only some of the runs is marked optional, so a flaky path does not fail CI.
The baseline's own allow: and redact: sections are kept.

Without --yes, approve asks on a terminal and refuses otherwise.`

func (a *app) approve(ctx context.Context, args []string) (int, error) {
	fs := a.newFlags("approve", "[--yes] [--runs N] [--name NAME] REF", approveAbout)
	dbFlag := fs.String("db", "", "trace database `file` (default .behavediff/traces.db in the project)")
	yes := fs.Bool("yes", false, "write without asking")
	runs := fs.Int("runs", 0, "replay the spec `N` times and approve the union (0: use the newest run)")
	name := fs.String("name", "", "baseline `name` (default: the run's spec name)")
	counts := fs.Bool("counts", false, "keep order-of-magnitude syscall counts in a new baseline")
	address := fs.String("address", "", "containerd socket `path` for --runs replays")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return exitUsage, err
	}
	if len(pos) != 1 {
		return exitUsage, usageError("approve wants one REF (a spec name, a run id or \"last\")")
	}
	if *runs < 0 {
		return exitUsage, usageError("--runs must be positive")
	}
	p, err := project()
	if err != nil {
		return exitUsage, err
	}
	ref := pos[0]
	_, specErr := os.Stat(p.SpecPath(ref))
	isSpec := replay.ValidName(ref) == nil && specErr == nil

	bname := *name
	if bname == "" && isSpec {
		bname = ref
	}
	var runIDs []int64
	if *runs > 0 {
		if !isSpec {
			return exitUsage, fmt.Errorf("--runs needs a spec name; %q has no %s", ref, p.SpecPath(ref))
		}
		spec, err := p.LoadSpec(ref)
		if err != nil {
			return exitUsage, err
		}
		for i := 0; i < *runs; i++ {
			fmt.Fprintf(a.stderr, "approve: replaying %s (%d/%d)\n", ref, i+1, *runs)
			res, err := a.replaySpec(ctx, *dbFlag, spec, 0, *address, true)
			if err != nil {
				return exitUsage, err
			}
			runIDs = append(runIDs, res.RunID)
		}
	}

	db, err := openRW(ctx, *dbFlag)
	if err != nil {
		return exitUsage, err
	}
	defer db.Close()
	if len(runIDs) == 0 {
		id, err := db.ResolveRun(ctx, ref)
		if err != nil && isSpec {
			spec, lerr := p.LoadSpec(ref)
			if lerr != nil {
				return exitUsage, lerr
			}
			fmt.Fprintf(a.stderr, "approve: spec %s has no run yet; replaying it\n", ref)
			res, rerr := a.replaySpec(ctx, *dbFlag, spec, 0, *address, true)
			if rerr != nil {
				return exitUsage, rerr
			}
			id, err = res.RunID, nil
		}
		if err != nil {
			return exitUsage, err
		}
		runIDs = []int64{id}
	}

	var traces []*store.Trace
	for _, id := range runIDs {
		tr, err := db.LoadDistinct(ctx, id)
		if err != nil {
			return exitUsage, err
		}
		if tr.Run.Status != store.StatusOK {
			return exitUsage, fmt.Errorf("run %d is %s: only a complete run can be approved (record it again)", id, tr.Run.Status)
		}
		if bname == "" {
			bname = tr.Run.Name
		}
		traces = append(traces, tr)
	}
	if bname == "" {
		return exitUsage, fmt.Errorf("run %d has no spec name: pass --name NAME", runIDs[0])
	}
	if err := replay.ValidName(bname); err != nil {
		return exitUsage, err
	}
	path := p.BaselinePath(bname)
	old, err := loadBaselineIfAny(path)
	if err != nil {
		return exitUsage, err
	}
	opts := baseline.Options{Counts: *counts}
	if old != nil {
		opts = old.NormaliseOptions("", "")
	}
	var parts []*baseline.Baseline
	for _, tr := range traces {
		b, err := baseline.FromTrace(tr, opts)
		if err != nil {
			return exitUsage, fmt.Errorf("normalise run %d: %w", tr.Run.ID, err)
		}
		parts = append(parts, b)
	}
	nb := parts[0]
	if len(parts) > 1 {
		nb = baseline.Union(parts...)
	}
	nb.Name = bname
	nb.KeepUserSections(old)

	if old == nil {
		fmt.Fprintf(a.stdout, "New baseline %s from run %s:\n", path, joinIDs(runIDs))
		fmt.Fprintf(a.stdout, "  %d processes", len(nb.Processes))
		for _, sec := range nb.Sections() {
			if n := len(*sec.Entries); n > 0 {
				fmt.Fprintf(a.stdout, ", %d %s", n, sec.Name)
			}
		}
		fmt.Fprintln(a.stdout)
	} else {
		fs := diff.Compare(old, nb, diff.Context{})
		if len(fs) == 0 {
			fmt.Fprintf(a.stdout, "Baseline %s is unchanged by run %s.\n", path, joinIDs(runIDs))
		} else {
			fmt.Fprintf(a.stdout, "Approving run %s changes %s:\n", joinIDs(runIDs), path)
			for _, f := range fs {
				sign := "+"
				if f.Change == diff.Removed {
					sign = "-"
				}
				fmt.Fprintf(a.stdout, "  %s %-16s %s  [%s: %s]\n", sign, f.Section, f.Subject, f.Level, f.Kind)
			}
		}
	}
	if !*yes {
		ok, err := a.confirm(fmt.Sprintf("Write %s?", path))
		if err != nil {
			return exitUsage, err
		}
		if !ok {
			fmt.Fprintln(a.stderr, "approve: nothing written")
			return exitCheckErr, nil
		}
	}
	if err := nb.Save(path); err != nil {
		return exitUsage, fmt.Errorf("write baseline %s: %w", path, err)
	}
	os.Remove(path + ".new") // a pending baseline is settled by approving
	fmt.Fprintf(a.stderr, "approve: wrote %s (review and commit it)\n", path)
	return exitOK, nil
}

func joinIDs(ids []int64) string {
	s := make([]string, len(ids))
	for i, id := range ids {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ", ")
}

// confirm asks on a terminal; without one it refuses, so a script or CI job
// can never approve by accident.
func (a *app) confirm(question string) (bool, error) {
	f, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return false, errors.New("not a terminal: pass --yes to write the baseline")
	}
	fmt.Fprintf(a.stderr, "%s [y/N] ", question)
	line, err := bufio.NewReader(f).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	ans := strings.ToLower(strings.TrimSpace(line))
	return ans == "y" || ans == "yes", nil
}

func loadBaselineIfAny(path string) (*baseline.Baseline, error) {
	b, err := baseline.Load(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

// reportFlags are the output flags shared by diff and check.
type reportFlags struct {
	format, failOn string
	verbose        bool
	level          diff.Level
	out            reportOutputs
}

func (r *reportFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.format, "format", "text", "output `format`: text, json, sarif, junit or markdown (docs/report.md)")
	r.out.register(fs)
	fs.StringVar(&r.failOn, "fail-on", "medium", "fail on differences at or above this `level` (none, low, medium, high, critical)")
	fs.BoolVar(&r.verbose, "verbose", false, "also list informational differences")
}

// validate checks the flag values after parsing.
func (r *reportFlags) validate() error {
	lvl, err := diff.ParseLevel(r.failOn)
	if err != nil {
		return err
	}
	r.level = lvl
	return r.out.validate(r.format)
}

// shown drops informational findings unless --verbose.
func (r *reportFlags) shown(fs []diff.Finding) []diff.Finding {
	if r.verbose {
		return fs
	}
	return diff.AtLeast(fs, diff.Low)
}

const diffAbout = `
Lists the behaviour differences between two runs, or between a baseline and
a run, each with a risk level and a reason (docs/risk.md). Both sides are
normalised first (docs/normalisation.md), so pids, temp names, ports and
timings never show up as differences.

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
	var rf reportFlags
	rf.register(fs)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return exitUsage, err
	}
	if err := rf.validate(); err != nil {
		return exitUsage, err
	}
	if (*base == "" && len(pos) != 2) || (*base != "" && len(pos) != 1) {
		return exitUsage, usageError("diff wants RUN_A RUN_B, or --baseline NAME RUN")
	}
	db, err := openRO(ctx, *dbFlag)
	if err != nil {
		return exitUsage, err
	}
	defer db.Close()
	load := func(ref string) (*store.Trace, error) {
		id, err := db.ResolveRun(ctx, ref)
		if err != nil {
			return nil, err
		}
		return db.LoadDistinct(ctx, id)
	}
	var old, cur *baseline.Baseline
	var res diff.SpecResult
	var dctx diff.Context
	if *base != "" {
		p, err := project()
		if err != nil {
			return exitUsage, err
		}
		if err := replay.ValidName(*base); err != nil {
			return exitUsage, err
		}
		old, err = baseline.Load(p.BaselinePath(*base))
		if err != nil {
			return exitUsage, fmt.Errorf("baseline %s: %w", *base, err)
		}
		tr, err := load(pos[0])
		if err != nil {
			return exitUsage, err
		}
		if cur, err = baseline.FromTrace(tr, old.NormaliseOptions("", "")); err != nil {
			return exitUsage, err
		}
		res.Name, res.RunID, dctx.RunID = "baseline "+*base, tr.Run.ID, tr.Run.ID
		res.Status = statusOf(tr)
	} else {
		ida, err := db.ResolveRun(ctx, pos[0])
		if err != nil {
			return exitUsage, err
		}
		idb, err := db.ResolveRun(ctx, pos[1])
		if err != nil {
			return exitUsage, err
		}
		runs, err := db.Runs(ctx)
		if err != nil {
			return exitUsage, err
		}
		status := map[int64]string{}
		for _, r := range runs {
			status[r.ID] = r.Status
		}
		bs, err := baseline.FromRuns(ctx, db, baseline.Options{}, ida, idb)
		if err != nil {
			return exitUsage, err
		}
		old, cur = bs[0], bs[1]
		res.Name = fmt.Sprintf("run %d", ida)
		res.RunID, dctx.RunID, dctx.BaseRunID = idb, idb, ida
		if status[ida] != store.StatusOK || status[idb] != store.StatusOK {
			res.Status = diff.StatusInconclusive
			res.Error = fmt.Sprintf("run %d is %s, run %d is %s: behaviour may be missing", ida, status[ida], idb, status[idb])
		}
	}
	res.Findings = rf.shown(diff.Compare(old, cur, dctx))
	if res.Status == "" {
		res.Status = diff.StatusFor(res.Findings, rf.level)
	}
	if err := a.writeReport(rf, "diff", diff.Report{Specs: []diff.SpecResult{res}}); err != nil {
		return exitUsage, err
	}
	return exitFor([]diff.SpecResult{res}), nil
}

// statusOf marks a run that cannot be judged: lost events, a timeout or an
// error mean behaviour may be missing, so it is never a pass.
func statusOf(tr *store.Trace) string {
	if tr.Run.Status == store.StatusOK {
		return ""
	}
	return diff.StatusInconclusive
}

func (a *app) writeReport(rf reportFlags, command string, r diff.Report) error {
	_, err := a.emit(rf.out, command, rf.level, r)
	return err
}

// exitFor: 2 when any spec could not be decided, else 1 when any failed.
func exitFor(specs []diff.SpecResult) int {
	code := exitOK
	for _, s := range specs {
		switch s.Status {
		case diff.StatusError, diff.StatusNew, diff.StatusInconclusive:
			return exitCheckErr
		case diff.StatusFail:
			code = exitFindings
		}
	}
	return code
}

const checkAbout = `
Replays each named spec (all of .behavediff/specs/ when none are named) in a
fresh sandbox, compares the new run with its baseline and prints a
snapshot-test style report.

Exit 0 when nothing new is at or above --fail-on; 1 when something is; 2 when
a spec could not be decided: no baseline yet (a pending one is written to
.behavediff/baselines/NAME.yaml.new for review — check never approves), a run
with lost events or a timeout (inconclusive, never a pass), or an error.`

func (a *app) check(ctx context.Context, args []string) (int, error) {
	fs := a.newFlags("check", "[--fail-on LEVEL] [--format text|json] [NAME...]", checkAbout)
	dbFlag := fs.String("db", "", "trace database `file` (default .behavediff/traces.db in the project)")
	var rf reportFlags
	rf.register(fs)
	address := fs.String("address", "", "containerd socket `path`; empty = behavediff's private daemon")
	var sh shardFlag
	sh.register(fs)
	var rd reportDir
	rd.register(fs)
	names, err := parseInterleaved(fs, args)
	if err != nil {
		return exitUsage, err
	}
	if err := rf.validate(); err != nil {
		return exitUsage, err
	}
	p, err := project()
	if err != nil {
		return exitUsage, err
	}
	if len(names) == 0 {
		if names, err = p.SpecNames(); err != nil {
			return exitCheckErr, err
		}
		if len(names) == 0 {
			return exitCheckErr, fmt.Errorf("no specs in %s/specs: record one with: behavediff record --name NAME -- CMD", p.Dir())
		}
	}
	names = sh.filter(a.stderr, names)
	var report diff.Report
	for i, name := range names {
		fmt.Fprintf(a.stderr, "check: [%d/%d] replaying %s\n", i+1, len(names), name)
		res := a.checkOne(ctx, p, *dbFlag, *address, name, rf.level)
		res.Findings = rf.shown(res.Findings)
		report.Specs = append(report.Specs, res)
		if ctx.Err() != nil {
			break
		}
	}
	d, err := a.emit(rf.out, "check", rf.level, report)
	if err != nil {
		return exitUsage, err
	}
	if err := a.storeChecks(ctx, *dbFlag, d); err != nil {
		return exitUsage, err
	}
	if err := rd.write(ctx, a, *dbFlag, d); err != nil {
		return exitUsage, err
	}
	return exitFor(report.Specs), nil
}

func (a *app) checkOne(ctx context.Context, p replay.Project, dbFlag, address, name string, failOn diff.Level) diff.SpecResult {
	res := diff.SpecResult{Name: name}
	fail := func(status string, err error) diff.SpecResult {
		res.Status, res.Error = status, err.Error()
		return res
	}
	spec, err := p.LoadSpec(name)
	if err != nil {
		return fail(diff.StatusError, err)
	}
	bpath := p.BaselinePath(name)
	old, err := loadBaselineIfAny(bpath)
	if err != nil {
		return fail(diff.StatusError, err)
	}
	rr, err := a.replaySpec(ctx, dbFlag, spec, 0, address, true)
	if rr.RunID != 0 {
		res.RunID = rr.RunID
	}
	if err != nil {
		return fail(diff.StatusError, err)
	}
	if rr.Status != store.StatusOK {
		msg := "run " + rr.Status
		if rr.Lost > 0 {
			msg = fmt.Sprintf("%d events lost: behaviour may be missing", rr.Lost)
		}
		return fail(diff.StatusInconclusive, errors.New(msg))
	}
	db, err := openRO(ctx, dbFlag)
	if err != nil {
		return fail(diff.StatusError, err)
	}
	defer db.Close()
	tr, err := db.LoadDistinct(ctx, rr.RunID)
	if err != nil {
		return fail(diff.StatusError, err)
	}
	if old == nil {
		nb, err := baseline.FromTrace(tr, baseline.Options{})
		if err != nil {
			return fail(diff.StatusError, err)
		}
		nb.Name = name
		if err := nb.Save(bpath + ".new"); err != nil {
			return fail(diff.StatusError, fmt.Errorf("write pending baseline: %w", err))
		}
		res.Status = diff.StatusNew
		res.Error = fmt.Sprintf("pending baseline written to %s.new", bpath)
		return res
	}
	cur, err := baseline.FromTrace(tr, old.NormaliseOptions("", ""))
	if err != nil {
		return fail(diff.StatusError, err)
	}
	res.Findings = diff.Compare(old, cur, diff.Context{RunID: rr.RunID})
	res.Status = diff.StatusFor(res.Findings, failOn)
	return res
}
