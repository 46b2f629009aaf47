package diff_test

import (
	"strings"
	"testing"

	"github.com/behavediff/behavediff/baseline"
	"github.com/behavediff/behavediff/baseline/baselinetest"
	"github.com/behavediff/behavediff/diff"
)

func TestExitCodeFinding(t *testing.T) {
	base, err := baseline.FromTrace(baselinetest.Benign(1).T, baseline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tr := baselinetest.Benign(2).T
	tr.Run.ExitCode = 3
	cur, err := baseline.FromTrace(tr, baseline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	fs := diff.Compare(base, cur, diff.Context{RunID: 9})
	var got []diff.Finding
	for _, f := range fs {
		if f.Kind == "exit-code" {
			got = append(got, f)
		}
	}
	if len(got) != 1 || got[0].Level != diff.ExitCodeLevel || got[0].Subject != "exit 3" || got[0].Rule != diff.RuleExitCode || !strings.Contains(got[0].Reason, "approved: exits 0") {
		t.Fatalf("exit-code findings = %+v", got)
	}
	// Same code: nothing; unknown approved code (older file): nothing.
	tr.Run.ExitCode = 0
	cur, _ = baseline.FromTrace(tr, baseline.Options{})
	base2 := *base
	for _, pair := range [][2]*baseline.Baseline{{base, cur}, {&base2, cur}} {
		base2.Exit = nil
		for _, f := range diff.Compare(pair[0], pair[1], diff.Context{}) {
			if f.Kind == "exit-code" {
				t.Errorf("unexpected %+v", f)
			}
		}
	}
	// A timeout is named as such.
	tr.Run.ExitCode, tr.Run.Status = 137, "timeout"
	cur, _ = baseline.FromTrace(tr, baseline.Options{})
	fs = diff.Compare(base, cur, diff.Context{TimedOut: true})
	if len(fs) == 0 || fs[0].Kind != "exit-code" || !strings.Contains(fs[0].Reason, "times out") {
		t.Fatalf("timeout: first finding %+v", fs[0])
	}
}
