package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/behavediff/behavediff/diff"
	"github.com/behavediff/behavediff/snapshot"
)

const reviewAbout = `
Walks the pending changes (.behavediff/baselines/NAME.yaml.new, written by a
failing check or a refused approve) one finding at a time, showing its level,
reason, process chain, command lines and the query that lists its events, and
asks what to do:

  a  accept: write it into the baseline     A  accept this and all the rest
  r  reject: drop it                        R  reject this and all the rest
  s  skip: keep it pending                  q  stop here (the rest stay pending)

Accepted changes are written to NAME.yaml; skipped ones stay in NAME.yaml.new.
Pending files from a CI artifact review the same way: --from DIR imports
every NAME.yaml.new under DIR first (without process chains and queries when
the run is not in the local trace database).

Without a terminal, use --accept NAME... or --reject NAME... (all changes of
those specs; --accept still refuses changes above --accept-risk, default
medium, as approve --yes does). Without NAME, every pending spec.`

func (a *app) review(ctx context.Context, args []string) (int, error) {
	fs := a.newFlags("review", "[NAME...] | --accept NAME... | --reject NAME...", reviewAbout)
	dbFlag := fs.String("db", "", "trace database `file` (default .behavediff/traces.db in the project)")
	accept := fs.Bool("accept", false, "accept every pending change of the named specs, without asking")
	reject := fs.Bool("reject", false, "reject every pending change of the named specs, without asking")
	acceptRisk := fs.String("accept-risk", "", "with --accept, the highest `level` accepted (default medium)")
	from := fs.String("from", "", "first import the pending baselines found under `DIR` (an unpacked CI artifact)")
	names, err := parseInterleaved(fs, args)
	if err != nil {
		return exitUsage, err
	}
	if *accept && *reject {
		return exitUsage, usageError("--accept and --reject exclude each other")
	}
	risk := snapshot.DefaultAcceptRisk
	if *acceptRisk != "" {
		if risk, err = diff.ParseLevel(*acceptRisk); err != nil {
			return exitUsage, fmt.Errorf("--accept-risk: %w", err)
		}
	}
	cfg, err := a.config()
	if err != nil {
		return exitUsage, err
	}
	p, r, err := a.runner(*dbFlag, "", true)
	if err != nil {
		return exitUsage, err
	}
	if *from != "" {
		imported, err := p.ImportPending(*from)
		if err != nil {
			return exitUsage, err
		}
		fmt.Fprintf(a.stderr, "review: imported %s from %s\n", strings.Join(imported, ", "), *from)
		if len(names) == 0 {
			names = imported
		}
	}
	if len(names) == 0 {
		if names, err = p.PendingNames(); err != nil {
			return exitUsage, err
		}
		if len(names) == 0 {
			fmt.Fprintln(a.stderr, "review: nothing pending (check writes NAME.yaml.new when a spec fails)")
			return exitOK, nil
		}
	}
	interactive := !*accept && !*reject
	if interactive && !isTerminal(a.stdin) {
		return exitUsage, errors.New("not a terminal: pass --accept NAME... or --reject NAME...")
	}
	if a.in == nil {
		a.in = bufio.NewReader(a.stdin)
	}
	in := a.in
	code := exitOK
	for _, name := range names {
		pd, err := p.LoadPending(ctx, r, name, cfg)
		if err != nil {
			return exitUsage, err
		}
		var ds []snapshot.Decision
		switch {
		case *reject:
			ds = fill(len(pd.Changes), snapshot.Reject)
		case *accept:
			ds = fill(len(pd.Changes), snapshot.Accept)
			var refused []diff.Finding
			for _, c := range pd.Changes {
				if c.Finding.Change == diff.Added && c.Finding.Level > risk {
					refused = append(refused, c.Finding)
				}
			}
			if len(refused) > 0 {
				fmt.Fprintf(a.stderr, "review: %s: refused to accept %d change(s) above %s:\n", name, len(refused), risk)
				for _, f := range refused {
					fmt.Fprintf(a.stderr, "  %-8s %-12s %s  (%s)\n", strings.ToUpper(f.Level.String()), f.Kind, f.Subject, f.Reason)
				}
				fmt.Fprintf(a.stderr, "  next: behavediff review %s (on a terminal), or --accept-risk %s\n", name, diff.Worst(refused))
				code = exitFindings
				continue
			}
		default:
			fmt.Fprintf(a.stdout, "\n%s: %d pending change(s) in %s\n", name, len(pd.Changes), pd.Path)
			if pd.RunID == 0 {
				fmt.Fprintln(a.stdout, "  (the run behind it is not in this trace database: no process chains or queries)")
			}
			quit := false
			ds, err = snapshot.Decide(pd.Changes, func(i int, c snapshot.Change) (snapshot.Decision, bool, error) {
				if quit {
					return snapshot.Skip, true, nil
				}
				a.showChange(i, len(pd.Changes), c)
				for {
					fmt.Fprint(a.stdout, "  [a]ccept [r]eject [s]kip [A]ccept all [R]eject all [q]uit? ")
					line, err := in.ReadString('\n')
					if err != nil && (!errors.Is(err, io.EOF) || line == "") {
						return snapshot.Skip, true, nil // end of input: the rest stay pending
					}
					switch strings.TrimSpace(line) {
					case "a", "y":
						return snapshot.Accept, false, nil
					case "r", "n":
						return snapshot.Reject, false, nil
					case "s", "":
						return snapshot.Skip, false, nil
					case "A":
						return snapshot.Accept, true, nil
					case "R":
						return snapshot.Reject, true, nil
					case "q":
						quit = true
						return snapshot.Skip, true, nil
					}
				}
			})
			if err != nil {
				return exitUsage, err
			}
		}
		st, err := p.Settle(pd, ds)
		if err != nil {
			return exitUsage, err
		}
		msg := fmt.Sprintf("review: %s: %d accepted, %d rejected, %d skipped", name, st.Accepted, st.Rejected, st.Skipped)
		if st.Wrote {
			msg += "; wrote " + p.BaselinePath(name) + " (commit it)"
		}
		if st.StillPending {
			msg += "; still pending: behavediff review " + name
		}
		fmt.Fprintln(a.stderr, msg)
	}
	return code, nil
}

func fill(n int, d snapshot.Decision) []snapshot.Decision {
	out := make([]snapshot.Decision, n)
	for i := range out {
		out[i] = d
	}
	return out
}

// showChange prints one change the way check reports a finding.
func (a *app) showChange(i, n int, c snapshot.Change) {
	f := c.Finding
	sign := "+"
	if f.Change == diff.Removed {
		sign = "-"
	}
	head := fmt.Sprintf("[%d/%d] %s %s  %s %s", i+1, n, strings.ToUpper(f.Level.String()), f.Kind, sign, f.Subject)
	if a.colorOn(a.stdout) && f.Level >= diff.High {
		head = ansiRed + ansiBold + head + ansiReset
	}
	fmt.Fprintf(a.stdout, "\n%s\n", head)
	if f.Reason != "" {
		fmt.Fprintf(a.stdout, "    reason: %s\n", f.Reason)
	}
	if f.Process != "" {
		fmt.Fprintf(a.stdout, "    by:     %s\n", f.Process)
	}
	for _, argv := range c.Argv {
		fmt.Fprintf(a.stdout, "    argv:   %s\n", argv)
	}
	if f.Query != "" {
		fmt.Fprintf(a.stdout, "    query:  %s\n", f.Query)
	}
	if c.Entries > 1 {
		fmt.Fprintf(a.stdout, "    (%d baseline entries)\n", c.Entries)
	}
}
