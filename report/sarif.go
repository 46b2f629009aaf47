package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/behavediff/behavediff/diff"
)

// SARIF 2.1.0 (OASIS): only the parts behavediff fills in.
const (
	sarifVersion = "2.1.0"
	sarifSchema  = "https://json.schemastore.org/sarif-2.1.0.json"
	// FingerprintKey names behavediff's partial fingerprint; the /v1 moves
	// if the fingerprint's recipe ever changes.
	FingerprintKey = "behavediffFinding/v1"
	riskDocURI     = "https://github.com/behavediff/behavediff/blob/main/docs/risk.md"
)

type sarifLog struct {
	Schema  string     `json:"$schema"`
	Version string     `json:"version"`
	Runs    []sarifRun `json:"runs"`
}

type sarifRun struct {
	Tool        sarifTool         `json:"tool"`
	Invocations []sarifInvocation `json:"invocations,omitempty"`
	Results     []sarifResult     `json:"results"`
	Properties  map[string]any    `json:"properties,omitempty"`
}

type sarifTool struct {
	Driver sarifDriver `json:"driver"`
}

type sarifDriver struct {
	Name           string      `json:"name"`
	Version        string      `json:"version,omitempty"`
	InformationURI string      `json:"informationUri,omitempty"`
	Rules          []sarifRule `json:"rules"`
}

type sarifRule struct {
	ID                   string         `json:"id"`
	Name                 string         `json:"name,omitempty"`
	ShortDescription     sarifText      `json:"shortDescription"`
	FullDescription      *sarifText     `json:"fullDescription,omitempty"`
	Help                 *sarifHelp     `json:"help,omitempty"`
	HelpURI              string         `json:"helpUri,omitempty"`
	DefaultConfiguration *sarifConfig   `json:"defaultConfiguration,omitempty"`
	Properties           map[string]any `json:"properties,omitempty"`
}

type sarifText struct {
	Text string `json:"text"`
}

type sarifHelp struct {
	Text     string `json:"text"`
	Markdown string `json:"markdown,omitempty"`
}

type sarifConfig struct {
	Level string `json:"level"`
}

type sarifInvocation struct {
	ExecutionSuccessful bool                `json:"executionSuccessful"`
	ExitCode            *int                `json:"exitCode,omitempty"`
	Notifications       []sarifNotification `json:"toolExecutionNotifications,omitempty"`
}

type sarifNotification struct {
	Level   string    `json:"level"`
	Message sarifText `json:"message"`
}

type sarifResult struct {
	RuleID              string            `json:"ruleId"`
	RuleIndex           int               `json:"ruleIndex"`
	Level               string            `json:"level"`
	Message             sarifText         `json:"message"`
	Locations           []sarifLocation   `json:"locations,omitempty"`
	PartialFingerprints map[string]string `json:"partialFingerprints"`
	Properties          map[string]any    `json:"properties,omitempty"`
}

type sarifLocation struct {
	PhysicalLocation sarifPhysical `json:"physicalLocation"`
	Message          *sarifText    `json:"message,omitempty"`
}

type sarifPhysical struct {
	ArtifactLocation sarifArtifact `json:"artifactLocation"`
	Region           *sarifRegion  `json:"region,omitempty"`
}

type sarifArtifact struct {
	URI string `json:"uri"`
}

type sarifRegion struct {
	StartLine int `json:"startLine"`
}

// sarifLevel maps a risk level to a SARIF level: critical and high are
// errors, medium a warning, low and informational notes.
func sarifLevel(l diff.Level) string {
	switch {
	case l >= diff.High:
		return "error"
	case l == diff.Medium:
		return "warning"
	}
	return "note"
}

// securitySeverity is GitHub code scanning's 0–10 score for a level.
func securitySeverity(l diff.Level) string {
	return [...]string{"0.0", "3.0", "5.5", "8.0", "9.5"}[max(0, min(int(l), 4))]
}

// kindHelp gathers the risk table's rows (diff.Rules, the source of
// docs/risk.md) for one finding kind: the rule's help text.
func kindHelp(kind string) (short string, worst diff.Level, text, md string) {
	var rows []string
	var mdRows []string
	for _, r := range diff.Rules {
		if r.Kind != kind {
			continue
		}
		if short == "" {
			short = r.Reason
		}
		worst = max(worst, r.Level)
		rows = append(rows, fmt.Sprintf("%s: %s (%s)", r.Level, r.When, strings.Join(r.Sections, ", ")))
		mdRows = append(mdRows, fmt.Sprintf("| %s | %s | %s |", r.Level, strings.Join(r.Sections, ", "), r.When))
	}
	if kind == "removed" {
		short, worst = "behaviour in the baseline that the run no longer shows", diff.RemovedLevel
		rows = []string{fmt.Sprintf("%s: behaviour in the baseline (not optional) that the run no longer shows", diff.RemovedLevel)}
		mdRows = []string{fmt.Sprintf("| %s | any | behaviour in the baseline (not optional) that the run no longer shows |", diff.RemovedLevel)}
	}
	if short == "" {
		short = "behaviour difference of kind " + kind
		rows = []string{"see docs/risk.md"}
		mdRows = []string{"| | | see docs/risk.md |"}
	}
	text = "behavediff finding `" + kind + "` (docs/risk.md). When it is reported:\n" + strings.Join(rows, "\n") +
		"\nTo accept the new behaviour, review it and run: behavediff approve SPEC"
	md = "**" + kind + "** (see [docs/risk.md](" + riskDocURI + "))\n\n| level | section(s) | when |\n|---|---|---|\n" +
		strings.Join(mdRows, "\n") + "\n\nTo accept the new behaviour, review it and run `behavediff approve SPEC`; the baseline change shows up in the pull request."
	return short, worst, text, md
}

// WriteSARIF renders the document as a SARIF 2.1.0 log with one run.
// Rules: one per finding kind of the risk table (and any other rule id a
// finding carries), in a stable order, so rule indexes are stable too.
func WriteSARIF(w io.Writer, d Document) error {
	rules, index := sarifRules(d)
	run := sarifRun{
		Tool: sarifTool{Driver: sarifDriver{
			Name: "behavediff", Version: d.Tool.Version, Rules: rules,
			InformationURI: "https://github.com/behavediff/behavediff",
		}},
		Results:    []sarifResult{},
		Properties: map[string]any{"verdict": d.Verdict, "failOn": d.FailOn},
	}
	code := d.ExitCode
	inv := sarifInvocation{ExecutionSuccessful: d.ExitCode != ExitUndecided, ExitCode: &code}
	for _, s := range d.Specs {
		if s.Status == diff.StatusError || s.Status == diff.StatusInconclusive || s.Status == diff.StatusNew {
			msg := s.Name + ": " + s.Status
			if s.Error != "" {
				msg += ": " + s.Error
			}
			lvl := "error"
			if s.Status == diff.StatusNew {
				lvl = "warning"
			}
			inv.Notifications = append(inv.Notifications, sarifNotification{Level: lvl, Message: sarifText{Text: msg}})
		}
		for _, f := range s.Findings {
			run.Results = append(run.Results, sarifResultOf(s, f, index[f.RuleID]))
		}
	}
	run.Invocations = []sarifInvocation{inv}
	return writeJSON(w, sarifLog{Schema: sarifSchema, Version: sarifVersion, Runs: []sarifRun{run}})
}

func sarifRules(d Document) ([]sarifRule, map[string]int) {
	type kindID struct{ kind, id string }
	seen := map[string]bool{}
	var ids []kindID
	add := func(kind, id string) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, kindID{kind, id})
		}
	}
	for _, r := range diff.Rules {
		add(r.Kind, KindRuleID(r.Kind))
	}
	add("removed", KindRuleID("removed"))
	var extra []kindID
	for _, s := range d.Specs {
		for _, f := range s.Findings {
			if !seen[f.RuleID] {
				seen[f.RuleID] = true
				extra = append(extra, kindID{f.Kind, f.RuleID})
			}
		}
	}
	sort.Slice(extra, func(i, j int) bool { return extra[i].id < extra[j].id })
	ids = append(ids, extra...)
	rules := make([]sarifRule, len(ids))
	index := map[string]int{}
	for i, k := range ids {
		short, worst, text, md := kindHelp(k.kind)
		rules[i] = sarifRule{
			ID: k.id, Name: k.kind, ShortDescription: sarifText{Text: short},
			FullDescription:      &sarifText{Text: "behavediff reports new behaviour of kind " + k.kind + ": " + short},
			Help:                 &sarifHelp{Text: text, Markdown: md},
			HelpURI:              riskDocURI,
			DefaultConfiguration: &sarifConfig{Level: sarifLevel(worst)},
			Properties: map[string]any{
				"tags": []string{"security", "behaviour"}, "security-severity": securitySeverity(worst),
			},
		}
		index[k.id] = i
	}
	return rules, index
}

func sarifResultOf(s Spec, f Finding, ruleIndex int) sarifResult {
	sign := "new"
	if f.Change == diff.Removed {
		sign = "no longer"
	}
	msg := fmt.Sprintf("%s: %s %s %s: %s", s.Name, sign, f.Section, f.Subject, f.Reason)
	if f.Process != "" {
		msg += " (by " + f.Process + ")"
	}
	if f.Query != "" {
		msg += ". Events: " + f.Query
	}
	r := sarifResult{
		RuleID: f.RuleID, RuleIndex: ruleIndex, Level: sarifLevel(f.Level),
		Message:             sarifText{Text: msg},
		PartialFingerprints: map[string]string{FingerprintKey: f.Fingerprint},
		Properties: map[string]any{
			"spec": s.Name, "risk": f.Level.String(), "kind": f.Kind, "change": f.Change,
			"section": f.Section, "subject": f.Subject, "security-severity": securitySeverity(f.Level),
		},
	}
	if s.RunID != 0 {
		r.Properties["runId"] = s.RunID
	}
	if s.BaselineFile != "" {
		line := max(f.BaselineLine, 1)
		r.Locations = append(r.Locations, sarifLocation{
			PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: s.BaselineFile}, Region: &sarifRegion{StartLine: line}},
			Message:          &sarifText{Text: "nearest entry of the approved baseline (" + f.Section + ")"},
		})
	}
	if s.SpecFile != "" {
		r.Locations = append(r.Locations, sarifLocation{
			PhysicalLocation: sarifPhysical{ArtifactLocation: sarifArtifact{URI: s.SpecFile}, Region: &sarifRegion{StartLine: 1}},
			Message:          &sarifText{Text: "the spec that was replayed"},
		})
	}
	return r
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
