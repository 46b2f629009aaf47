package snapshot

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/google/renameio/v2"
	"go.yaml.in/yaml/v3"

	"github.com/behavediff/behavediff/recorder"
)

// Project is a directory that holds a .behavediff folder: specs, baselines,
// pending baselines and (by default) the trace database. Paths stored in
// spec files are relative to Root so a spec recorded on a laptop replays in
// CI.
type Project struct {
	Root  string
	Found bool // a .behavediff folder exists at Root (FindProject found one)
}

// DirName is the project folder's name.
const DirName = ".behavediff"

// PendingSuffix marks a pending baseline: NAME.yaml.new is the baseline as
// it would be if the change were accepted (check writes it, review settles it).
const PendingSuffix = ".new"

// FindProject returns the nearest directory at or above start that holds a
// .behavediff folder (like git finds .git). Without one, the project would
// be created at the enclosing git work tree's root, or at start outside git;
// Found tells the two apart.
func FindProject(start string) (Project, error) {
	abs, err := filepath.Abs(start)
	if err != nil {
		return Project{}, fmt.Errorf("project dir %s: %w", start, err)
	}
	gitRoot := ""
	for d := abs; ; d = filepath.Dir(d) {
		if st, err := os.Stat(filepath.Join(d, DirName)); err == nil && st.IsDir() {
			return Project{Root: d, Found: true}, nil
		}
		if _, err := os.Stat(filepath.Join(d, ".git")); err == nil && gitRoot == "" {
			gitRoot = d
		}
		if d == filepath.Dir(d) {
			if gitRoot != "" {
				return Project{Root: gitRoot}, nil
			}
			return Project{Root: abs}, nil
		}
	}
}

// Dir returns the project's .behavediff directory.
func (p Project) Dir() string { return filepath.Join(p.Root, DirName) }

// SpecPath is where the named spec lives.
func (p Project) SpecPath(name string) string {
	return filepath.Join(p.Dir(), "specs", name+".yaml")
}

// BaselinePath is where the named spec's approved baseline lives.
func (p Project) BaselinePath(name string) string {
	return filepath.Join(p.Dir(), "baselines", name+".yaml")
}

// PendingPath is where the named spec's pending baseline lives.
func (p Project) PendingPath(name string) string {
	return p.BaselinePath(name) + PendingSuffix
}

// HasSpec reports whether name is a valid spec name with a spec file.
func (p Project) HasSpec(name string) bool {
	if ValidName(name) != nil {
		return false
	}
	_, err := os.Stat(p.SpecPath(name))
	return err == nil
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// ErrBadName is returned for a name that cannot name a spec.
var ErrBadName = errors.New("bad spec name")

// ValidName reports whether name can name a spec (it becomes a file name).
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w %q: use letters, digits, '.', '_' and '-'", ErrBadName, name)
	}
	return nil
}

const specHeader = "# behavediff run spec: what `behavediff check` replays.\n# Written by `behavediff record --name`; edit with care.\n"

// gitignore keeps local files out of version control: traces and pending
// baselines (a pending file is reviewed, not committed).
const gitignore = "# Traces and pending baselines are local; specs/ and baselines/ are meant to be committed.\ntraces.db*\n*" + PendingSuffix + "\n"

// Ensure creates the .behavediff folder with its .gitignore (kept as is when
// it exists, but given the pending-file line when it lacks one).
func (p Project) Ensure() error {
	if err := os.MkdirAll(p.Dir(), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", p.Dir(), err)
	}
	path := filepath.Join(p.Dir(), ".gitignore")
	old, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return writeFileAtomic(path, []byte(gitignore))
	case err != nil:
		return fmt.Errorf("read %s: %w", path, err)
	case !bytes.Contains(old, []byte("*"+PendingSuffix)):
		if len(old) > 0 && old[len(old)-1] != '\n' {
			old = append(old, '\n')
		}
		return writeFileAtomic(path, append(old, "*"+PendingSuffix+"\n"...))
	}
	return nil
}

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
	if err := p.Ensure(); err != nil {
		return err
	}
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
	return listNames(filepath.Join(p.Dir(), "specs"), ".yaml")
}

// BaselineNames lists the names that have an approved baseline, sorted.
func (p Project) BaselineNames() ([]string, error) {
	return listNames(filepath.Join(p.Dir(), "baselines"), ".yaml")
}

// PendingNames lists the names that have a pending baseline, sorted.
func (p Project) PendingNames() ([]string, error) {
	return listNames(filepath.Join(p.Dir(), "baselines"), ".yaml"+PendingSuffix)
}

// Unreferenced lists baselines (approved or pending) without a spec: left
// behind when a spec was renamed or deleted, they are never checked.
func (p Project) Unreferenced() ([]string, error) {
	specs, err := p.SpecNames()
	if err != nil {
		return nil, err
	}
	have := map[string]bool{}
	for _, s := range specs {
		have[s] = true
	}
	var out []string
	seen := map[string]bool{}
	for _, list := range []func() ([]string, error){p.BaselineNames, p.PendingNames} {
		names, err := list()
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			if !have[n] && !seen[n] {
				seen[n] = true
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

func listNames(dir, suffix string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), suffix); ok && !e.IsDir() && ValidName(n) == nil {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// writeFileAtomic replaces path with data so that a reader (or a crash) sees
// the old file or the new one, never a torn one: renameio writes a randomly
// named temp file in the same directory, fsyncs it, renames it over path and
// removes it on failure. An existing file keeps its permissions.
func writeFileAtomic(path string, data []byte) error {
	return renameio.WriteFile(path, data, 0o644)
}
