package snapshot

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/behavediff/behavediff/baseline"
	"github.com/behavediff/behavediff/diff"
	"github.com/behavediff/behavediff/store"
)

// ConfigName is the project configuration file inside .behavediff/.
const ConfigName = "config.yaml"

// Config is .behavediff/config.yaml: project-wide defaults. Every field is
// optional; a spec's or a flag's own value wins.
type Config struct {
	Version int    `yaml:"version"`
	FailOn  string `yaml:"fail-on"` // default --fail-on of check and diff
	// ExitCode is the level of a changed exit code, crash or timeout
	// (default diff.ExitCodeLevel, high).
	ExitCode string `yaml:"exit-code"`
	Record   struct {
		Image   string        `yaml:"image"`   // default --image for record
		Network bool          `yaml:"network"` // default --network for record
		Timeout time.Duration `yaml:"timeout"` // default --timeout
		Memory  int64         `yaml:"memory"`  // default --memory, bytes
		Pids    int64         `yaml:"pids"`    // default --pids
	} `yaml:"record"`
	AllowNode  yaml.Node `yaml:"allow"`  // as a baseline's allow:
	RedactNode yaml.Node `yaml:"redact"` // as a baseline's redact:

	// Parsed from AllowNode and RedactNode with the baseline file's rules.
	Allow  map[string][]string  `yaml:"-"`
	Redact []baseline.Redaction `yaml:"-"`
}

// FailOnOr is the configured fail-on, or def.
func (c Config) FailOnOr(def string) string {
	if c.FailOn != "" {
		return c.FailOn
	}
	return def
}

// ConfigPath is where the project's configuration lives.
func (p Project) ConfigPath() string { return filepath.Join(p.Dir(), ConfigName) }

// LoadConfig reads .behavediff/config.yaml; a missing file is the zero
// Config. Unknown keys are errors: a mistyped allow: would allow nothing.
func (p Project) LoadConfig() (Config, error) {
	var c Config
	path := p.ConfigPath()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("read %s: %w", path, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	if c.Version > 1 {
		return c, fmt.Errorf("%s: version %d is newer than this behavediff reads (1); upgrade behavediff", path, c.Version)
	}
	if c.FailOn != "" {
		if _, err := ParseFailOn(c.FailOn); err != nil {
			return c, fmt.Errorf("%s: fail-on: %w", path, err)
		}
	}
	if c.ExitCode != "" {
		if _, err := diff.ParseLevel(c.ExitCode); err != nil {
			return c, fmt.Errorf("%s: exit-code: %w", path, err)
		}
	}
	// allow: and redact: follow the baseline file's syntax and checks.
	doc := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	scalar := func(v string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: v} }
	doc.Content = append(doc.Content, scalar("version"), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: "1"},
		scalar("command"), &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"})
	if c.AllowNode.Kind != 0 {
		doc.Content = append(doc.Content, scalar("allow"), &c.AllowNode)
	}
	if c.RedactNode.Kind != 0 {
		doc.Content = append(doc.Content, scalar("redact"), &c.RedactNode)
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	b, err := baseline.Parse(out, path)
	if err != nil {
		return c, err
	}
	c.Allow, c.Redact = b.Allow, b.Redact
	return c, nil
}

// compare is diff.Compare as the project configures it: with its allow
// globs and redactions, and its level for a changed exit code.
func (c Config) compare(old, cur *baseline.Baseline, ctx diff.Context) []diff.Finding {
	fs := diff.Compare(c.compareBase(old), cur, ctx)
	if c.ExitCode == "" {
		return fs
	}
	lvl, err := diff.ParseLevel(c.ExitCode)
	if err != nil {
		return fs // LoadConfig refused it already
	}
	for i := range fs {
		if fs[i].Kind == "exit-code" {
			fs[i].Level = lvl
		}
	}
	// Keep worst-first order.
	sort.SliceStable(fs, func(i, j int) bool { return fs[i].Level > fs[j].Level })
	return fs
}

// compareBase is old as a run is compared with it: with the project-wide
// allow globs and redactions added (old itself is left alone, so they are
// never written into a baseline file). nil stays nil.
func (c Config) compareBase(old *baseline.Baseline) *baseline.Baseline {
	if old == nil || (len(c.Allow) == 0 && len(c.Redact) == 0) {
		return old
	}
	b := *old
	b.Allow = map[string][]string{}
	for k, gs := range old.Allow {
		b.Allow[k] = append([]string(nil), gs...)
	}
	for k, gs := range c.Allow {
		b.Allow[k] = append(b.Allow[k], gs...)
	}
	b.Redact = append(append([]baseline.Redaction(nil), old.Redact...), c.Redact...)
	return &b
}

// normalise is the normalisation options for a run compared with old (nil:
// a new baseline): the baseline's redactions and the project's.
func (c Config) normalise(old *baseline.Baseline, counts bool) baseline.Options {
	o := baseline.Options{Counts: counts}
	if old != nil {
		o = old.NormaliseOptions("", "")
	}
	o.Redactions = append(o.Redactions, c.Redact...)
	return o
}

// build normalises a trace into the baseline it would be as name's file:
// the old file's user sections, not the project's.
func (c Config) build(name string, old *baseline.Baseline, counts bool, tr *store.Trace) (*baseline.Baseline, error) {
	b, err := baseline.FromTrace(tr, c.normalise(old, counts))
	if err != nil {
		return nil, fmt.Errorf("normalise run %d: %w", tr.Run.ID, err)
	}
	b.Name = name
	b.Redact = nil
	b.KeepUserSections(old)
	return b, nil
}

// configTemplate is what init writes: every setting, commented out.
const configTemplate = `# behavediff project configuration. Everything here is optional; a flag or
# a spec's own setting wins. Commit this file with specs/ and baselines/.
version: 1

# Default --fail-on of check and diff: low, medium, high, critical,
# info (any difference) or none (report only, never fail).
# fail-on: medium

# Level of a changed exit code, a crash or a timeout (rule BD-EXIT-CODE).
# exit-code: high

# Defaults for "behavediff record" (stored into each spec when it is recorded).
record:
  # image: images/python.tar     # a local OCI-layout or docker-save tarball
  # network: false               # true gives the sandbox the host's network
  # timeout: 10m
  # memory: 4294967296           # bytes
  # pids: 4096

# Globs that are always OK, per baseline section (or group: files, network,
# changes, processes), for every spec: the same syntax as a baseline's allow:.
# * stays within a path segment, ** crosses them.
allow:
  # files.write: ["$HOME/.cache/pip/**"]
  # network.egress: ["*.pypi.org:443"]

# Redactions applied to every normalised value of every spec, as a baseline's
# redact: (regexp: placeholder).
redact:
  # 'build-[0-9]+': 'build-*'
`

// ErrExists is returned by Init when the configuration already exists.
var ErrExists = errors.New("already exists")

// Init creates the project folder with its .gitignore and a commented
// config.yaml. An existing config.yaml is kept (ErrExists).
func (p Project) Init() error {
	if err := p.Ensure(); err != nil {
		return err
	}
	for _, d := range []string{"specs", "baselines"} {
		if err := os.MkdirAll(filepath.Join(p.Dir(), d), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	path := p.ConfigPath()
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s %w", path, ErrExists)
	}
	return writeFileAtomic(path, []byte(configTemplate))
}
