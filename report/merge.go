package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/behavediff/behavediff/diff"
)

// ErrMixedInputs is returned when reports of different formats are merged.
var ErrMixedInputs = errors.New("reports to merge must all have one format")

// Merge combines the documents of several shards into one: every spec with
// every finding, each spec marked with the origin it came from, and the
// verdict recomputed, so it is the worst of the inputs'.
func Merge(origins []string, docs []Document) Document {
	out := Document{Schema: Schema, Command: "merge"}
	worstFail := diff.Level(-1)
	for i, d := range docs {
		if out.Tool.Version == "" {
			out.Tool = d.Tool
		}
		if d.Command != "" && out.Command == "merge" && i == 0 {
			out.Command = d.Command
		}
		if l, err := diff.ParseLevel(d.FailOn); err == nil && (worstFail < 0 || l < worstFail) {
			worstFail = l // the strictest threshold any shard used
			out.FailOn = d.FailOn
		}
		for _, s := range d.Specs {
			if s.Origin == "" && i < len(origins) {
				s.Origin = origins[i]
			}
			out.Specs = append(out.Specs, s)
		}
	}
	if out.Tool.Name == "" {
		out.Tool.Name = "behavediff"
	}
	out.finish()
	return out
}

// ReadDocument reads a JSON report and checks its schema.
func ReadDocument(path string) (Document, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Document{}, err
	}
	var d Document
	if err := json.Unmarshal(b, &d); err != nil {
		return Document{}, fmt.Errorf("%s: not a behavediff JSON report: %w", path, err)
	}
	if d.Schema != Schema {
		return Document{}, fmt.Errorf("%s: report schema %q, want %q", path, d.Schema, Schema)
	}
	return d, nil
}

// MergeFiles merges report files into out. JSON reports merge into any
// output format (chosen by out's extension); SARIF merges into SARIF and
// JUnit into JUnit, keeping every result and test case. Markdown cannot be
// merged back (it is a rendering): merge the JSON reports into .md instead.
func MergeFiles(out string, inputs []string) error {
	of, ok := FormatOfFile(out)
	if !ok {
		return fmt.Errorf("merge: cannot tell the format of %s (use .json, .sarif, .xml, .md or .txt)", out)
	}
	var in Format
	for _, p := range inputs {
		f, ok := FormatOfFile(p)
		if !ok {
			return fmt.Errorf("merge: cannot tell the format of %s", p)
		}
		if in != "" && f != in {
			return fmt.Errorf("merge: %w (%s is %s, the first is %s)", ErrMixedInputs, p, f, in)
		}
		in = f
	}
	switch {
	case in == JSON:
		var docs []Document
		for _, p := range inputs {
			d, err := ReadDocument(p)
			if err != nil {
				return fmt.Errorf("merge: %w", err)
			}
			docs = append(docs, d)
		}
		return WriteFile(out, of, Merge(inputs, docs))
	case in == SARIF && of == SARIF:
		return mergeSARIF(out, inputs)
	case in == JUnitXML && of == JUnitXML:
		return mergeJUnit(out, inputs)
	}
	return fmt.Errorf("merge: %s reports merge only into %s; merge the JSON reports to get %s", in, in, of)
}

// mergeSARIF makes one run out of the inputs' runs: the rules are the
// union by id (indexes rewritten), results all kept, the invocation
// successful only if every input's was.
func mergeSARIF(out string, inputs []string) error {
	var merged *sarifRun
	index := map[string]int{}
	for _, p := range inputs {
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("merge: %w", err)
		}
		var log sarifLog
		if err := json.Unmarshal(b, &log); err != nil || log.Version != sarifVersion {
			return fmt.Errorf("merge: %s is not a SARIF %s log: %v", p, sarifVersion, err)
		}
		for _, r := range log.Runs {
			if merged == nil {
				merged = &sarifRun{Tool: r.Tool, Results: []sarifResult{}, Properties: map[string]any{}}
				merged.Tool.Driver.Rules = nil
				merged.Invocations = []sarifInvocation{{ExecutionSuccessful: true}}
			}
			for _, rule := range r.Tool.Driver.Rules {
				if _, ok := index[rule.ID]; !ok {
					index[rule.ID] = len(merged.Tool.Driver.Rules)
					merged.Tool.Driver.Rules = append(merged.Tool.Driver.Rules, rule)
				}
			}
			for _, res := range r.Results {
				res.RuleIndex = index[res.RuleID]
				if res.Properties == nil {
					res.Properties = map[string]any{}
				}
				res.Properties["origin"] = p
				merged.Results = append(merged.Results, res)
			}
			inv := &merged.Invocations[0]
			for _, i := range r.Invocations {
				inv.ExecutionSuccessful = inv.ExecutionSuccessful && i.ExecutionSuccessful
				inv.Notifications = append(inv.Notifications, i.Notifications...)
				if i.ExitCode != nil && (inv.ExitCode == nil || worseExit(*i.ExitCode, *inv.ExitCode)) {
					c := *i.ExitCode
					inv.ExitCode = &c
				}
			}
		}
	}
	if merged == nil {
		return fmt.Errorf("merge: no SARIF runs in %s", strings.Join(inputs, ", "))
	}
	return writeFileWith(out, func(b *bytes.Buffer) error {
		return writeJSON(b, sarifLog{Schema: sarifSchema, Version: sarifVersion, Runs: []sarifRun{*merged}})
	})
}

// worseExit orders exit codes 2 (undecided) > 1 (findings) > 0.
func worseExit(a, b int) bool { return a > b }

func mergeJUnit(out string, inputs []string) error {
	root := JUnitSuites{Name: "behavediff"}
	for _, p := range inputs {
		b, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("merge: %w", err)
		}
		var in JUnitSuites
		if err := xml.Unmarshal(b, &in); err != nil {
			return fmt.Errorf("merge: %s is not a JUnit report: %w", p, err)
		}
		for _, s := range in.Suites {
			s.Name += " (" + filepath.Base(p) + ")"
			root.add(s)
		}
	}
	return writeFileWith(out, func(b *bytes.Buffer) error { return writeXML(b, root) })
}

func writeFileWith(path string, render func(*bytes.Buffer) error) error {
	var b bytes.Buffer
	if err := render(&b); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
