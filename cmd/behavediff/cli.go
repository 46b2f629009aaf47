package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"

	"golang.org/x/term"
)

// version is stamped by the Makefile (-ldflags -X main.version=...).
var version = ""

// versionString is the stamped version, else the module version of a `go
// install ...@vX`, else the VCS revision the binary was built from.
func versionString() string {
	if version != "" && version != "dev" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, modified, when string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value
		case "vcs.time":
			when = s.Value
		}
	}
	if rev == "" {
		return "devel (no version or VCS information in this build)"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	v := "devel-" + rev
	if modified == "true" {
		v += "-dirty"
	}
	if when != "" {
		v += " (" + when + ")"
	}
	return v
}

// suggest returns the candidate closest to s, when it is close enough to
// be a typo.
func suggest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		d := editDistance(s, c)
		if strings.HasPrefix(c, s) && len(s) >= 2 {
			d = 1
		}
		if d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// colorOn decides whether w gets ANSI colours: --color, then NO_COLOR, then
// whether w is a terminal.
func (a *app) colorOn(w io.Writer) bool {
	switch a.color {
	case "always":
		return true
	case "never":
		return false
	}
	if a.getenv != nil && a.getenv("NO_COLOR") != "" {
		return false
	}
	return isTerminal(w)
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

const (
	ansiRed    = "\x1b[31m"
	ansiGreen  = "\x1b[32m"
	ansiYellow = "\x1b[33m"
	ansiBold   = "\x1b[1m"
	ansiDim    = "\x1b[2m"
	ansiReset  = "\x1b[0m"
)

// colorize paints a rendered text report line by line: verdict marks and
// level headings. The report itself stays plain data and plain text.
func colorize(text string) string {
	lines := strings.SplitAfter(text, "\n")
	for i, l := range lines {
		body := strings.TrimRight(l, "\n")
		nl := l[len(body):]
		c := ""
		switch t := strings.TrimSpace(body); {
		case strings.HasPrefix(body, "✓"):
			c = ansiGreen
		case strings.HasPrefix(body, "✗"), t == "CRITICAL", t == "HIGH":
			c = ansiRed + ansiBold
		case strings.HasPrefix(body, "?"), strings.HasPrefix(body, "!"), strings.HasPrefix(body, "+"), t == "MEDIUM":
			c = ansiYellow
		case strings.HasPrefix(t, "next:"), strings.HasPrefix(t, "query:"):
			c = ansiDim
		}
		if c != "" && body != "" {
			lines[i] = c + body + ansiReset + nl
		}
	}
	return strings.Join(lines, "")
}

// writeText writes a rendered report to stdout, coloured when wanted.
func (a *app) writeText(text string) error {
	if a.colorOn(a.stdout) {
		text = colorize(text)
	}
	_, err := io.WriteString(a.stdout, text)
	return err
}

const completionAbout = `
Prints a completion script for bash, zsh or fish. Commands, their flags and
the project's spec names complete.

  bash:  source <(behavediff completion bash)
  zsh:   behavediff completion zsh > "${fpath[1]}/_behavediff"
  fish:  behavediff completion fish > ~/.config/fish/completions/behavediff.fish`

var flagLine = regexp.MustCompile(`(?m)^  -(\S+)`)

// completion writes a static script: commands and each command's flags as
// its own --help lists them (one source of truth), and spec names read at
// completion time from .behavediff/specs.
func (a *app) completion(ctx context.Context, args []string) (int, error) {
	fs := a.newFlags("completion", "bash|zsh|fish", completionAbout)
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return exitUsage, err
	}
	if len(pos) != 1 {
		return exitUsage, usageError("completion wants one shell: bash, zsh or fish")
	}
	flags := map[string][]string{}
	for _, c := range commands {
		var out bytes.Buffer
		sub := &app{stdin: strings.NewReader(""), stdout: &out, stderr: io.Discard, color: "never"}
		switch c {
		case "version", "help", "completion":
			continue
		}
		sub.run(ctx, []string{c, "--help"})
		for _, m := range flagLine.FindAllStringSubmatch(out.String(), -1) {
			flags[c] = append(flags[c], "--"+m[1])
		}
		sort.Strings(flags[c])
	}
	cmds := strings.Join(commands, " ")
	specs := `ls .behavediff/specs 2>/dev/null | sed -n 's/\.yaml$//p'`
	switch pos[0] {
	case "bash":
		fmt.Fprintf(a.stdout, "# bash completion for behavediff\n_behavediff() {\n  local cur=\"${COMP_WORDS[COMP_CWORD]}\" cmd=\"${COMP_WORDS[1]}\"\n  if [ \"$COMP_CWORD\" -eq 1 ]; then COMPREPLY=($(compgen -W %q -- \"$cur\")); return; fi\n  case \"$cmd\" in\n", cmds)
		for _, c := range commands {
			if len(flags[c]) > 0 {
				fmt.Fprintf(a.stdout, "    %s) if [[ \"$cur\" == -* ]]; then COMPREPLY=($(compgen -W %q -- \"$cur\")); return; fi;;\n", c, strings.Join(flags[c], " "))
			}
		}
		fmt.Fprintf(a.stdout, "    completion) COMPREPLY=($(compgen -W \"bash zsh fish\" -- \"$cur\")); return;;\n    help) COMPREPLY=($(compgen -W %q -- \"$cur\")); return;;\n  esac\n  COMPREPLY=($(compgen -W \"$(%s)\" -- \"$cur\"))\n}\ncomplete -F _behavediff behavediff\n", cmds, specs)
	case "zsh":
		fmt.Fprintf(a.stdout, "#compdef behavediff\n_behavediff() {\n  if (( CURRENT == 2 )); then compadd -- %s; return; fi\n  case $words[2] in\n", cmds)
		for _, c := range commands {
			if len(flags[c]) > 0 {
				fmt.Fprintf(a.stdout, "    %s) compadd -- %s;;\n", c, strings.Join(flags[c], " "))
			}
		}
		fmt.Fprintf(a.stdout, "  esac\n  compadd -- $(%s)\n}\ncompdef _behavediff behavediff\n", specs)
	case "fish":
		fmt.Fprintf(a.stdout, "# fish completion for behavediff\ncomplete -c behavediff -f\ncomplete -c behavediff -n __fish_use_subcommand -a %q\n", cmds)
		for _, c := range commands {
			for _, f := range flags[c] {
				fmt.Fprintf(a.stdout, "complete -c behavediff -n '__fish_seen_subcommand_from %s' -l %s\n", c, strings.TrimPrefix(f, "--"))
			}
		}
		fmt.Fprintf(a.stdout, "complete -c behavediff -n '__fish_seen_subcommand_from approve check review replay show' -a '(%s)'\n", specs)
	default:
		return exitUsage, usageError("completion: unknown shell %q (want bash, zsh or fish)", pos[0])
	}
	return exitOK, nil
}
