package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/behavediff/behavediff/baseline"
	"github.com/behavediff/behavediff/diff"
	"github.com/behavediff/behavediff/store"
)

// CheckOptions control Check.
type CheckOptions struct {
	FailOn  FailOn
	Verbose bool   // show informational findings
	Jobs    int    // specs replayed at once (default 1)
	Config  Config // project-wide allow globs and redactions
	// Progress, when set, is told when a spec starts and ends (from
	// several goroutines with Jobs > 1; calls are serialised).
	Progress func(ev CheckEvent)
}

// CheckEvent is a progress report: Result is nil when the spec starts.
type CheckEvent struct {
	Name   string
	Index  int // 0-based position in the names given
	Total  int
	Result *diff.SpecResult
}

// Check replays each named spec and judges it against its baseline. The
// report holds one result per name, in order. A failing spec (fail, or new:
// no baseline yet) leaves NAME.yaml.new, the baseline as it would be if
// accepted, for review. When ctx is cancelled, the specs not yet started
// are reported as skipped and Report.Interrupted is set.
func (p Project) Check(ctx context.Context, r Runner, names []string, o CheckOptions) diff.Report {
	jobs := o.Jobs
	if jobs < 1 {
		jobs = 1
	}
	rep := diff.Report{Specs: make([]diff.SpecResult, len(names))}
	var mu sync.Mutex
	progress := func(ev CheckEvent) {
		if o.Progress != nil {
			mu.Lock()
			defer mu.Unlock()
			o.Progress(ev)
		}
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < jobs; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if ctx.Err() != nil {
					rep.Specs[i] = skipped(names[i])
					continue
				}
				progress(CheckEvent{Name: names[i], Index: i, Total: len(names)})
				start := time.Now()
				res := p.CheckOne(ctx, r, names[i], o)
				res.DurationMS = max(time.Since(start).Milliseconds(), 1)
				rep.Specs[i] = res
				progress(CheckEvent{Name: names[i], Index: i, Total: len(names), Result: &rep.Specs[i]})
			}
		}()
	}
	for i := range names {
		next <- i
	}
	close(next)
	wg.Wait()
	rep.Interrupted = ctx.Err() != nil
	return rep
}

// allowable reports whether an allow: glob could cover some finding (not
// an exit code, not a removal).
func allowable(fs []diff.Finding) bool {
	for _, f := range fs {
		if f.Change == diff.Added && f.Section != "exit" {
			return true
		}
	}
	return false
}

func skipped(name string) diff.SpecResult {
	return diff.SpecResult{Name: name, Status: diff.StatusSkipped, Error: "not run: the check was interrupted"}
}

// CheckOne replays one spec and judges it (see Check).
func (p Project) CheckOne(ctx context.Context, r Runner, name string, o CheckOptions) diff.SpecResult {
	res := diff.SpecResult{Name: name}
	fail := func(status string, err error) diff.SpecResult {
		res.Status, res.Error = status, err.Error()
		if res.RunID != 0 {
			res.Next = append(res.Next, fmt.Sprintf("inspect: behavediff show %d", res.RunID))
		}
		return res
	}
	spec, err := p.LoadSpec(name)
	if err != nil {
		return fail(diff.StatusError, err)
	}
	old, err := LoadBaseline(p.BaselinePath(name))
	if err != nil {
		return fail(diff.StatusError, err)
	}
	rr, err := r.Replay(ctx, spec, 0)
	res.RunID = rr.RunID
	if err != nil {
		return fail(diff.StatusError, err)
	}
	// Interrupted, the run is still worth reporting: load it regardless.
	tr, err := r.Load(context.WithoutCancel(ctx), rr.RunID)
	if err != nil {
		return fail(diff.StatusError, err)
	}
	return p.judge(name, old, tr, o, res)
}

// judge compares a replayed run with the spec's baseline (nil: none yet).
func (p Project) judge(name string, old *baseline.Baseline, tr *store.Trace, o CheckOptions, res diff.SpecResult) diff.SpecResult {
	res.RunID = tr.Run.ID
	exit := tr.Run.ExitCode
	res.ExitCode = &exit
	if why := RunStatus(tr.Run); why != "" {
		res.Status, res.Error = diff.StatusInconclusive, why
		res.StderrTail = stderrTail(tr.Run.Stderr, 10, 2000)
		res.Next = append(res.Next, fmt.Sprintf("inspect: behavediff show %d", tr.Run.ID), "then check again: behavediff check "+name)
		return res
	}
	nb, err := o.Config.build(name, old, false, tr)
	if err != nil {
		res.Status, res.Error = diff.StatusError, err.Error()
		return res
	}
	timedOut := tr.Run.Status == store.StatusTimeout
	pending := func() {
		path := p.PendingPath(name)
		if err := nb.Save(path); err != nil {
			res.Error = fmt.Sprintf("write pending baseline: %v", err)
			res.Status = diff.StatusError
			return
		}
		res.Pending = p.rel(path)
	}
	if old == nil {
		res.Status = diff.StatusNew
		pending()
		res.Next = append(res.Next,
			fmt.Sprintf("inspect: behavediff show %d", tr.Run.ID),
			"review: behavediff review "+name)
		return res
	}
	all := o.Config.compare(old, nb, diff.Context{RunID: tr.Run.ID, TimedOut: timedOut})
	res.Status, res.Findings = o.FailOn.Judge(all, o.Verbose)
	if timedOut && res.Status == diff.StatusPass {
		// Never a pass: the run stopped early, behaviour may be missing.
		res.Status, res.Error = diff.StatusInconclusive, "timed out: behaviour may be missing"
	}
	if old.Exit != nil && exit != *old.Exit || timedOut {
		res.StderrTail = stderrTail(tr.Run.Stderr, 10, 2000)
	}
	if res.Status == diff.StatusPass {
		// A pass settles an old pending change.
		_ = os.Remove(p.PendingPath(name))
		return res
	}
	pending()
	res.Next = append(res.Next,
		fmt.Sprintf("inspect: behavediff show %d", tr.Run.ID),
		"review: behavediff review "+name)
	if allowable(res.Findings) {
		res.Next = append(res.Next, fmt.Sprintf("allow: add globs under allow: in %s", p.rel(p.BaselinePath(name))))
	}
	return res
}

// LoadBaseline reads a baseline file; nil (and no error) when there is none.
func LoadBaseline(path string) (*baseline.Baseline, error) {
	b, err := baseline.Load(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}
