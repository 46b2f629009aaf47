package snapshot

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/behavediff/behavediff/baseline"
	"github.com/behavediff/behavediff/diff"
)

// Pending is a pending baseline under review.
type Pending struct {
	Name    string
	Path    string             // NAME.yaml.new
	Old     *baseline.Baseline // the approved baseline; nil when there is none yet
	New     *baseline.Baseline // the pending baseline
	RunID   int64              // the local run behind New (process chains, queries); 0 when not here
	Changes []Change
}

// ErrNoPending is returned for a name without a pending baseline.
var ErrNoPending = errors.New("no pending baseline")

// LoadPending reads NAME.yaml.new and lists its changes. When the trace
// database holds the run it came from (the newest run of NAME normalises to
// the same baseline), findings carry that run's process chains and queries;
// a pending file copied from a CI artifact is reviewed without them.
func (p Project) LoadPending(ctx context.Context, r Runner, name string, cfg Config) (*Pending, error) {
	if err := ValidName(name); err != nil {
		return nil, err
	}
	pd := &Pending{Name: name, Path: p.PendingPath(name)}
	var err error
	if pd.New, err = baseline.Load(pd.Path); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w for %s (check writes one when a spec fails; looked for %s)", ErrNoPending, name, pd.Path)
	} else if err != nil {
		return nil, err
	}
	pd.New.Name = name
	if pd.Old, err = LoadBaseline(p.BaselinePath(name)); err != nil {
		return nil, err
	}
	ctxd := diff.Context{}
	if local, id := localRun(ctx, r, pd, cfg); local != nil {
		pd.New, pd.RunID, ctxd.RunID = local, id, id
	}
	pd.Changes = Changes(pd.Old, pd.New, cfg.compare(pd.Old, pd.New, ctxd))
	return pd, nil
}

// localRun finds the run the pending baseline was made from: the newest
// run of the spec, if it normalises to exactly the pending baseline.
func localRun(ctx context.Context, r Runner, pd *Pending, cfg Config) (*baseline.Baseline, int64) {
	if r == nil {
		return nil, 0
	}
	id, err := r.Resolve(ctx, pd.Name)
	if err != nil {
		return nil, 0
	}
	tr, err := r.Load(ctx, id)
	if err != nil {
		return nil, 0
	}
	b, err := cfg.build(pd.Name, pd.New, false, tr)
	if err != nil {
		return nil, 0
	}
	if len(entryDiff(pd.New, b)) > 0 || len(entryDiff(b, pd.New)) > 0 {
		return nil, 0
	}
	return b, id
}

// Settled says what Settle did.
type Settled struct {
	Accepted, Rejected, Skipped int
	Wrote                       bool // the baseline was written
	StillPending                bool // skipped changes stay in the pending file
}

// Settle applies review decisions (one per Change): accepted changes go
// into the baseline, skipped ones stay pending, rejected ones are dropped.
// The pending file is removed when nothing is left to review.
func (p Project) Settle(pd *Pending, decisions []Decision) (Settled, error) {
	var s Settled
	if len(decisions) != len(pd.Changes) {
		return s, fmt.Errorf("settle %s: %d decisions for %d changes", pd.Name, len(decisions), len(pd.Changes))
	}
	keep := make([]Decision, len(decisions)) // what stays pending: accepted and skipped
	for i, d := range decisions {
		switch d {
		case Accept:
			s.Accepted++
			keep[i] = Accept
		case Reject:
			s.Rejected++
			keep[i] = Reject
		default:
			s.Skipped++
			keep[i] = Accept
		}
	}
	if err := p.Ensure(); err != nil {
		return s, err
	}
	if s.Accepted > 0 || (len(pd.Changes) == 0 && pd.Old == nil) {
		nb, err := Apply(pd.Old, pd.New, pd.Changes, decisions)
		if err != nil {
			return s, err
		}
		nb.Name = pd.Name
		if err := nb.Save(p.BaselinePath(pd.Name)); err != nil {
			return s, fmt.Errorf("write baseline: %w", err)
		}
		s.Wrote = true
	}
	if s.Skipped > 0 {
		np, err := Apply(pd.Old, pd.New, pd.Changes, keep)
		if err != nil {
			return s, err
		}
		if err := np.Save(pd.Path); err != nil {
			return s, fmt.Errorf("write pending baseline: %w", err)
		}
		s.StillPending = true
		return s, nil
	}
	if err := os.Remove(pd.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return s, fmt.Errorf("remove pending baseline: %w", err)
	}
	return s, nil
}

// Decide asks about each change in turn. ask returns a decision and
// whether it applies to this and every remaining change (accept-all,
// reject-all); an error stops the review and decides nothing.
func Decide(changes []Change, ask func(i int, c Change) (d Decision, all bool, err error)) ([]Decision, error) {
	out := make([]Decision, len(changes))
	for i := 0; i < len(changes); i++ {
		d, all, err := ask(i, changes[i])
		if err != nil {
			return nil, err
		}
		out[i] = d
		if all {
			for j := i + 1; j < len(changes); j++ {
				out[j] = d
			}
			break
		}
	}
	return out, nil
}

// ImportPending copies the pending baselines found under dir (a CI
// artifact, unpacked: any depth) into the project, so they can be
// reviewed here. Each must parse as a baseline of a spec of this project.
// It returns the names imported.
func (p Project) ImportPending(dir string) ([]string, error) {
	var names []string
	seen := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(d.Name(), ".yaml"+PendingSuffix) {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", path)
		}
		name := strings.TrimSuffix(d.Name(), ".yaml"+PendingSuffix)
		if err := ValidName(name); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if prev, dup := seen[name]; dup {
			return fmt.Errorf("two pending baselines for %s: %s and %s", name, prev, path)
		}
		seen[name] = path
		if !p.HasSpec(name) {
			return fmt.Errorf("%s: no spec %s in this project (%s)", path, name, p.SpecPath(name))
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if _, err := baseline.Parse(data, path); err != nil {
			return err
		}
		names = append(names, name)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("import pending baselines: %w", err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%w under %s (look for NAME.yaml.new in the CI artifact)", ErrNoPending, dir)
	}
	if err := p.Ensure(); err != nil {
		return nil, err
	}
	for _, n := range names {
		data, err := os.ReadFile(seen[n])
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(p.PendingPath(n)), 0o755); err != nil {
			return nil, err
		}
		if err := writeFileAtomic(p.PendingPath(n), data); err != nil {
			return nil, fmt.Errorf("import %s: %w", n, err)
		}
	}
	sort.Strings(names)
	return names, nil
}
