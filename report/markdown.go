package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/behavediff/behavediff/diff"
	"github.com/behavediff/behavediff/internal/errwriter"
)

var statusIcon = map[string]string{
	diff.StatusPass: "✅", diff.StatusFail: "❌", diff.StatusNew: "🆕", diff.StatusInconclusive: "❓", diff.StatusError: "⚠️",
}

// WriteMarkdown renders d for a CI job summary ($GITHUB_STEP_SUMMARY) or a
// merge-request comment: the verdict, a table of specs, then each spec's
// findings with the query behind each folded away. Like the text view it
// holds no times, so it can be golden-tested.
func WriteMarkdown(w io.Writer, d Document) error {
	ew := errwriter.New(w)
	ew.Printf("## behavediff %s: %s %s\n\n", orDefault(d.Command, "check"), statusIcon[d.Verdict], d.Verdict)
	s := d.Summary
	ew.Printf("%s: %d passed, %d failed", plural(s.Specs, "spec", "specs"), s.Passed, s.Failed)
	if s.New > 0 {
		ew.Printf(", %d without a baseline", s.New)
	}
	if s.Inconclusive > 0 {
		ew.Printf(", %d inconclusive", s.Inconclusive)
	}
	if s.Errors > 0 {
		ew.Printf(", %s", plural(s.Errors, "error", "errors"))
	}
	ew.Printf(". Fails on `%s` and above.\n\n", d.FailOn)
	if len(d.Specs) == 0 {
		return ew.Err()
	}
	ew.Printf("| spec | status | findings | worst | run |\n|---|---|---|---|---|\n")
	for _, sp := range d.Specs {
		worst := "–"
		if len(sp.Findings) > 0 {
			worst = worstOf(sp.Findings).String()
		}
		run := "–"
		if sp.RunID != 0 {
			run = fmt.Sprint(sp.RunID)
		}
		ew.Printf("| %s | %s %s | %d | %s | %s |\n", cell(sp.Name), statusIcon[sp.Status], sp.Status, len(sp.Findings), worst, run)
	}
	for _, sp := range d.Specs {
		if len(sp.Findings) == 0 && sp.Error == "" {
			continue
		}
		ew.Printf("\n### %s %s\n\n", statusIcon[sp.Status], sp.Name)
		if sp.Error != "" {
			ew.Printf("> %s\n\n", strings.ReplaceAll(sp.Error, "\n", " "))
		}
		if sp.Status == diff.StatusNew {
			ew.Printf("Review the pending baseline, then run `behavediff approve %s` and commit it.\n\n", sp.Name)
		}
		if len(sp.Findings) == 0 {
			continue
		}
		ew.Printf("| level | rule | change | what | reason | process |\n|---|---|---|---|---|---|\n")
		for _, f := range sp.Findings {
			ew.Printf("| %s | `%s` | %s %s | `%s` | %s | %s |\n", f.Level, f.RuleID, f.Change, f.Section,
				cell(f.Subject), cell(f.Reason), cell(f.Process))
		}
		ew.Printf("\n<details><summary>queries behind the findings</summary>\n\n```sh\n")
		for _, f := range sp.Findings {
			if f.Query != "" {
				ew.Printf("%s\n", f.Query)
			}
		}
		ew.Printf("```\n\n</details>\n")
	}
	return ew.Err()
}

// cell makes text safe inside a Markdown table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", "\\|")
	return strings.ReplaceAll(s, "`", "'")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
