package main

import (
	"context"
	"errors"
	"io"

	"github.com/behavediff/behavediff/policy"
	"github.com/behavediff/behavediff/recorder"
	"github.com/behavediff/behavediff/snapshot"
)

const replayAbout = `
Runs a recorded spec again in a fresh sandbox and records a new run linked to
the original (runs.replay_of). REF is a spec name (.behavediff/specs/NAME.yaml),
a run id, or "last". Secret-looking --env values were stored redacted; they
are taken from this environment. Exit code as for record.`

func (a *app) replay(ctx context.Context, args []string) (int, error) {
	fs := a.newFlags("replay", "[--db FILE] REF", replayAbout)
	dbFlag := fs.String("db", "", "trace database `file` (default .behavediff/traces.db in the project)")
	address := fs.String("address", "", "containerd socket `path`; empty = behavediff's private daemon")
	allowLoss := fs.Bool("allow-loss", false, "exit with the command's code even if events were lost")
	enforce := fs.Bool("enforce", false, "enforce the spec's approved baseline: egress only to its endpoints; blocked attempts are recorded denied")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return exitUsage, err
	}
	if len(pos) != 1 {
		return exitUsage, usageError("replay wants one REF (a spec name, a run id or \"last\")")
	}
	p, r, err := a.runner(*dbFlag, *address, false)
	if err != nil {
		return exitUsage, err
	}
	spec, replayOf, err := p.SpecFor(ctx, r, pos[0])
	if err != nil {
		return exitUsage, err
	}
	if *enforce {
		r.Options.Enforce = policy.FromBaselines(p.BaselinePath, a.stderr)
	}
	res, err := r.Replay(ctx, spec, replayOf)
	if err != nil {
		return exitUsage, err
	}
	return a.recordExit(res, *allowLoss), nil
}

// runner is the project and its trace database as the workflows see them.
// quiet keeps the command's output in the store only, so reports (check,
// approve --runs) stay readable.
func (a *app) runner(dbFlag, address string, quiet bool) (snapshot.Project, *snapshot.Store, error) {
	p, err := project()
	if err != nil {
		return p, nil, err
	}
	path, err := resolveDB(dbFlag)
	if err != nil {
		return p, nil, err
	}
	o := recorder.Options{Address: address, Stdout: a.stdout, Stderr: a.stderr, Progress: a.stderr, ToolVersion: versionString(),
		Protect: []string{p.Dir()}}
	if quiet {
		o.Stdout, o.Stderr, o.Progress = io.Discard, io.Discard, io.Discard
	}
	s := &snapshot.Store{Path: path, Options: o}
	if dbFlag == "" {
		s.Project = p // the default database lives in the project folder
	}
	return p, s, nil
}

// enforceApproved is --enforce for check: each spec runs under its approved
// baseline's policy; a spec without a baseline yet runs unenforced (check
// reports it as new anyway).
func (a *app) enforceApproved(p snapshot.Project) func(recorder.Spec) (*recorder.Enforcement, error) {
	enf := policy.FromBaselines(p.BaselinePath, a.stderr)
	return func(s recorder.Spec) (*recorder.Enforcement, error) {
		e, err := enf(s)
		if errors.Is(err, policy.ErrNoBaseline) {
			return nil, nil
		}
		return e, err
	}
}
