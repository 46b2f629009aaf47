package snapshot

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/behavediff/behavediff/baseline"
	"github.com/behavediff/behavediff/diff"
	"github.com/behavediff/behavediff/store"
)

// DiffOptions control DiffBaseline and DiffRuns.
type DiffOptions struct {
	FailOn  FailOn
	Verbose bool
	AnySpec bool   // compare a baseline with a run of another spec anyway
	Config  Config // project-wide allow globs and redactions
}

// ErrOtherSpec is returned when a baseline is compared with a run of a
// different spec: every difference would be noise.
var ErrOtherSpec = errors.New("run belongs to another spec")

// DiffBaseline compares run REF with the baseline of spec name.
func (p Project) DiffBaseline(ctx context.Context, r Runner, name, ref string, o DiffOptions) (diff.SpecResult, error) {
	res := diff.SpecResult{Name: "baseline " + name}
	if err := ValidName(name); err != nil {
		return res, err
	}
	old, err := baseline.Load(p.BaselinePath(name))
	if err != nil {
		return res, fmt.Errorf("baseline %s: %w", name, err)
	}
	r, done, err := readSession(ctx, r)
	if err != nil {
		return res, err
	}
	defer done()
	id, err := r.Resolve(ctx, ref)
	if err != nil {
		return res, err
	}
	tr, err := r.Load(ctx, id)
	if err != nil {
		return res, err
	}
	switch {
	case tr.Run.Name == name:
	case tr.Run.Name == "":
		res.Error = fmt.Sprintf("warning: run %d has no spec name; compared with baseline %s anyway", id, name)
	case !o.AnySpec:
		return res, fmt.Errorf("%w: run %d is of spec %q, not %q (diff --baseline %s %s, or --any-spec to compare anyway)", ErrOtherSpec, id, tr.Run.Name, name, tr.Run.Name, ref)
	default:
		res.Error = fmt.Sprintf("warning: run %d is of spec %q, compared with baseline %s", id, tr.Run.Name, name)
	}
	cur, err := o.Config.build(name, old, false, tr)
	if err != nil {
		return res, err
	}
	res.RunID = id
	exit := tr.Run.ExitCode
	res.ExitCode = &exit
	all := o.Config.compare(old, cur, diff.Context{RunID: id, TimedOut: tr.Run.Status == store.StatusTimeout})
	res.Status, res.Findings = o.FailOn.Judge(all, o.Verbose)
	if why := RunStatus(tr.Run); why != "" {
		res.Status, res.Error = diff.StatusInconclusive, why
	}
	if res.Status != diff.StatusPass {
		res.Next = []string{fmt.Sprintf("inspect: behavediff show %d", id)}
		if allowable(res.Findings) {
			res.Next = append(res.Next, fmt.Sprintf("allow: add globs under allow: in %s", p.rel(p.BaselinePath(name))))
		}
	}
	return res, nil
}

// DiffRuns compares two recorded runs.
func DiffRuns(ctx context.Context, r Runner, refA, refB string, o DiffOptions) (diff.SpecResult, error) {
	var res diff.SpecResult
	r, done, err := readSession(ctx, r)
	if err != nil {
		return res, err
	}
	defer done()
	var ids [2]int64
	for i, ref := range []string{refA, refB} {
		id, err := r.Resolve(ctx, ref)
		if err != nil {
			return res, err
		}
		ids[i] = id
	}
	// Each run is read (on its own connection of the one handle) and
	// normalised on its own: side by side, a diff of two big runs waits for
	// the slower of the two instead of their sum. Only the run's row is
	// kept of a trace once it is normalised, so its events can be freed
	// while the other run is still being read.
	var (
		runs [2]store.Run
		bs   [2]*baseline.Baseline
		errs [2]error
		wg   sync.WaitGroup
	)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tr, err := r.Load(ctx, ids[i])
			if err != nil {
				errs[i] = err
				return
			}
			runs[i] = tr.Run
			if bs[i], errs[i] = baseline.FromTrace(tr, baseline.Options{}); errs[i] != nil {
				errs[i] = fmt.Errorf("normalise run %d: %w", tr.Run.ID, errs[i])
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return res, err
		}
	}
	a, b := runs[0], runs[1]
	res.Name, res.RunID = fmt.Sprintf("run %d", a.ID), b.ID
	exit := b.ExitCode
	res.ExitCode = &exit
	all := o.Config.compare(bs[0], bs[1], diff.Context{RunID: b.ID, BaseRunID: a.ID, TimedOut: b.Status == store.StatusTimeout})
	res.Status, res.Findings = o.FailOn.Judge(all, o.Verbose)
	if a.Name != b.Name {
		res.Error = fmt.Sprintf("warning: run %d is of spec %q, run %d of %q", a.ID, a.Name, b.ID, b.Name)
	}
	if RunStatus(a) != "" || RunStatus(b) != "" {
		res.Status = diff.StatusInconclusive
		res.Error = fmt.Sprintf("run %d is %s, run %d is %s: behaviour may be missing", a.ID, a.Status, b.ID, b.Status)
	}
	if res.Status != diff.StatusPass {
		res.Next = []string{fmt.Sprintf("inspect: behavediff show %d", b.ID)}
	}
	return res, nil
}
