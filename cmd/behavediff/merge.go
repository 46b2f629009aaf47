package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/behavediff/behavediff/report"
	"github.com/behavediff/behavediff/shard"
	"github.com/behavediff/behavediff/store"
)

// shardFlag is check's --shard K/N.
type shardFlag struct{ s *shard.Shard }

func (f *shardFlag) register(fs *flag.FlagSet) {
	fs.Func("shard", "replay only shard `K/N` of the specs (by a hash of the name: adding a spec moves no other; "+
		"every spec is in exactly one of the N shards)", func(v string) error {
		s, err := shard.Parse(v)
		if err != nil {
			return err
		}
		f.s = &s
		return nil
	})
}

func (f *shardFlag) filter(stderr io.Writer, names []string) []string {
	if f.s == nil {
		return names
	}
	out := f.s.Filter(names)
	fmt.Fprintf(stderr, "check: shard %s: %d of %d specs\n", f.s, len(out), len(names))
	return out
}

const mergeAbout = `
Combines what the shards of a CI matrix produced into one.

Trace databases (OUT ends in .db): every run of every input is copied into
OUT (created if missing) with its events, processes, checks and findings.
Runs are renumbered; view run_origins keeps each run's source file and id
there. Each input is copied whole or not at all.

Reports: JSON reports (check --output json=FILE) merge into any format, chosen
by OUT's extension (.json .sarif .xml .md .txt): every spec and finding is
kept and the verdict is the worst of the inputs'. SARIF merges into SARIF
and JUnit into JUnit directly.

Examples:
  behavediff merge -o all.db shard-1/traces.db shard-2/traces.db
  behavediff merge -o report.sarif shard-*/report.sarif
  behavediff merge -o summary.md shard-*/report.json`

func (a *app) merge(ctx context.Context, args []string) (int, error) {
	fs := a.newFlags("merge", "-o OUT INPUT...", mergeAbout)
	out := fs.String("o", "", "output `file`: a .db trace database or a report (.json .sarif .xml .md .txt)")
	inputs, err := parseInterleaved(fs, args)
	if err != nil {
		return exitUsage, err
	}
	if *out == "" || len(inputs) == 0 {
		return exitUsage, usageError("merge wants -o OUT and at least one input")
	}
	if strings.EqualFold(filepath.Ext(*out), ".db") {
		db, err := store.Open(ctx, *out)
		if err != nil {
			return exitUsage, err
		}
		defer db.Close()
		stats, err := db.Merge(ctx, inputs...)
		for _, st := range stats {
			fmt.Fprintf(a.stderr, "merge: %s: %d runs (ids +%d), %d checks\n", st.Source, st.Runs, st.Offset, st.Checks)
		}
		if err != nil {
			return exitUsage, err
		}
		return exitOK, nil
	}
	if err := report.MergeFiles(*out, inputs); err != nil {
		return exitUsage, err
	}
	return exitOK, nil
}
