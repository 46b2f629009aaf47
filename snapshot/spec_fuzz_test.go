package snapshot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// FuzzLoadSpec: spec files arrive in pull requests. LoadSpec must return a
// spec or an error (never panic), and a spec it accepts must survive
// SaveSpec and LoadSpec again unchanged.
func FuzzLoadSpec(f *testing.F) {
	for _, s := range []string{
		specHeader + "version: 1\nname: build\nargs:\n  - sh\n  - -c\n  - make\nworkspace: .\nenv:\n  - A=1\n  - GITHUB_TOKEN=<redacted>\ntimeout: 10m0s\nimage: img.tar\nstdin: aGVsbG8=\n",
		"version: 2\n",
		"version: 1\ntimeout: forever\n",
		"version: 1\nunknown: x\n",
		"version: 1\nworkspace: ../../../../etc\nrootfs: /\n",
		"a: &a [*a]\n",
		"version: 1\nargs: &x [a, b]\nenv: *x\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := Project{Root: t.TempDir()}
		path := p.SpecPath("fuzz")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := p.LoadSpec("fuzz")
		if err != nil {
			return
		}
		s.Name = "fuzz2"
		// Secret-looking variables are redacted on save: compare what a
		// save keeps.
		s = s.Redacted()
		if err := p.SaveSpec(s); err != nil {
			t.Fatalf("SaveSpec of a loaded spec: %v", err)
		}
		again, err := p.LoadSpec("fuzz2")
		if err != nil {
			out, _ := os.ReadFile(p.SpecPath("fuzz2"))
			t.Fatalf("LoadSpec(SaveSpec(LoadSpec(input))): %v\n%s", err, out)
		}
		if d := cmp.Diff(s, again, cmpopts.EquateEmpty()); d != "" {
			t.Fatalf("round trip changed the spec (-loaded +reloaded):\n%s", d)
		}
	})
}

// FuzzValidName: a name that passes ValidName names a file directly in
// .behavediff/specs (it is joined into a path).
func FuzzValidName(f *testing.F) {
	for _, s := range []string{"build", "../x", "a/b", ".hidden", "x.yaml", "a\x00b", "..", "C:\\x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if ValidName(name) != nil {
			return
		}
		p := Project{Root: "/p"}
		if got := filepath.Dir(p.SpecPath(name)); got != "/p/.behavediff/specs" {
			t.Fatalf("spec %q lands in %s", name, got)
		}
		if strings.ContainsAny(name, "/\x00") {
			t.Fatalf("ValidName accepted %q", name)
		}
	})
}
