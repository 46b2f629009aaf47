package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/behavediff/behavediff/diff"
)

// JUnit XML as read by GitHub, GitLab and Jenkins test reports: one test
// case per spec. A failing spec is a <failure> carrying its findings; a
// spec that could not be decided (error, inconclusive, no baseline yet) is
// an <error>, as it makes check exit 2.

// JUnitSuites is the root element (exported so merge and tests can parse it).
type JUnitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Suites   []JUnitSuite `xml:"testsuite"`
}

// JUnitSuite is one check or diff invocation.
type JUnitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Cases    []JUnitCase `xml:"testcase"`
}

// JUnitCase is one spec.
type JUnitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Failure   *JUnitProblem `xml:"failure,omitempty"`
	Error     *JUnitProblem `xml:"error,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

// JUnitProblem is a failure or error with its text.
type JUnitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// JUnit builds the XML document of d.
func JUnit(d Document) JUnitSuites {
	suite := JUnitSuite{Name: "behavediff " + d.Command}
	for _, s := range d.Specs {
		c := JUnitCase{Name: s.Name, Classname: "behavediff." + orDefault(d.Command, "check"), File: s.SpecFile}
		text := findingsText(s.Findings)
		switch s.Status {
		case diff.StatusPass:
			c.SystemOut = text
		case diff.StatusFail:
			msg := fmt.Sprintf("%d new or changed behaviours, worst %s", len(s.Findings), worstOf(s.Findings))
			c.Failure = &JUnitProblem{Message: msg, Type: worstOf(s.Findings).String(), Text: text}
		default:
			msg := s.Status
			if s.Error != "" {
				msg += ": " + s.Error
			}
			c.Error = &JUnitProblem{Message: msg, Type: s.Status, Text: text}
		}
		suite.Cases = append(suite.Cases, c)
	}
	root := JUnitSuites{Name: "behavediff"}
	root.add(suite)
	return root
}

func (r *JUnitSuites) add(s JUnitSuite) {
	s.Tests, s.Failures, s.Errors = len(s.Cases), 0, 0
	for _, c := range s.Cases {
		if c.Failure != nil {
			s.Failures++
		}
		if c.Error != nil {
			s.Errors++
		}
	}
	r.Suites = append(r.Suites, s)
	r.Tests += s.Tests
	r.Failures += s.Failures
	r.Errors += s.Errors
}

// WriteJUnit renders d as JUnit XML.
func WriteJUnit(w io.Writer, d Document) error {
	return writeXML(w, JUnit(d))
}

func writeXML(w io.Writer, v any) error {
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func findingsText(fs []Finding) string {
	var b strings.Builder
	for _, f := range fs {
		sign := "+"
		if f.Change == diff.Removed {
			sign = "-"
		}
		fmt.Fprintf(&b, "%s [%s] %s %s  %s\n    %s\n", sign, f.Level, f.RuleID, f.Section, f.Subject, f.Reason)
		if f.Process != "" {
			fmt.Fprintf(&b, "    by:    %s\n", f.Process)
		}
		if f.Query != "" {
			fmt.Fprintf(&b, "    query: %s\n", f.Query)
		}
	}
	return b.String()
}

func worstOf(fs []Finding) diff.Level {
	w := diff.None
	for _, f := range fs {
		w = max(w, f.Level)
	}
	return w
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
