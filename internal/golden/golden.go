package golden

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files (and generated doc sections) instead of comparing; refused when CI=true")

// Update reports whether the test run asked to rewrite golden files. When it
// did and CI=true, it fails the test instead: regenerating in CI would make
// every golden test pass whatever the code produced.
func Update(t testing.TB) bool {
	t.Helper()
	if !*update {
		return false
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("golden: -update is refused when CI=true; run it locally and commit the rewritten files")
	}
	return true
}

// Check compares got with the golden file, or writes it under -update.
func Check(t testing.TB, file string, got []byte) {
	t.Helper()
	if Update(t) {
		if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run the test with -update to create it)", err)
	}
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("%s differs from the golden file (-want +got; rerun with -update to accept):\n%s", file, d)
	}
}
