package snapshot

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/behavediff/behavediff/recorder"
)

func TestSpecRoundTrip(t *testing.T) {
	root := t.TempDir()
	p := Project{Root: root}
	ws := filepath.Join(root, "sub")
	os.Mkdir(ws, 0o755)
	in := recorder.Spec{
		Version: recorder.SpecVersion, Name: "build", Args: []string{"make", "-j2"}, Workspace: ws,
		Env: []string{"MODE=ci", "NPM_TOKEN=secret"}, Timeout: recorder.Duration(5 * time.Minute), Stdin: []byte("input\n"),
	}
	if err := p.SaveSpec(in); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(p.SpecPath("build"))
	if strings.Contains(string(raw), "secret") || strings.Contains(string(raw), root) {
		t.Errorf("spec file holds a secret or a machine-specific path:\n%s", raw)
	}
	out, err := p.LoadSpec("build")
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.Env = []string{"MODE=ci", "NPM_TOKEN=" + recorder.RedactedValue}
	if d := cmp.Diff(want, out); d != "" {
		t.Errorf("round trip (-want +got):\n%s", d)
	}
	// The same spec replays from another checkout of the repository.
	other := t.TempDir()
	os.MkdirAll(filepath.Join(other, ".behavediff", "specs"), 0o755)
	os.WriteFile(filepath.Join(other, ".behavediff", "specs", "build.yaml"), raw, 0o644)
	moved, err := Project{Root: other}.LoadSpec("build")
	if err != nil {
		t.Fatal(err)
	}
	if moved.Workspace != filepath.Join(other, "sub") {
		t.Errorf("workspace %s, want it relative to the new checkout", moved.Workspace)
	}
	names, err := p.SpecNames()
	if err != nil || len(names) != 1 || names[0] != "build" {
		t.Errorf("SpecNames = %v, %v", names, err)
	}
}

func TestLoadSpecErrors(t *testing.T) {
	root := t.TempDir()
	p := Project{Root: root}
	if _, err := p.LoadSpec("missing"); !errors.Is(err, ErrNoSpec) {
		t.Errorf("missing spec: %v", err)
	}
	if _, err := p.LoadSpec("../etc/passwd"); err == nil || !strings.Contains(err.Error(), "bad spec name") {
		t.Errorf("path traversal name: %v", err)
	}
	os.MkdirAll(filepath.Join(root, ".behavediff", "specs"), 0o755)
	os.WriteFile(p.SpecPath("future"), []byte("version: 7\nargs: [x]\n"), 0o644)
	if _, err := p.LoadSpec("future"); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("newer spec: %v", err)
	}
	os.WriteFile(p.SpecPath("typo"), []byte("version: 1\nargz: [x]\n"), 0o644)
	if _, err := p.LoadSpec("typo"); err == nil || !strings.Contains(err.Error(), "argz") {
		t.Errorf("unknown field: %v", err)
	}
}

func TestFindProject(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, ".behavediff"), 0o755)
	deep := filepath.Join(root, "a", "b")
	os.MkdirAll(deep, 0o755)
	p, err := FindProject(deep)
	if err != nil || p.Root != root {
		t.Errorf("FindProject(%s) = %v, %v; want %s", deep, p, err, root)
	}
	lone := t.TempDir()
	if p, _ := FindProject(lone); p.Root != lone {
		t.Errorf("without .behavediff: %s, want %s", p.Root, lone)
	}
}

func TestFindProjectAtGitRoot(t *testing.T) {
	root := t.TempDir()
	os.Mkdir(filepath.Join(root, ".git"), 0o755)
	deep := filepath.Join(root, "src", "pkg")
	os.MkdirAll(deep, 0o755)
	p, err := FindProject(deep)
	if err != nil || p.Root != root || p.Found {
		t.Errorf("FindProject in a git work tree = %+v, %v; want root %s, not found", p, err, root)
	}
	// An existing .behavediff below the git root wins.
	os.Mkdir(filepath.Join(root, "src", ".behavediff"), 0o755)
	if p, _ := FindProject(deep); p.Root != filepath.Join(root, "src") || !p.Found {
		t.Errorf("nested project: %+v", p)
	}
}

func TestEnsureAddsPendingToOldGitignore(t *testing.T) {
	p := Project{Root: t.TempDir()}
	os.MkdirAll(p.Dir(), 0o755)
	os.WriteFile(filepath.Join(p.Dir(), ".gitignore"), []byte("traces.db*"), 0o644)
	if err := p.Ensure(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(p.Dir(), ".gitignore"))
	if string(b) != "traces.db*\n*.new\n" {
		t.Errorf(".gitignore = %q", b)
	}
}
