// Command behavediff records what a program does in a sandbox and fails like
// a snapshot test when its behaviour changes in a risky way.
//
// This package only wires flags to the recorder, store, baseline and diff
// packages; behaviour lives there.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// version is stamped by the Makefile (-ldflags -X main.version=...).
var version = "dev"

// Exit codes CI can rely on.
const (
	exitOK       = 0
	exitFindings = 1   // check/diff: new behaviour at or above --fail-on
	exitCheckErr = 2   // check/diff: could not decide (missing baseline, inconclusive run, error)
	exitUsage    = 125 // behavediff itself failed or was used wrongly (docker's convention)
	exitNotFound = 127 // record: the command does not exist in the sandbox (like a shell)
)

const topUsage = `behavediff — behaviour snapshot tests for code you did not write yourself.

It runs a command in a hardened containerd sandbox, records everything it does
with eBPF (processes, syscalls, files, network, privilege attempts) into SQLite,
and later fails like a snapshot test when the behaviour changes in a risky way.

Usage:
  behavediff record [flags] -- CMD [ARGS...]   run CMD in a sandbox and record it
  behavediff runs   [--db FILE]                 list recorded runs
  behavediff show   [--db FILE] RUN             summarise a run (RUN = id, name or "last")
  behavediff query  [--db FILE] [--format table|json|csv] SQL
                                                read-only SQL over traces (docs/schema.md)
  behavediff replay [--db FILE] RUN|NAME        run a stored spec again, linked to the original
  behavediff approve [--yes] [--runs N] RUN|NAME
                                                write the baseline .behavediff/baselines/NAME.yaml
  behavediff diff   RUN_A RUN_B | --baseline NAME RUN
                                                list behaviour differences with risk levels
  behavediff check  [--fail-on LEVEL] [NAME...]  replay specs and compare with their baselines
  behavediff merge  -o OUT INPUT...             combine shards' trace databases or reports
  behavediff export --format parquet|jsonl --out DIR [RUN...]
                                                write the views as files for a warehouse
  behavediff report RUN -o FILE                 one self-contained HTML page about a run
  behavediff version

Run "behavediff COMMAND --help" for the flags of one command.

Exit codes: record passes the command's own exit code through (124 on timeout,
130 when interrupted, 127 when the command does not exist); check and diff exit 0 when nothing new at or above
--fail-on, 1 when something is, 2 when they could not decide; 125 means
behavediff itself failed or was called wrongly.
`

// app carries the process-wide I/O so commands stay testable.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	os.Exit(a.run(ctx, os.Args[1:]))
}

func (a *app) run(ctx context.Context, args []string) int {
	if len(args) == 0 {
		fmt.Fprint(a.stderr, topUsage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	var code int
	var err error
	switch cmd {
	case "record":
		code, err = a.record(ctx, rest)
	case "runs":
		code, err = a.runs(ctx, rest)
	case "show":
		code, err = a.show(ctx, rest)
	case "query":
		code, err = a.query(ctx, rest)
	case "replay":
		code, err = a.replay(ctx, rest)
	case "approve":
		code, err = a.approve(ctx, rest)
	case "diff":
		code, err = a.diff(ctx, rest)
	case "check":
		code, err = a.check(ctx, rest)
	case "merge":
		code, err = a.merge(ctx, rest)
	case "export":
		code, err = a.export(ctx, rest)
	case "report":
		code, err = a.htmlReport(ctx, rest)
	case "version", "--version":
		fmt.Fprintln(a.stdout, "behavediff", version)
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(a.stdout, topUsage)
		return exitOK
	default:
		fmt.Fprintf(a.stderr, "behavediff: unknown command %q\n\n%s", cmd, topUsage)
		return exitUsage
	}
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(a.stderr, "behavediff %s: %v\n", cmd, err)
		if code == 0 {
			code = exitUsage
		}
	}
	return code
}

// newFlags makes a FlagSet whose errors and help go to stderr with a usage
// text that teaches (a synopsis, a description, then the flags).
func (a *app) newFlags(name, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(a.stderr)
	fs.Usage = func() {
		fmt.Fprintf(a.stderr, "Usage: behavediff %s %s\n\n%s\n\nFlags:\n", name, synopsis, strings.TrimSpace(about))
		fs.PrintDefaults()
	}
	return fs
}

// parseInterleaved parses flags that may appear before or after positional
// arguments ("show 3 --db x" as well as "show --db x 3"). "--" ends flags.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// usageError marks bad invocations; they print with the command's usage hint.
func usageError(format string, args ...any) error {
	return fmt.Errorf(format, args...)
}
