package main

import (
	"bufio"
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

// Exit codes CI can rely on.
const (
	exitOK          = 0
	exitFindings    = 1   // check/diff: new behaviour at or above --fail-on
	exitCheckErr    = 2   // check/diff: could not decide (missing baseline, inconclusive run, error)
	exitInterrupted = 130 // interrupted (Ctrl-C), like a shell
	exitUsage       = 125 // behavediff itself failed or was used wrongly (docker's convention)
	exitNotFound    = 127 // record: the command does not exist in the sandbox (like a shell)
)

const topUsage = `behavediff — behaviour snapshot tests for code you did not write yourself.

It runs a command in a hardened containerd sandbox, records everything it does
with eBPF (processes, syscalls, files, network, privilege attempts) into SQLite,
and later fails like a snapshot test when the behaviour changes in a risky way.

Usage:
  behavediff init                                create .behavediff/ with a commented config.yaml
  behavediff record [flags] -- CMD [ARGS...]     run CMD in a sandbox and record it
  behavediff runs   [--db FILE]                  list recorded runs
  behavediff show   [--format text|json] RUN     summarise a run (RUN = id, name or "last")
  behavediff query  [--format table|json|csv] SQL | -f FILE | -
                                                 read-only SQL over traces (docs/schema.md)
  behavediff replay RUN|NAME                     run a stored spec again, linked to the original
  behavediff approve [--yes] [--runs N] REF... | --all
                                                 write the baseline .behavediff/baselines/NAME.yaml
  behavediff check  [--fail-on LEVEL] [--jobs N] [--enforce] [NAME...]
                                                 replay specs and compare with their baselines
  behavediff review [NAME...] | --accept NAME... | --reject NAME...
                                                 accept or reject pending changes one finding at a time
  behavediff diff   RUN_A RUN_B | --baseline NAME RUN
                                                 list behaviour differences with risk levels
  behavediff policy [--format allowlist|json|seccomp] NAME
                                                 print what --enforce applies for NAME
  behavediff merge  -o OUT INPUT...              combine shards' trace databases or reports
  behavediff export --format parquet|jsonl --out DIR [RUN...]
                                                 write the views as files for a warehouse
  behavediff report RUN -o FILE                  one self-contained HTML page about a run
  behavediff completion bash|zsh|fish            print a shell completion script
  behavediff version | help [COMMAND]

Run "behavediff help COMMAND" (or COMMAND --help) for the flags of one command.
--color=auto|always|never before or after the command sets colour (auto: on a
terminal, unless NO_COLOR is set).

The loop: record --name NAME once, approve NAME, commit .behavediff/; in CI,
check; when it fails, review (locally, or on the pending files from CI).

Exit codes: record passes the command's own exit code through (124 on timeout,
130 when interrupted, 127 when the command does not exist); check and diff exit
0 when nothing new at or above --fail-on, 1 when something is, 2 when they
could not decide, 130 when interrupted; 125 means behavediff itself failed or
was called wrongly.
`

// commands lists every command once: dispatch, "did you mean" and
// completion all read it.
var commands = []string{"init", "record", "runs", "show", "query", "replay", "approve", "check", "review", "diff", "policy", "merge", "export", "report", "completion", "version", "help"}

// app carries the process-wide I/O so commands stay testable.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	color          string        // --color: auto, always or never
	in             *bufio.Reader // stdin, buffered once for prompts
	getenv         func(string) string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a := &app{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}
	os.Exit(a.run(ctx, os.Args[1:]))
}

func (a *app) run(ctx context.Context, args []string) int {
	args, err := a.globalFlags(args)
	if err != nil {
		fmt.Fprintf(a.stderr, "behavediff: %v\n", err)
		return exitUsage
	}
	if len(args) == 0 {
		fmt.Fprint(a.stderr, topUsage)
		return exitUsage
	}
	cmd, rest := args[0], args[1:]
	var code int
	switch cmd {
	case "init":
		code, err = a.init(ctx, rest)
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
	case "review":
		code, err = a.review(ctx, rest)
	case "completion":
		code, err = a.completion(ctx, rest)
	case "merge":
		code, err = a.merge(ctx, rest)
	case "export":
		code, err = a.export(ctx, rest)
	case "report":
		code, err = a.htmlReport(ctx, rest)
	case "policy":
		code, err = a.policy(ctx, rest)
	case "version", "--version":
		fmt.Fprintln(a.stdout, "behavediff", versionString())
		return exitOK
	case "help", "-h", "--help":
		if len(rest) > 0 && rest[0] != "help" {
			return a.run(ctx, []string{rest[0], "--help"})
		}
		fmt.Fprint(a.stdout, topUsage)
		return exitOK
	default:
		msg := fmt.Sprintf("behavediff: unknown command %q", cmd)
		if s := suggest(cmd, commands); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
		fmt.Fprintf(a.stderr, "%s\nRun \"behavediff help\" for the list of commands.\n", msg)
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

// globalFlags takes --color off the arguments (anywhere before "--", so it
// never touches a recorded command's own arguments).
func (a *app) globalFlags(args []string) ([]string, error) {
	if a.color == "" {
		a.color = "auto"
	}
	var out []string
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			out = append(out, args[i:]...)
			break
		}
		v, ok := strings.CutPrefix(strings.TrimPrefix(arg, "-"), "-color")
		switch {
		case !ok || (v != "" && v[0] != '='):
			out = append(out, arg)
			continue
		case v == "":
			if i+1 >= len(args) {
				return nil, errors.New("--color wants auto, always or never")
			}
			i++
			v = args[i]
		default:
			v = v[1:]
		}
		switch v {
		case "auto", "always", "never":
			a.color = v
		default:
			return nil, fmt.Errorf("--color=%s: want auto, always or never", v)
		}
	}
	return out, nil
}

// newFlags makes a FlagSet with a usage text that teaches (a synopsis, a
// description, then the flags). Asked for (--help), it goes to stdout so it
// can be paged; after a usage error, to stderr.
func (a *app) newFlags(name, synopsis, about string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	errs := &countingWriter{w: a.stderr}
	fs.SetOutput(errs)
	fs.Usage = func() {
		out := a.stdout
		if errs.n > 0 {
			out = a.stderr
		}
		fmt.Fprintf(out, "Usage: behavediff %s %s\n\n%s\n\nFlags:\n", name, synopsis, strings.TrimSpace(about))
		fs.SetOutput(out)
		fs.PrintDefaults()
		fs.SetOutput(errs)
	}
	return fs
}

// countingWriter tells whether the flag package wrote an error before it
// asked for the usage text.
type countingWriter struct {
	w io.Writer
	n int
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += len(p)
	return c.w.Write(p)
}

// parseInterleaved parses flags that may appear before or after positional
// arguments ("show 3 --db x" as well as "show --db x 3"). "--" ends flags.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, flagSuggestion(fs, err)
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

// flagSuggestion adds "did you mean --X?" to an unknown-flag error.
func flagSuggestion(fs *flag.FlagSet, err error) error {
	name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -")
	if !ok {
		return err
	}
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	if s := suggest(strings.TrimPrefix(name, "-"), names); s != "" {
		return fmt.Errorf("%w; did you mean --%s?", err, s)
	}
	return err
}

// usageError marks bad invocations; they print with the command's usage hint.
func usageError(format string, args ...any) error {
	return fmt.Errorf(format, args...)
}
