package snapshot

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/behavediff/behavediff/baseline"
	"github.com/behavediff/behavediff/diff"
	"github.com/behavediff/behavediff/store"
)

// ApproveOptions control PlanApprove.
type ApproveOptions struct {
	Name   string // baseline name (default: the spec's or run's name)
	Runs   int    // replay the spec this many times and approve the union (0: its newest run)
	Counts bool   // keep syscall counts in a new baseline
	Config Config // project-wide allow globs and redactions
	// Progress, when set, hears about replays ("replaying build (1/3)").
	Progress func(msg string)
}

// Plan is an approval worked out but not yet written: the baseline as it
// would be, and what changes against the current one.
type Plan struct {
	Name     string
	Path     string // the baseline file
	RunIDs   []int64
	Old      *baseline.Baseline // nil: a new baseline
	New      *baseline.Baseline
	Findings []diff.Finding // Compare(Old, New), every level
}

// DefaultAcceptRisk is the highest level of change approve --yes accepts
// without --accept-risk: high and critical changes to a baseline need a
// person (review), or an explicit flag, because agents run --yes.
const DefaultAcceptRisk = diff.Medium

// DefaultAcceptRiskNew is the same for a first baseline. Against no
// baseline every program a run starts is a new (high) program, so only
// critical behaviour (secrets, persistence, privilege) is refused.
const DefaultAcceptRiskNew = diff.High

// AcceptRisk is the level approve --yes accepts for this plan by default.
func (pl *Plan) AcceptRisk() diff.Level {
	if pl.Old == nil {
		return DefaultAcceptRiskNew
	}
	return DefaultAcceptRisk
}

// ErrRiskRefused is returned by Plan.Write when findings above the accepted
// risk would be written into the baseline.
var ErrRiskRefused = errors.New("refused to approve risky behaviour")

// ErrNotComplete is returned for a run that cannot be approved.
var ErrNotComplete = errors.New("only a complete run can be approved")

// PlanApprove works out the baseline REF would give: a spec name (its newest
// run, or a fresh replay when it has none, or --runs replays), a run id, or
// "last". Nothing is written, and nothing is created outside a project.
func (p Project) PlanApprove(ctx context.Context, r Runner, ref string, o ApproveOptions) (*Plan, error) {
	if o.Runs < 0 {
		return nil, errors.New("--runs must be positive")
	}
	rf, err := p.Resolve(ctx, r, ref)
	if err != nil {
		return nil, err
	}
	name := o.Name
	if name == "" {
		name = rf.Spec
	}
	var ids []int64
	if o.Runs > 0 || rf.RunID == 0 {
		if rf.Spec == "" {
			return nil, fmt.Errorf("--runs needs a spec name; %q has no %s", ref, p.SpecPath(ref))
		}
		spec, err := p.LoadSpec(rf.Spec)
		if err != nil {
			return nil, err
		}
		n := max(o.Runs, 1)
		for i := 0; i < n; i++ {
			if o.Progress != nil {
				if o.Runs == 0 {
					o.Progress(fmt.Sprintf("spec %s has no run yet; replaying it", rf.Spec))
				} else {
					o.Progress(fmt.Sprintf("replaying %s (%d/%d)", rf.Spec, i+1, n))
				}
			}
			res, err := r.Replay(ctx, spec, 0)
			if err != nil {
				return nil, err
			}
			ids = append(ids, res.RunID)
		}
	} else {
		ids = []int64{rf.RunID}
	}
	var traces []*store.Trace
	for _, id := range ids {
		tr, err := r.Load(ctx, id)
		if err != nil {
			return nil, err
		}
		if tr.Run.Status != store.StatusOK {
			return nil, fmt.Errorf("run %d is %s: %w (record it again)", id, tr.Run.Status, ErrNotComplete)
		}
		if name == "" {
			name = tr.Run.Name
		}
		traces = append(traces, tr)
	}
	if name == "" {
		return nil, fmt.Errorf("run %d has no spec name: pass --name NAME", ids[0])
	}
	if err := ValidName(name); err != nil {
		return nil, err
	}
	pl := &Plan{Name: name, Path: p.BaselinePath(name), RunIDs: ids}
	if pl.Old, err = LoadBaseline(pl.Path); err != nil {
		return nil, err
	}
	var parts []*baseline.Baseline
	for _, tr := range traces {
		b, err := o.Config.build(name, pl.Old, o.Counts, tr)
		if err != nil {
			return nil, err
		}
		parts = append(parts, b)
	}
	pl.New = parts[0]
	if len(parts) > 1 {
		pl.New = baseline.Union(parts...)
		pl.New.Name = name
	}
	pl.Findings = o.Config.compare(pl.Old, pl.New, diff.Context{RunID: ids[len(ids)-1]})
	return pl, nil
}

// Refused lists the new findings above acceptRisk: what approve --yes will
// not write without --accept-risk.
func (pl *Plan) Refused(acceptRisk diff.Level) []diff.Finding {
	var out []diff.Finding
	for _, f := range pl.Findings {
		if f.Change == diff.Added && f.Level > acceptRisk {
			out = append(out, f)
		}
	}
	return out
}

// Write saves the planned baseline unless it would accept findings above
// acceptRisk; then it writes the plan as the pending baseline instead (for
// behavediff review) and returns ErrRiskRefused.
func (p Project) Write(pl *Plan, acceptRisk diff.Level) error {
	if err := p.Ensure(); err != nil {
		return err
	}
	if len(pl.Refused(acceptRisk)) > 0 {
		if err := pl.New.Save(p.PendingPath(pl.Name)); err != nil {
			return fmt.Errorf("write pending baseline: %w", err)
		}
		return fmt.Errorf("%w in %s", ErrRiskRefused, pl.Path)
	}
	if err := pl.New.Save(pl.Path); err != nil {
		return fmt.Errorf("write baseline %s: %w", pl.Path, err)
	}
	// A pending baseline is settled by approving.
	if err := os.Remove(p.PendingPath(pl.Name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove pending baseline: %w", err)
	}
	return nil
}
