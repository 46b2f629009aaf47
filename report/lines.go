package report

import (
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// baselineLines indexes a baseline file's entries by section with their
// line numbers, so a finding can point at the entry nearest to it.
type baselineLines struct {
	sections map[string]sectionLines // "files.read", "processes", ...
}

type sectionLines struct {
	key     int         // line of the section's key
	entries []entryLine // in file order (baselines are sorted)
}

type entryLine struct {
	text string // the entry's scalars joined by spaces
	line int
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// loadBaselineLines reads the baseline at path; nil when unreadable (lines
// are a convenience: a report never fails for want of them).
func loadBaselineLines(path string) *baselineLines {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var doc yaml.Node
	if yaml.Unmarshal(b, &doc) != nil || len(doc.Content) == 0 {
		return nil
	}
	bl := &baselineLines{sections: map[string]sectionLines{}}
	bl.walk("", doc.Content[0])
	return bl
}

// walk records every sequence under a mapping key as a section named by
// its dotted key path (files: read: → files.read).
func (bl *baselineLines) walk(prefix string, n *yaml.Node) {
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := k.Value
		if prefix != "" {
			name = prefix + "." + k.Value
		}
		switch v.Kind {
		case yaml.SequenceNode:
			sl := sectionLines{key: k.Line}
			for _, e := range v.Content {
				sl.entries = append(sl.entries, entryLine{text: scalars(e), line: e.Line})
			}
			bl.sections[name] = sl
		case yaml.MappingNode:
			bl.sections[name] = sectionLines{key: k.Line}
			bl.walk(name, v)
		}
	}
}

func scalars(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		return n.Value
	case yaml.MappingNode:
		var parts []string
		for i := 1; i < len(n.Content); i += 2 {
			parts = append(parts, scalars(n.Content[i]))
		}
		return strings.Join(parts, " ")
	case yaml.SequenceNode:
		var parts []string
		for _, c := range n.Content {
			parts = append(parts, scalars(c))
		}
		return strings.Join(parts, " ")
	}
	return ""
}

// nearest is the line of the baseline entry a finding is about: for
// removed behaviour the entry itself; for new behaviour the entry it would
// sort after (where approving it would add it), else the section's key,
// else the top-level key, else line 1.
func (bl *baselineLines) nearest(section, subject string, removed bool) int {
	sl, ok := bl.sections[section]
	if !ok {
		top := strings.SplitN(section, ".", 2)[0]
		if t, ok := bl.sections[top]; ok {
			return t.key
		}
		return 1
	}
	if removed {
		for _, e := range sl.entries {
			if e.text == subject || strings.Contains(subject, e.text) && e.text != "" {
				return e.line
			}
		}
	}
	line := sl.key
	for _, e := range sl.entries {
		if e.text <= subject {
			line = e.line
		}
	}
	return line
}
