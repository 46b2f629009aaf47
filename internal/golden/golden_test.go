package golden

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Under CI=true, -update must fail the test and leave the golden file alone.
func TestUpdateRefusedInCI(t *testing.T) {
	if file := os.Getenv("GOLDEN_CHILD_FILE"); file != "" {
		Check(t, file, []byte("rewritten\n"))
		return
	}
	file := filepath.Join(t.TempDir(), "g.txt")
	if err := os.WriteFile(file, []byte("committed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestUpdateRefusedInCI$", "-update")
	cmd.Env = append(os.Environ(), "CI=true", "GOLDEN_CHILD_FILE="+file)
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("child passed with -update under CI=true:\n%s", out)
	}
	if !strings.Contains(string(out), "refused when CI=true") {
		t.Errorf("child failed without saying why:\n%s", out)
	}
	if got, _ := os.ReadFile(file); string(got) != "committed\n" {
		t.Errorf("golden file rewritten under CI: %q", got)
	}

	// Outside CI the same run rewrites it.
	cmd = exec.Command(os.Args[0], "-test.run=^TestUpdateRefusedInCI$", "-update")
	cmd.Env = append(os.Environ(), "CI=", "GOLDEN_CHILD_FILE="+file)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child failed outside CI: %v\n%s", err, out)
	}
	if got, _ := os.ReadFile(file); string(got) != "rewritten\n" {
		t.Errorf("golden file not rewritten by -update: %q", got)
	}
}
