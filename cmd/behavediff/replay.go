package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/behavediff/behavediff/policy"
	"github.com/behavediff/behavediff/recorder"
	"github.com/behavediff/behavediff/replay"
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
	spec, replayOf, err := a.specFor(ctx, *dbFlag, pos[0])
	if err != nil {
		return exitUsage, err
	}
	res, err := a.replaySpec(ctx, *dbFlag, spec, replayOf, *address, false, *enforce)
	if err != nil {
		return exitUsage, err
	}
	return a.recordExit(res, *allowLoss), nil
}

// specFor finds the spec behind REF: a named spec file wins; otherwise REF is
// a run whose stored spec is used (and becomes the replay's original).
func (a *app) specFor(ctx context.Context, dbFlag, ref string) (recorder.Spec, int64, error) {
	p, err := project()
	if err != nil {
		return recorder.Spec{}, 0, err
	}
	if replay.ValidName(ref) == nil {
		if _, err := os.Stat(p.SpecPath(ref)); err == nil {
			s, err := p.LoadSpec(ref)
			return s, 0, err
		}
	}
	db, err := openRO(ctx, dbFlag)
	if err != nil {
		return recorder.Spec{}, 0, err
	}
	defer db.Close()
	id, err := db.ResolveRun(ctx, ref)
	if err != nil {
		if _, nerr := strconv.Atoi(ref); nerr != nil && ref != "last" {
			return recorder.Spec{}, 0, fmt.Errorf("no spec or run named %q (specs live in %s)", ref, p.SpecPath(ref))
		}
		return recorder.Spec{}, 0, err
	}
	s, err := replay.SpecOfRun(ctx, db, id)
	return s, id, err
}

// replaySpec replays spec into the database. quiet keeps the command's output
// in the store only, so reports (check, approve --runs) stay readable.
func (a *app) replaySpec(ctx context.Context, dbFlag string, spec recorder.Spec, replayOf int64, address string, quiet, enforce bool) (recorder.Result, error) {
	db, err := openRW(ctx, dbFlag)
	if err != nil {
		return recorder.Result{}, err
	}
	defer db.Close()
	o := recorder.Options{Address: address, Stdout: a.stdout, Stderr: a.stderr, Progress: a.stderr, ToolVersion: version}
	if quiet {
		o.Stdout, o.Stderr, o.Progress = io.Discard, io.Discard, io.Discard
	}
	if enforce {
		p, err := project()
		if err != nil {
			return recorder.Result{}, err
		}
		o.Enforce = policy.FromBaselines(p.BaselinePath, a.stderr)
	}
	return replay.Run(ctx, db, spec, replayOf, os.LookupEnv, o)
}
