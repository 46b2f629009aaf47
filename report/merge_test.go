package report_test

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/behavediff/behavediff/diff"
	"github.com/behavediff/behavediff/report"
)

// Two shards' reports merge into one keeping every spec and finding, with
// the worst verdict, in every format.
func TestMergeReports(t *testing.T) {
	_, o := project(t)
	full := report.Build(sample(t, 5, 42), o)
	a, b := full, full
	a.Specs = full.Specs[:2]  // build (fail), lint (pass)
	b.Specs = full.Specs[2:4] // clean (pass), flaky (inconclusive)
	a = report.Merge(nil, []report.Document{a})
	b = report.Merge(nil, []report.Document{b})
	if a.Verdict != diff.StatusFail || b.Verdict != diff.StatusInconclusive {
		t.Fatalf("shard verdicts %s, %s", a.Verdict, b.Verdict)
	}
	dir := t.TempDir()
	var jsons, sarifs, junits []string
	for i, d := range []report.Document{a, b} {
		for _, f := range []struct {
			fm  report.Format
			ext string
			to  *[]string
		}{{report.JSON, ".json", &jsons}, {report.SARIF, ".sarif", &sarifs}, {report.JUnitXML, ".xml", &junits}} {
			p := filepath.Join(dir, string(rune('a'+i))+f.ext)
			if err := report.WriteFile(p, f.fm, d); err != nil {
				t.Fatal(err)
			}
			*f.to = append(*f.to, p)
		}
	}
	wantFindings := len(full.Specs[0].Findings) + len(full.Specs[1].Findings)

	out := filepath.Join(dir, "all.json")
	if err := report.MergeFiles(out, jsons); err != nil {
		t.Fatal(err)
	}
	m, err := report.ReadDocument(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Specs) != 4 || m.Summary.Findings != wantFindings || m.Verdict != diff.StatusInconclusive || m.ExitCode != report.ExitUndecided {
		t.Errorf("merged JSON: %d specs, %d findings, verdict %s, exit %d; want 4, %d, inconclusive, 2",
			len(m.Specs), m.Summary.Findings, m.Verdict, m.ExitCode, wantFindings)
	}
	if m.Specs[0].Origin != jsons[0] || m.Specs[3].Origin != jsons[1] {
		t.Errorf("origins %q %q", m.Specs[0].Origin, m.Specs[3].Origin)
	}
	for _, ext := range []string{".md", ".sarif", ".xml", ".txt"} {
		if err := report.MergeFiles(filepath.Join(dir, "fromjson"+ext), jsons); err != nil {
			t.Errorf("JSON into %s: %v", ext, err)
		}
	}

	outS := filepath.Join(dir, "all.sarif")
	if err := report.MergeFiles(outS, sarifs); err != nil {
		t.Fatal(err)
	}
	sb, _ := os.ReadFile(outS)
	validateSARIF(t, sarifSchema(t), sb)
	var s sarifOut
	if err := json.Unmarshal(sb, &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Runs) != 1 || len(s.Runs[0].Results) != wantFindings {
		t.Errorf("merged SARIF: %d runs, %d results; want 1, %d", len(s.Runs), len(s.Runs[0].Results), wantFindings)
	}
	for _, r := range s.Runs[0].Results {
		if s.Runs[0].Tool.Driver.Rules[r.RuleIndex].ID != r.RuleID {
			t.Errorf("merged result %s points at rule %d", r.RuleID, r.RuleIndex)
		}
	}

	outJ := filepath.Join(dir, "all.xml")
	if err := report.MergeFiles(outJ, junits); err != nil {
		t.Fatal(err)
	}
	jb, _ := os.ReadFile(outJ)
	var j report.JUnitSuites
	if err := xml.Unmarshal(jb, &j); err != nil {
		t.Fatal(err)
	}
	if j.Tests != 4 || j.Failures != 1 || j.Errors != 1 {
		t.Errorf("merged JUnit: tests=%d failures=%d errors=%d; want 4, 1, 1", j.Tests, j.Failures, j.Errors)
	}

	if err := report.MergeFiles(filepath.Join(dir, "x.json"), []string{jsons[0], sarifs[1]}); !errors.Is(err, report.ErrMixedInputs) {
		t.Errorf("mixed inputs: %v", err)
	}
	if err := report.MergeFiles(filepath.Join(dir, "x.xml"), sarifs); err == nil {
		t.Error("SARIF merged into JUnit")
	}
}
