package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/behavediff/behavediff/diff"
	"github.com/behavediff/behavediff/snapshot"
)

const approveAbout = `
Turns a run into the reviewed baseline .behavediff/baselines/NAME.yaml, the
snapshot that check compares every later replay with. It first shows what
changes against the current baseline. REF is a spec name (its newest run, or
a fresh replay when it has none), a run id, or "last"; several REFs, or --all
for every spec, approve several baselines.

--runs N replays the spec N times and approves their union; behaviour seen in
only some of the runs is marked optional, so a flaky path does not fail CI.
The baseline's own allow: and redact: sections are kept.

Without --yes, approve asks on a terminal and refuses otherwise. With --yes it
refuses to write high or critical changes into an existing baseline (critical
ones into a new baseline) and says which: agents run --yes. Review those with
"behavediff review NAME", or accept them with --accept-risk LEVEL. A refused
approval leaves NAME.yaml.new for review.

Exit 0 when every baseline was written, 1 when risky changes were refused, 2
when you declined, 125 on errors.`

func (a *app) approve(ctx context.Context, args []string) (int, error) {
	fs := a.newFlags("approve", "[--yes] [--accept-risk LEVEL] [--runs N] [--name NAME] REF... | --all", approveAbout)
	dbFlag := fs.String("db", "", "trace database `file` (default .behavediff/traces.db in the project)")
	yes := fs.Bool("yes", false, "write without asking (risky changes still need --accept-risk)")
	acceptRisk := fs.String("accept-risk", "", "with --yes, also accept changes up to this `level` (high, critical)")
	all := fs.Bool("all", false, "approve every spec of the project")
	runs := fs.Int("runs", 0, "replay the spec `N` times and approve the union (0: use the newest run)")
	name := fs.String("name", "", "baseline `name` (default: the run's spec name; one REF only)")
	counts := fs.Bool("counts", false, "keep order-of-magnitude syscall counts in a new baseline")
	address := fs.String("address", "", "containerd socket `path` for --runs replays")
	refs, err := parseInterleaved(fs, args)
	if err != nil {
		return exitUsage, err
	}
	var risk *diff.Level
	if *acceptRisk != "" {
		l, err := diff.ParseLevel(*acceptRisk)
		if err != nil {
			return exitUsage, fmt.Errorf("--accept-risk: %w", err)
		}
		risk = &l
	}
	if *runs < 0 {
		return exitUsage, usageError("--runs must be positive")
	}
	cfg, err := a.config()
	if err != nil {
		return exitUsage, err
	}
	p, r, err := a.runner(*dbFlag, *address, true)
	if err != nil {
		return exitUsage, err
	}
	if *all {
		if len(refs) > 0 {
			return exitUsage, usageError("approve --all takes no REF")
		}
		if refs, err = p.SpecNames(); err != nil {
			return exitUsage, err
		}
		if len(refs) == 0 {
			return exitUsage, fmt.Errorf("no specs in %s: record one with: behavediff record --name NAME -- CMD", p.SpecPath("NAME"))
		}
	}
	if len(refs) == 0 {
		return exitUsage, usageError("approve wants a REF (a spec name, a run id or \"last\"), several, or --all")
	}
	if *name != "" && len(refs) > 1 {
		return exitUsage, usageError("--name names one baseline; give one REF")
	}
	code := exitOK
	for _, ref := range refs {
		c, err := a.approveOne(ctx, p, r, ref, snapshot.ApproveOptions{
			Name: *name, Runs: *runs, Counts: *counts, Config: cfg,
			Progress: func(msg string) { fmt.Fprintf(a.stderr, "approve: %s\n", msg) },
		}, *yes, risk)
		if err != nil {
			return exitUsage, fmt.Errorf("%s: %w", ref, err)
		}
		code = max(code, c)
	}
	return code, nil
}

func (a *app) approveOne(ctx context.Context, p snapshot.Project, r snapshot.Runner, ref string, o snapshot.ApproveOptions, yes bool, risk *diff.Level) (int, error) {
	pl, err := p.PlanApprove(ctx, r, ref, o)
	if err != nil {
		return exitUsage, err
	}
	rel := pl.Path
	if pl.Old == nil {
		fmt.Fprintf(a.stdout, "New baseline %s from run %s:\n", rel, joinIDs(pl.RunIDs))
		fmt.Fprintf(a.stdout, "  %d processes", len(pl.New.Processes))
		for _, sec := range pl.New.Sections() {
			if n := len(*sec.Entries); n > 0 {
				fmt.Fprintf(a.stdout, ", %d %s", n, sec.Name)
			}
		}
		fmt.Fprintln(a.stdout)
		for _, f := range diff.AtLeast(pl.Findings, diff.High) {
			fmt.Fprintf(a.stdout, "  %-8s %-12s %s\n", strings.ToUpper(f.Level.String()), f.Kind, f.Subject)
		}
	} else if len(pl.Findings) == 0 {
		fmt.Fprintf(a.stdout, "Baseline %s is unchanged by run %s.\n", rel, joinIDs(pl.RunIDs))
	} else {
		fmt.Fprintf(a.stdout, "Approving run %s changes %s:\n", joinIDs(pl.RunIDs), rel)
		for _, f := range pl.Findings {
			if f.Level < diff.Low {
				continue
			}
			sign := "+"
			if f.Change == diff.Removed {
				sign = "-"
			}
			fmt.Fprintf(a.stdout, "  %s %-16s %s  [%s: %s]\n", sign, f.Section, f.Subject, f.Level, f.Kind)
		}
		if n := len(pl.Findings) - len(diff.AtLeast(pl.Findings, diff.Low)); n > 0 {
			fmt.Fprintf(a.stdout, "  and %d informational changes\n", n)
		}
	}
	accept := pl.AcceptRisk()
	if risk != nil {
		accept = *risk
	}
	if !yes {
		ok, err := a.confirm(fmt.Sprintf("Write %s?", rel))
		if err != nil {
			return exitUsage, err
		}
		if !ok {
			fmt.Fprintln(a.stderr, "approve: nothing written")
			return exitCheckErr, nil
		}
		accept = diff.Critical // a person saw the list and said yes
	}
	err = p.Write(pl, accept)
	if errors.Is(err, snapshot.ErrRiskRefused) {
		refused := pl.Refused(accept)
		fmt.Fprintf(a.stderr, "approve: refused to write %s: %d change(s) above %s need a review:\n", rel, len(refused), accept)
		for _, f := range refused {
			fmt.Fprintf(a.stderr, "  %-8s %-12s %s  (%s)\n", strings.ToUpper(f.Level.String()), f.Kind, f.Subject, f.Reason)
		}
		fmt.Fprintf(a.stderr, "approve: nothing written; pending changes in %s\n", p.PendingPath(pl.Name))
		fmt.Fprintf(a.stderr, "  next: behavediff review %s   (one change at a time)\n  or:   behavediff approve --yes --accept-risk %s %s\n", pl.Name, diff.Worst(refused), ref)
		return exitFindings, nil
	}
	if err != nil {
		return exitUsage, err
	}
	fmt.Fprintf(a.stderr, "approve: wrote %s (review and commit it)\n", rel)
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
	if a.in == nil {
		a.in = bufio.NewReader(f) // one reader: approve A B asks twice
	}
	line, err := a.in.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	ans := strings.ToLower(strings.TrimSpace(line))
	return ans == "y" || ans == "yes", nil
}
