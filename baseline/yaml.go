package baseline

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/renameio/v2"
	"go.yaml.in/yaml/v3"
)

// ParseError is a problem in a baseline file, with the line it is on
// (0 when it concerns the whole file).
type ParseError struct {
	File string
	Line int
	Msg  string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// ErrNewerFormat is wrapped by the error Parse returns for a file written
// by a newer behavediff.
var ErrNewerFormat = errors.New("baseline written by a newer behavediff")

type newerError struct {
	ParseError
}

func (e *newerError) Unwrap() error { return ErrNewerFormat }

// valueKey names the mapping key that holds an entry's value, per section.
func valueKey(section string) string {
	switch section {
	case "network.egress", "network.listen":
		return "addr"
	case "network.dns", "syscalls":
		return "name"
	case "privileged":
		return "call"
	case "network.socket":
		return "kind"
	case "env":
		return "var"
	}
	return "path"
}

// entryKeys lists the keys an entry mapping may have, per section.
func entryKeys(section string) []string {
	ks := []string{valueKey(section)}
	switch section {
	case "files.other":
		ks = append([]string{"op"}, ks...)
		ks = append(ks, "to")
	case "files.rename":
		ks = append(ks, "to")
	case "files.chmod":
		ks = append(ks, "mode")
	}
	return append(ks, "failed", "optional")
}

var fileOps = []string{"mkdir", "link", "symlink", "chown", "truncate", "utimes", "mknod", "memfd"}

const header = `# behavediff baseline %q: the approved behaviour of this spec.
#
# "behavediff check" replays the spec and fails when the program now does
# something risky that is not listed here (docs/risk.md). Everything is
# normalised (docs/normalisation.md): $WORKSPACE, $HOME, $PID and * stand for
# what differs between runs. Review changes to this file like code.
#
# To accept new behaviour, re-record and run:  behavediff approve %s
# "optional: true" marks behaviour seen in only some of the approved runs;
# "failed: true" behaviour that was attempted but failed every time.
# allow: and redact: at the end are yours; approve keeps them.
`

// Marshal renders the baseline as stable, sorted YAML with an explanatory
// header.
func (b *Baseline) Marshal() ([]byte, error) {
	name := b.Name
	if name == "" {
		name = "NAME"
	}
	root := mapping(0)
	add := func(k string, v *yaml.Node) { root.Content = append(root.Content, str(k), v) }
	version := b.Version
	if version == 0 {
		version = FormatVersion
	}
	add("version", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(version)})
	add("command", strSeq(b.Command, yaml.FlowStyle))
	runs := b.Runs
	if runs < 1 {
		runs = 1
	}
	add("runs", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(runs)})
	if b.Exit != nil {
		add("exit", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(*b.Exit)})
	}
	if b.Counts {
		add("counts", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
	}

	procs := seq(0)
	for _, p := range b.Processes {
		m := mapping(0)
		m.Content = append(m.Content, str("exe"), str(p.Exe), str("argv"), strSeq(p.Argv, yaml.FlowStyle), str("chain"), str(p.Chain))
		if p.Optional {
			m.Content = append(m.Content, str("optional"), boolNode(true))
		}
		procs.Content = append(procs.Content, m)
	}
	emptyFlow(procs)
	add("processes", procs)

	groups := map[string]*yaml.Node{}
	for _, s := range b.Sections() {
		group, sub, grouped := strings.Cut(s.Name, ".")
		n := seq(0)
		for _, e := range *s.Entries {
			n.Content = append(n.Content, entryNode(s.Name, e))
		}
		emptyFlow(n)
		if !grouped {
			add(s.Name, n)
			continue
		}
		g := groups[group]
		if g == nil {
			g = mapping(0)
			groups[group] = g
			add(group, g)
		}
		g.Content = append(g.Content, str(sub), n)
	}

	allow := mapping(0)
	allow.HeadComment = "Yours: globs per section that are always OK (* within a path segment, ** across),\n" +
		"e.g.  files.write: [\"$HOME/.cache/pip/**\"]   network.egress: [\"*.pypi.org:443\"]"
	keys := make([]string, 0, len(b.Allow))
	for k := range b.Allow {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		gs := append([]string(nil), b.Allow[k]...)
		sort.Strings(gs)
		allow.Content = append(allow.Content, str(k), strSeq(gs, 0))
	}
	emptyFlow(allow)
	ak := str("allow")
	ak.HeadComment = allow.HeadComment
	allow.HeadComment = ""
	root.Content = append(root.Content, ak, allow)

	redact := mapping(0)
	for _, r := range b.Redact {
		redact.Content = append(redact.Content, str(r.Pattern), str(r.Replace))
	}
	emptyFlow(redact)
	rk := str("redact")
	rk.HeadComment = "Yours: regexp → placeholder, applied to every normalised value, e.g.  'build-[0-9]+': 'build-*'"
	root.Content = append(root.Content, rk, redact)

	var buf bytes.Buffer
	fmt.Fprintf(&buf, header, name, name)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, fmt.Errorf("baseline %s: %w", name, err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func entryNode(section string, e Entry) *yaml.Node {
	if e.Op == "" && e.To == "" && e.Mode == "" && !e.Failed && !e.Optional {
		return str(e.Value)
	}
	m := mapping(yaml.FlowStyle)
	if e.Op != "" {
		m.Content = append(m.Content, str("op"), str(e.Op))
	}
	m.Content = append(m.Content, str(valueKey(section)), str(e.Value))
	if e.To != "" {
		m.Content = append(m.Content, str("to"), str(e.To))
	}
	if e.Mode != "" {
		m.Content = append(m.Content, str("mode"), str(e.Mode))
	}
	if e.Failed {
		m.Content = append(m.Content, str("failed"), boolNode(true))
	}
	if e.Optional {
		m.Content = append(m.Content, str("optional"), boolNode(true))
	}
	return m
}

// str is a text scalar. A string YAML cannot hold as text (invalid UTF-8,
// such as a file name in another encoding, or control characters) is written
// as `!bytes 'ESCAPED'`: the Go-escaped form of its bytes (\xNN, \n, \", ...)
// in a single-quoted scalar, read back byte for byte. Hostile code picks the
// names of the files it touches; none may make a baseline unwritable.
func str(s string) *yaml.Node {
	if needsBytesTag(s) {
		q := strconv.Quote(s)
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: bytesTag, Style: yaml.SingleQuotedStyle, Value: q[1 : len(q)-1]}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

// bytesTag marks a scalar holding a Go-escaped byte string (see str).
const bytesTag = "!bytes"

func needsBytesTag(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	return strings.ContainsFunc(s, func(r rune) bool {
		return (r < 0x20 && r != '\t' && r != '\n') || (r >= 0x7f && r < 0xa0) || r == 0xfeff || r >= 0xfffe && r <= 0xffff
	})
}

// textValue is the string a text scalar stands for (see str).
func textValue(n *yaml.Node) (string, error) {
	if n.Tag != bytesTag {
		return n.Value, nil
	}
	v, err := strconv.Unquote(`"` + n.Value + `"`)
	if err != nil {
		return "", fmt.Errorf("bad %s escape: %w", bytesTag, err)
	}
	return v, nil
}
func boolNode(v bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v)}
}
func mapping(st yaml.Style) *yaml.Node {
	return &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Style: st}
}
func seq(st yaml.Style) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: st}
}
func strSeq(ss []string, st yaml.Style) *yaml.Node {
	n := seq(st)
	for _, s := range ss {
		n.Content = append(n.Content, str(s))
	}
	emptyFlow(n)
	return n
}

// emptyFlow renders an empty collection as [] or {} rather than nothing.
func emptyFlow(n *yaml.Node) {
	if len(n.Content) == 0 {
		n.Style = yaml.FlowStyle
	}
}

// Save writes the baseline to file, creating its directory.
func (b *Baseline) Save(file string) error {
	data, err := b.Marshal()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	// Atomic and fsynced, with a random temp name removed on failure: a
	// crash or a concurrent approve never leaves a torn baseline or a
	// stray NAME.yaml.tmp.
	return renameio.WriteFile(file, data, 0o644)
}

// Load reads and parses a baseline file.
func Load(file string) (*Baseline, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	return Parse(data, file)
}

var (
	reYAMLLine  = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	reParserErr = regexp.MustCompile(`^did not find expected (key|node content|'-' indicator|',' or '[\]}]'|<document start>)`)
)

// Parse reads a baseline file's contents; name is the file name used in
// errors (and, without directory and .yaml, as the spec name). Errors carry
// the line they are on. Unknown keys are errors, not silently ignored: a
// mistyped allow: would otherwise allow nothing.
func Parse(data []byte, name string) (*Baseline, error) {
	p := &parser{file: name}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := err.Error()
		if m := reYAMLLine.FindStringSubmatch(msg); m != nil {
			line, _ := strconv.Atoi(m[1])
			msg := "invalid YAML: " + m[2]
			if reParserErr.MatchString(m[2]) {
				// yaml.v3 reports parser (not scanner) errors 0-based, at
				// the start of the enclosing block when it knows it.
				line++
				msg = "invalid YAML in the block starting here: " + m[2]
			}
			return nil, &ParseError{File: name, Line: line, Msg: msg}
		}
		return nil, &ParseError{File: name, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, &ParseError{File: name, Msg: "empty file, not a behavediff baseline"}
	}
	root := deref(doc.Content[0])
	if root.Kind != yaml.MappingNode {
		return nil, p.errf(root, "want a mapping with version:, processes:, files:, ... at the top, got %s", kindName(root))
	}
	b := &Baseline{Name: strings.TrimSuffix(filepath.Base(name), ".yaml")}

	// Version first: a newer file may have keys this version does not know.
	var vnode *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "version" {
			vnode = deref(root.Content[i+1])
		}
	}
	if vnode == nil {
		return nil, &ParseError{File: name, Line: 1, Msg: "no version: key, not a behavediff baseline (want version: 1)"}
	}
	v, err := strconv.Atoi(vnode.Value)
	if vnode.Kind != yaml.ScalarNode || err != nil {
		return nil, p.errf(vnode, "version: want a whole number, got %q", vnode.Value)
	}
	if v > FormatVersion {
		return nil, &newerError{ParseError{File: name, Line: vnode.Line, Msg: fmt.Sprintf("written by a newer behavediff (format %d; this one reads up to %d); upgrade behavediff", v, FormatVersion)}}
	}
	if v < 1 {
		return nil, p.errf(vnode, "version: %d is not a baseline format version (want %d)", v, FormatVersion)
	}
	b.Version = v

	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, val := root.Content[i], deref(root.Content[i+1])
		if seen[k.Value] {
			return nil, p.errf(k, "%s: given twice", k.Value)
		}
		seen[k.Value] = true
		var err error
		switch k.Value {
		case "version":
		case "command":
			b.Command, err = p.strings(val, "command")
		case "runs":
			b.Runs, err = p.int(val, "runs")
		case "counts":
			b.Counts, err = p.bool(val, "counts")
		case "exit":
			var v int
			if v, err = p.int(val, "exit"); err == nil {
				b.Exit = &v
			}
		case "processes":
			b.Processes, err = p.processes(val)
		case "files", "network", "changes":
			err = p.group(b, k.Value, val)
		case "env":
			b.Env, err = p.entries(val, "env")
		case "privileged":
			b.Privileged, err = p.entries(val, "privileged")
		case "syscalls":
			b.Syscalls, err = p.entries(val, "syscalls")
		case "allow":
			b.Allow, err = p.allow(val)
		case "redact":
			b.Redact, err = p.redact(val)
		default:
			err = p.errf(k, "unknown key %q (want version, command, runs, exit, counts, processes, env, files, network, privileged, syscalls, changes, allow or redact)", k.Value)
		}
		if err != nil {
			return nil, err
		}
	}
	if !seen["command"] {
		return nil, p.errf(root, "no command: key")
	}
	if b.Runs == 0 {
		b.Runs = 1
	}
	return b, nil
}

type parser struct{ file string }

func (p *parser) errf(n *yaml.Node, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &ParseError{File: p.file, Line: line, Msg: fmt.Sprintf(format, args...)}
}

func deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

func isNull(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Tag == "!!null" }

func (p *parser) scalar(n *yaml.Node, what string) (string, error) {
	if n.Kind != yaml.ScalarNode || isNull(n) {
		return "", p.errf(n, "%s: want a text value, got %s", what, kindName(n))
	}
	v, err := textValue(n)
	if err != nil {
		return "", p.errf(n, "%s: %v", what, err)
	}
	return v, nil
}

func (p *parser) strings(n *yaml.Node, what string) ([]string, error) {
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n, "%s: want a list, got %s", what, kindName(n))
	}
	var out []string
	for _, c := range n.Content {
		s, err := p.scalar(deref(c), what)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (p *parser) int(n *yaml.Node, what string) (int, error) {
	v, err := strconv.Atoi(n.Value)
	if n.Kind != yaml.ScalarNode || err != nil || v < 0 {
		return 0, p.errf(n, "%s: want a whole number, got %s", what, kindName(n))
	}
	return v, nil
}

func (p *parser) bool(n *yaml.Node, what string) (bool, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!bool" {
		return n.Value == "true" || n.Value == "True" || n.Value == "TRUE", nil
	}
	return false, p.errf(n, "%s: want true or false, got %s", what, kindName(n))
}

// fields checks a mapping's keys against the allowed ones and returns them.
func (p *parser) fields(n *yaml.Node, what string, allowed []string) (map[string]*yaml.Node, error) {
	out := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		ok := false
		for _, a := range allowed {
			if k.Value == a {
				ok = true
			}
		}
		if !ok {
			return nil, p.errf(k, "%s: unknown key %q (want %s)", what, k.Value, strings.Join(allowed, ", "))
		}
		if out[k.Value] != nil {
			return nil, p.errf(k, "%s: %s given twice", what, k.Value)
		}
		out[k.Value] = deref(n.Content[i+1])
	}
	return out, nil
}

func (p *parser) processes(n *yaml.Node) ([]Process, error) {
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n, "processes: want a list, got %s", kindName(n))
	}
	var out []Process
	for _, c := range n.Content {
		c = deref(c)
		if c.Kind != yaml.MappingNode {
			return nil, p.errf(c, "processes: want an entry with exe:, argv:, chain:, got %s", kindName(c))
		}
		f, err := p.fields(c, "processes", []string{"exe", "argv", "chain", "optional"})
		if err != nil {
			return nil, err
		}
		var pr Process
		if f["exe"] == nil {
			return nil, p.errf(c, "processes: entry without exe:")
		}
		if pr.Exe, err = p.scalar(f["exe"], "processes: exe"); err != nil {
			return nil, err
		}
		if f["argv"] != nil {
			if pr.Argv, err = p.strings(f["argv"], "processes: argv"); err != nil {
				return nil, err
			}
		}
		if f["chain"] != nil {
			if pr.Chain, err = p.scalar(f["chain"], "processes: chain"); err != nil {
				return nil, err
			}
		} else {
			pr.Chain = pr.Exe
		}
		if f["optional"] != nil {
			if pr.Optional, err = p.bool(f["optional"], "processes: optional"); err != nil {
				return nil, err
			}
		}
		out = append(out, pr)
	}
	return sortProcesses(out), nil
}

func (p *parser) group(b *Baseline, group string, n *yaml.Node) error {
	if isNull(n) {
		return nil
	}
	var subs []string
	secs := map[string]*[]Entry{}
	for _, s := range b.Sections() {
		if g, sub, ok := strings.Cut(s.Name, "."); ok && g == group {
			subs = append(subs, sub)
			secs[sub] = s.Entries
		}
	}
	if n.Kind != yaml.MappingNode {
		return p.errf(n, "%s: want a mapping with %s, got %s", group, strings.Join(subs, ", "), kindName(n))
	}
	f, err := p.fields(n, group, subs)
	if err != nil {
		return err
	}
	for sub, v := range f {
		es, err := p.entries(v, group+"."+sub)
		if err != nil {
			return err
		}
		*secs[sub] = es
	}
	return nil
}

func (p *parser) entries(n *yaml.Node, section string) ([]Entry, error) {
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, p.errf(n, "%s: want a list, got %s", section, kindName(n))
	}
	vk := valueKey(section)
	var out []Entry
	for _, c := range n.Content {
		c = deref(c)
		var e Entry
		switch c.Kind {
		case yaml.ScalarNode:
			if isNull(c) || c.Value == "" {
				return nil, p.errf(c, "%s: empty entry", section)
			}
			v, err := p.scalar(c, section)
			if err != nil {
				return nil, err
			}
			e.Value = v
		case yaml.MappingNode:
			f, err := p.fields(c, section, entryKeys(section))
			if err != nil {
				return nil, err
			}
			if f[vk] == nil {
				return nil, p.errf(c, "%s: entry without %s:", section, vk)
			}
			if e.Value, err = p.scalar(f[vk], section+": "+vk); err != nil {
				return nil, err
			}
			if f["op"] != nil {
				if e.Op, err = p.scalar(f["op"], section+": op"); err != nil {
					return nil, err
				}
				known := false
				for _, o := range fileOps {
					known = known || o == e.Op
				}
				if !known {
					return nil, p.errf(f["op"], "%s: unknown op %q (want %s)", section, e.Op, strings.Join(fileOps, ", "))
				}
			}
			if f["to"] != nil {
				if e.To, err = p.scalar(f["to"], section+": to"); err != nil {
					return nil, err
				}
			}
			if f["mode"] != nil {
				if e.Mode, err = p.scalar(f["mode"], section+": mode"); err != nil {
					return nil, err
				}
				if _, err := strconv.ParseUint(e.Mode, 8, 32); err != nil {
					return nil, p.errf(f["mode"], "%s: mode %q is not an octal file mode", section, e.Mode)
				}
			}
			if f["failed"] != nil {
				if e.Failed, err = p.bool(f["failed"], section+": failed"); err != nil {
					return nil, err
				}
			}
			if f["optional"] != nil {
				if e.Optional, err = p.bool(f["optional"], section+": optional"); err != nil {
					return nil, err
				}
			}
		default:
			return nil, p.errf(c, "%s: want a value or {%s: ...}, got %s", section, vk, kindName(c))
		}
		if section == "files.other" && e.Op == "" {
			return nil, p.errf(c, "%s: entry without op: (want one of %s)", section, strings.Join(fileOps, ", "))
		}
		if section == "files.chmod" && e.Mode == "" {
			return nil, p.errf(c, "%s: entry without mode:", section)
		}
		out = append(out, e)
	}
	return sortEntries(out), nil
}

func (p *parser) allow(n *yaml.Node) (map[string][]string, error) {
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, p.errf(n, "allow: want a mapping of section: [globs], got %s", kindName(n))
	}
	out := map[string][]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		if !validAllowSection(k.Value) {
			return nil, p.errf(k, "allow: unknown section %q (want processes, files, network, changes or one of %s)", k.Value, strings.Join(SectionNames, ", "))
		}
		if _, dup := out[k.Value]; dup {
			return nil, p.errf(k, "allow: %s given twice", k.Value)
		}
		var gs []string
		var err error
		if v.Kind == yaml.ScalarNode && !isNull(v) {
			g, err := p.scalar(v, "allow: "+k.Value)
			if err != nil {
				return nil, err
			}
			gs = []string{g}
		} else if gs, err = p.strings(v, "allow: "+k.Value); err != nil {
			return nil, err
		}
		out[k.Value] = gs
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func (p *parser) redact(n *yaml.Node) ([]Redaction, error) {
	if isNull(n) {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, p.errf(n, "redact: want a mapping of 'regexp': 'placeholder', got %s", kindName(n))
	}
	var out []Redaction
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], deref(n.Content[i+1])
		repl, err := p.scalar(v, "redact: "+k.Value)
		if err != nil {
			return nil, err
		}
		r := Redaction{Pattern: k.Value, Replace: repl}
		if err := r.Compile(); err != nil {
			return nil, p.errf(k, "%v", err)
		}
		out = append(out, r)
	}
	return out, nil
}
