package report

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"path/filepath"
	"strings"

	"github.com/behavediff/behavediff/diff"
)

// Schema names the JSON document's format and version (docs/report.md). A
// reader checks it before trusting the fields; fields are only added within
// one version, never renamed or removed.
const Schema = "behavediff.report/v1"

// Verdicts (Document.Verdict) are the spec statuses of package diff; the
// document's verdict is the worst of its specs' (see statusRank).
var statusRank = map[string]int{
	diff.StatusPass: 0, diff.StatusFail: 1, diff.StatusNew: 2, diff.StatusInconclusive: 3, diff.StatusError: 4,
}

// Exit codes of check and diff (README), repeated in the document so a CI
// step reading only the report decides like the command did.
const (
	ExitPass      = 0
	ExitFindings  = 1
	ExitUndecided = 2
)

// Document is the versioned JSON form of a check or diff result.
type Document struct {
	Schema   string  `json:"schema"`
	Tool     Tool    `json:"tool"`
	Command  string  `json:"command"`           // "check", "diff" or "merge"
	FailOn   string  `json:"fail_on,omitempty"` // level name given to --fail-on
	Verdict  string  `json:"verdict"`           // worst spec status
	ExitCode int     `json:"exit_code"`         // what check/diff exit with
	Summary  Summary `json:"summary"`
	Specs    []Spec  `json:"specs"`
	// Unreferenced lists baselines no spec uses; Interrupted says the
	// check was stopped (Ctrl-C) and some specs were skipped.
	Unreferenced []string `json:"unreferenced_baselines,omitempty"`
	Interrupted  bool     `json:"interrupted,omitempty"`
}

// Tool identifies the behavediff that wrote the report.
type Tool struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Summary counts specs by status and findings by level.
type Summary struct {
	Specs        int            `json:"specs"`
	Passed       int            `json:"passed"`
	Failed       int            `json:"failed"`
	New          int            `json:"new"`
	Inconclusive int            `json:"inconclusive"`
	Errors       int            `json:"errors"`
	Findings     int            `json:"findings"`
	ByLevel      map[string]int `json:"by_level"`
}

// Spec is one spec's result.
type Spec struct {
	Name         string    `json:"name"`
	RunID        int64     `json:"run_id,omitempty"`
	Status       string    `json:"status"`
	Error        string    `json:"error,omitempty"`
	SpecFile     string    `json:"spec_file,omitempty"`     // relative to the project root
	BaselineFile string    `json:"baseline_file,omitempty"` // relative to the project root
	Origin       string    `json:"origin,omitempty"`        // merge: the report it came from
	Findings     []Finding `json:"findings"`
	// As in diff.SpecResult: the replay's exit code, the end of a failing
	// replay's stderr, the pending baseline written for review, how long
	// the spec took, and what to run next.
	CommandExit *int     `json:"command_exit_code,omitempty"`
	StderrTail  string   `json:"stderr_tail,omitempty"`
	Pending     string   `json:"pending,omitempty"`
	DurationMS  int64    `json:"duration_ms,omitempty"`
	Next        []string `json:"next,omitempty"`
}

// Finding is a diff.Finding with what CI systems need to track it.
type Finding struct {
	diff.Finding
	RuleID       string `json:"rule_id"`                 // e.g. BD-SECRET-READ
	Fingerprint  string `json:"fingerprint"`             // stable across runs of the same spec
	BaselineLine int    `json:"baseline_line,omitempty"` // nearest baseline entry (1-based)
}

// Options say where the report's files are, for locations in SARIF and the
// file names in the other formats.
type Options struct {
	Command      string                   // check, diff
	Version      string                   // behavediff version
	FailOn       diff.Level               // the --fail-on level
	Root         string                   // project root; paths are made relative to it
	SpecPath     func(name string) string // absolute path of a spec file ("" or nil: none)
	BaselinePath func(name string) string // absolute path of a baseline file
}

// Build turns a diff.Report into a Document. Baseline files that exist are
// read to find the line of each finding's nearest baseline entry.
func Build(r diff.Report, o Options) Document {
	d := Document{
		Schema: Schema, Tool: Tool{Name: "behavediff", Version: o.Version},
		Command: o.Command, FailOn: o.FailOn.String(),
	}
	for _, s := range r.Specs {
		sp := Spec{Name: s.Name, RunID: s.RunID, Status: s.Status, Error: s.Error, Findings: []Finding{},
			CommandExit: s.ExitCode, StderrTail: s.StderrTail, Pending: s.Pending, DurationMS: s.DurationMS, Next: s.Next}
		var lines *baselineLines
		if o.SpecPath != nil {
			sp.SpecFile = existingRel(o.Root, o.SpecPath(s.Name))
		}
		if o.BaselinePath != nil {
			if p := o.BaselinePath(s.Name); p != "" {
				sp.BaselineFile = existingRel(o.Root, p)
				if sp.BaselineFile != "" {
					lines = loadBaselineLines(p)
				}
			}
		}
		for _, f := range s.Findings {
			sp.Findings = append(sp.Findings, newFinding(s.Name, f, lines))
		}
		d.Specs = append(d.Specs, sp)
	}
	d.Unreferenced, d.Interrupted = r.Unreferenced, r.Interrupted
	d.finish()
	return d
}

func newFinding(spec string, f diff.Finding, lines *baselineLines) Finding {
	out := Finding{Finding: f, RuleID: RuleID(f), Fingerprint: Fingerprint(spec, f)}
	if lines != nil {
		out.BaselineLine = lines.nearest(f.Section, f.Subject, f.Change == diff.Removed)
	}
	return out
}

// finish recomputes the verdict, exit code and summary from the specs.
func (d *Document) finish() {
	if d.Specs == nil {
		d.Specs = []Spec{}
	}
	d.Summary = Summary{Specs: len(d.Specs), ByLevel: map[string]int{}}
	d.Verdict, d.ExitCode = diff.StatusPass, ExitPass
	for _, s := range d.Specs {
		if statusRank[s.Status] > statusRank[d.Verdict] {
			d.Verdict = s.Status
		}
		switch s.Status {
		case diff.StatusPass:
			d.Summary.Passed++
		case diff.StatusFail:
			d.Summary.Failed++
			if d.ExitCode == ExitPass {
				d.ExitCode = ExitFindings
			}
		case diff.StatusNew:
			d.Summary.New++
			d.ExitCode = ExitUndecided
		case diff.StatusInconclusive:
			d.Summary.Inconclusive++
			d.ExitCode = ExitUndecided
		default:
			d.Summary.Errors++
			d.ExitCode = ExitUndecided
		}
		for _, f := range s.Findings {
			d.Summary.Findings++
			d.Summary.ByLevel[f.Level.String()]++
		}
	}
}

// DiffReport converts back to the diff package's form (for the text view).
func (d Document) DiffReport() diff.Report {
	r := diff.Report{Unreferenced: d.Unreferenced, Interrupted: d.Interrupted}
	for _, s := range d.Specs {
		sr := diff.SpecResult{Name: s.Name, RunID: s.RunID, Status: s.Status, Error: s.Error,
			ExitCode: s.CommandExit, StderrTail: s.StderrTail, Pending: s.Pending, DurationMS: s.DurationMS, Next: s.Next}
		for _, f := range s.Findings {
			sr.Findings = append(sr.Findings, f.Finding)
		}
		r.Specs = append(r.Specs, sr)
	}
	return r
}

// RuleID is the finding's rule id: the one the finding carries when the
// risk policy names its rules, else one derived from the kind
// ("secret-read" → "BD-SECRET-READ"), stable across versions. The carried id
// is read through the finding's JSON form so this package does not depend
// on which Go field holds it.
func RuleID(f diff.Finding) string {
	if b, err := json.Marshal(f); err == nil {
		var m map[string]any
		if json.Unmarshal(b, &m) == nil {
			for _, k := range []string{"rule_id", "rule"} {
				if s, ok := m[k].(string); ok && s != "" {
					return s
				}
			}
		}
	}
	return KindRuleID(f.Kind)
}

// KindRuleID derives a rule id from a finding kind.
func KindRuleID(kind string) string {
	if kind == "" {
		kind = "unknown"
	}
	return "BD-" + strings.ToUpper(strings.ReplaceAll(kind, "_", "-"))
}

// Fingerprint identifies a finding across runs: the spec, the kind, the
// direction and the normalised entry — never run ids, pids or times, which
// differ between runs of the same behaviour.
func Fingerprint(spec string, f diff.Finding) string {
	h := sha256.New()
	for _, s := range []string{"v1", spec, f.Kind, f.Change, f.Section, f.Subject} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// existingRel is path relative to root (slash-separated) when the file
// exists under root, else "".
func existingRel(root, path string) string {
	if path == "" || !fileExists(path) {
		return ""
	}
	if root == "" {
		return filepath.ToSlash(path)
	}
	rel, err := filepath.Rel(root, path)
	if err != nil || strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(path)
	}
	return filepath.ToSlash(rel)
}
