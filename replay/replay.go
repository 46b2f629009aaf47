// Package replay keeps run specs where a repository can carry them
// (.behavediff/specs/NAME.yaml) and re-executes a spec through the recorder,
// so CI on another machine can run exactly what a developer approved.
package replay

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/behavediff/behavediff/recorder"
	"github.com/behavediff/behavediff/store"
)

// Project is a directory that holds a .behavediff/ folder: specs, baselines
// and (by default) the trace database. Paths stored in spec files are
// relative to Root so a spec recorded on a laptop replays in CI.
type Project struct{ Root string }

// FindProject returns the nearest directory at or above start that holds a
// .behavediff folder (like git finds .git), or start itself when none does.
func FindProject(start string) (Project, error) {
	abs, err := filepath.Abs(start)
	if err != nil {
		return Project{}, fmt.Errorf("project dir %s: %w", start, err)
	}
	for d := abs; ; d = filepath.Dir(d) {
		if st, err := os.Stat(filepath.Join(d, ".behavediff")); err == nil && st.IsDir() {
			return Project{Root: d}, nil
		}
		if d == filepath.Dir(d) {
			return Project{Root: abs}, nil
		}
	}
}

// Dir returns the project's .behavediff directory.
func (p Project) Dir() string { return filepath.Join(p.Root, ".behavediff") }

// SpecPath is where the named spec lives.
func (p Project) SpecPath(name string) string {
	return filepath.Join(p.Dir(), "specs", name+".yaml")
}

// BaselinePath is where the named spec's approved baseline lives.
func (p Project) BaselinePath(name string) string {
	return filepath.Join(p.Dir(), "baselines", name+".yaml")
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// ValidName reports whether name can name a spec (it becomes a file name).
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("bad spec name %q: use letters, digits, '.', '_' and '-'", name)
	}
	return nil
}

const specHeader = "# behavediff run spec: what `behavediff check` replays.\n# Written by `behavediff record --name`; edit with care.\n"

// SaveSpec writes a named spec with its workspace relative to the project
// root and secrets redacted.
func (p Project) SaveSpec(s recorder.Spec) error {
	if err := ValidName(s.Name); err != nil {
		return err
	}
	s = s.Redacted()
	s.Workspace = p.rel(s.Workspace)
	s.Image = p.rel(s.Image)
	s.Rootfs = p.rel(s.Rootfs)
	var buf bytes.Buffer
	buf.WriteString(specHeader)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(s); err != nil {
		return fmt.Errorf("encode spec %s: %w", s.Name, err)
	}
	path := p.SpecPath(s.Name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write spec %s: %w", path, err)
	}
	if err := writeFileAtomic(path, buf.Bytes()); err != nil {
		return fmt.Errorf("write spec %s: %w", path, err)
	}
	return nil
}

// ErrNoSpec is returned for a spec name with no file.
var ErrNoSpec = errors.New("no such spec")

// LoadSpec reads a named spec and makes its workspace absolute again.
func (p Project) LoadSpec(name string) (recorder.Spec, error) {
	if err := ValidName(name); err != nil {
		return recorder.Spec{}, err
	}
	path := p.SpecPath(name)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return recorder.Spec{}, fmt.Errorf("%w %q (looked for %s; create it with: behavediff record --name %s -- CMD)", ErrNoSpec, name, path, name)
	}
	if err != nil {
		return recorder.Spec{}, fmt.Errorf("read spec %s: %w", path, err)
	}
	var s recorder.Spec
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return recorder.Spec{}, fmt.Errorf("spec %s: %w", path, err)
	}
	if err := s.CheckVersion(); err != nil {
		return recorder.Spec{}, fmt.Errorf("spec %s: %w", path, err)
	}
	if s.Name == "" {
		s.Name = name
	}
	if s.Workspace == "" {
		s.Workspace = "."
	}
	s.Workspace = p.abs(s.Workspace)
	if _, err := os.Stat(p.abs(s.Image)); err == nil || !recorder.IsImageRef(s.Image) {
		s.Image = p.abs(s.Image) // a tarball; a registry reference stays as is
	}
	s.Rootfs = p.abs(s.Rootfs)
	return s, nil
}

// rel makes a path inside the project relative to its root (others stay).
func (p Project) rel(path string) string {
	if path == "" {
		return ""
	}
	if r, err := filepath.Rel(p.Root, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}

// abs resolves a project-relative path stored in a spec.
func (p Project) abs(path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(p.Root, path)
}

// SpecNames lists the project's named specs, sorted.
func (p Project) SpecNames() ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(p.Dir(), "specs"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list specs: %w", err)
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok && !e.IsDir() {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// Run replays spec: secret env values are taken from lookup (the replaying
// environment), stdin from the spec, and the new run is linked to replayOf.
func Run(ctx context.Context, db *store.DB, spec recorder.Spec, replayOf int64, lookup func(string) (string, bool), o recorder.Options) (recorder.Result, error) {
	s, err := spec.Unredact(lookup)
	if err != nil {
		return recorder.Result{}, err
	}
	o.Spec = s
	o.ReplayOf = replayOf
	if len(s.Stdin) > 0 {
		o.Stdin = bytes.NewReader(s.Stdin)
	}
	return recorder.Record(ctx, db, o)
}

// SpecOfRun loads the spec stored with a recorded run.
func SpecOfRun(ctx context.Context, db *store.DB, runID int64) (recorder.Spec, error) {
	b, err := db.Spec(ctx, runID)
	if err != nil {
		return recorder.Spec{}, fmt.Errorf("spec of run %d: %w", runID, err)
	}
	if len(b) == 0 {
		return recorder.Spec{}, fmt.Errorf("run %d has no stored spec", runID)
	}
	return recorder.UnmarshalSpec(b)
}

func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
