package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Bad network flags fail before anything runs: exit 125 with one clear
// line naming the problem, and no run is stored.
func TestEgressFlagsBadInput(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, ".behavediff"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--net", "bogus"}, `bad --net "bogus"`},
		{[]string{"--net", "host", "--allow", "a.test:443"}, "--allow needs --net proxy"},
		{[]string{"--network", "--net", "proxy"}, "conflicts with --net proxy"},
		{[]string{"--net", "none", "--add-host", "a.test:10.0.0.1"}, "--add-host needs --net proxy"},
		{[]string{"--allow", "a.test"}, `bad endpoint "a.test": no port`},
		{[]string{"--allow", "::1:53"}, "brackets"},
		{[]string{"--allow", "a.test:443", "--add-host", "a.test"}, "want NAME:IP"},
		{[]string{"--allow", "a.test:443", "--add-host", "a.test:999.1.1.1"}, "bad address"},
		{[]string{"--enforce"}, "--enforce needs --name"},
		{[]string{"--name", "nobase", "--enforce"}, "no approved baseline to enforce for nobase"},
		{[]string{"--insecure-registry", "r.test:5000"}, "--insecure-registry is for pulling"},
	} {
		code, out, stderr := runCLI(t, append(append([]string{"record", "--db", filepath.Join(dir, "t.db")}, c.args...), "--", "/bin/true")...)
		if code != exitUsage || !strings.Contains(stderr, c.want) || out != "" {
			t.Errorf("%v: exit %d, stderr %q; want 125 and %q", c.args, code, stderr, c.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, ".behavediff", "specs", "nobase.yaml")); err == nil {
		t.Error("a refused --enforce record wrote its spec")
	}
	if code, out, stderr := runCLI(t, "policy", "nobase"); code != exitUsage || !strings.Contains(stderr, "no approved baseline") || out != "" {
		t.Errorf("policy of a spec without baseline: exit %d %q %q", code, out, stderr)
	}
	if code, _, stderr := runCLI(t, "policy", "--format", "xml", "x"); code != exitUsage || !strings.Contains(stderr, "bad --format") {
		t.Errorf("policy --format xml: exit %d %q", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "t.db")); err == nil {
		if code, out, _ := runCLI(t, "query", "--db", filepath.Join(dir, "t.db"), "SELECT count(*) AS n FROM runs"); code != 0 || !strings.Contains(out, "0") {
			t.Errorf("bad input left runs: %s", out)
		}
	}
}
