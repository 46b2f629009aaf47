package snapshot

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/behavediff/behavediff/baseline"
	"github.com/behavediff/behavediff/diff"
	"github.com/behavediff/behavediff/recorder"
	"github.com/behavediff/behavediff/store"
)

// failWithChanges approves a benign build, then checks a replay that reads
// a secret, talks to evil.example and runs curl: three risky changes.
func failWithChanges(t *testing.T) (Project, *fakeRunner) {
	t.Helper()
	p := newProject(t, "build")
	r := newFake(benign)
	approveBenign(t, p, r, "build")
	r.build = func(spec recorder.Spec, seed uint64) *store.Trace {
		tr := risky(spec, seed)
		tr.Run.ExitCode = 0
		b := builderOf(tr)
		b.Exec(0, "/usr/bin/curl", "curl", "-s", "https://example.org")
		return tr
	}
	if s := p.CheckOne(ctx, r, "build", CheckOptions{FailOn: FailOn{Level: diff.Medium}}); s.Status != diff.StatusFail {
		t.Fatalf("check: %+v", s)
	}
	return p, r
}

func subjects(cs []Change) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Finding.Kind+" "+c.Finding.Subject)
	}
	return out
}

func TestReviewAcceptOneRejectAnother(t *testing.T) {
	p, r := failWithChanges(t)
	pd, err := p.LoadPending(ctx, r, "build", Config{})
	if err != nil {
		t.Fatal(err)
	}
	if pd.RunID == 0 {
		t.Error("the local run behind the pending baseline was not found")
	}
	got := subjects(pd.Changes)
	want := []string{"dns evil.example", "egress evil.example:443", "secret-read $HOME/.ssh/id_rsa", "exec /usr/bin/curl"}
	if d := cmp.Diff(want, got[:len(want)]); d != "" {
		t.Fatalf("changes (-want +got):\n%s\nall: %q", d, got)
	}
	var curl Change
	for _, c := range pd.Changes {
		if c.Finding.Kind == "exec" {
			curl = c
		}
	}
	if len(curl.Argv) != 1 || curl.Argv[0] != "curl -s https://example.org" || curl.Finding.Process == "" || curl.Finding.Query == "" {
		t.Errorf("exec change lacks argv, chain or query: %+v", curl)
	}
	// Accept curl, reject the secret read, skip the rest.
	ds := make([]Decision, len(pd.Changes))
	for i, c := range pd.Changes {
		switch c.Finding.Kind {
		case "exec":
			ds[i] = Accept
		case "secret-read":
			ds[i] = Reject
		}
	}
	st, err := p.Settle(pd, ds)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Wrote || !st.StillPending || st.Accepted != 1 || st.Rejected != 1 {
		t.Errorf("settled %+v", st)
	}
	b, err := baseline.Load(p.BaselinePath("build"))
	if err != nil {
		t.Fatal(err)
	}
	if !hasEntry(b, "files.exec", "/usr/bin/curl") {
		t.Error("accepted exec is not in the baseline")
	}
	if hasEntry(b, "files.read", "$HOME/.ssh/id_rsa") || hasEntry(b, "network.egress", "evil.example:443") {
		t.Error("rejected or skipped change is in the baseline")
	}
	// The skipped changes stay pending; the rejected one is gone.
	pd, err = p.LoadPending(ctx, nil, "build", Config{})
	if err != nil {
		t.Fatal(err)
	}
	got = subjects(pd.Changes)
	if d := cmp.Diff([]string{"dns evil.example", "egress evil.example:443"}, got); d != "" {
		t.Errorf("still pending (-want +got):\n%s", d)
	}
	// Reject the rest: the pending file goes, the baseline stays.
	before, _ := os.ReadFile(p.BaselinePath("build"))
	if _, err := p.Settle(pd, []Decision{Reject, Reject}); err != nil {
		t.Fatal(err)
	}
	after, _ := os.ReadFile(p.BaselinePath("build"))
	if exists(p.PendingPath("build")) || string(before) != string(after) {
		t.Error("reject-all left a pending file or changed the baseline")
	}
	// The baseline now passes a replay that only adds curl.
	r.build = func(spec recorder.Spec, seed uint64) *store.Trace {
		tr := benign(spec, seed)
		builderOf(tr).Exec(0, "/usr/bin/curl", "curl", "-s", "https://example.org")
		return tr
	}
	if s := p.CheckOne(ctx, r, "build", CheckOptions{FailOn: FailOn{Level: diff.Low}}); s.Status != diff.StatusPass {
		t.Errorf("after review: %s %q", s.Status, kinds(s.Findings))
	}
}

func TestReviewAcceptAllIsThePendingBaseline(t *testing.T) {
	p, r := failWithChanges(t)
	want, _ := os.ReadFile(p.PendingPath("build"))
	pd, err := p.LoadPending(ctx, r, "build", Config{})
	if err != nil {
		t.Fatal(err)
	}
	ds, _ := Decide(pd.Changes, func(i int, c Change) (Decision, bool, error) { return Accept, true, nil })
	if _, err := p.Settle(pd, ds); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p.BaselinePath("build"))
	if d := cmp.Diff(string(want), string(got)); d != "" {
		t.Errorf("accept-all baseline differs from the pending file (-want +got):\n%s", d)
	}
}

func TestReviewPendingFromAnotherMachine(t *testing.T) {
	p, _ := failWithChanges(t)
	// A CI artifact: the pending file is here, its run is not.
	pd, err := p.LoadPending(ctx, newFake(benign), "build", Config{})
	if err != nil {
		t.Fatal(err)
	}
	if pd.RunID != 0 || len(pd.Changes) < 4 {
		t.Fatalf("artifact review: run %d, %d changes", pd.RunID, len(pd.Changes))
	}
	if _, err := p.LoadPending(ctx, nil, "nope", Config{}); err == nil || !strings.Contains(err.Error(), "no pending baseline") {
		t.Errorf("missing pending: %v", err)
	}
}

// A first baseline reviews the same way: risky changes one by one, the
// informational rest as one group.
func TestReviewNewBaseline(t *testing.T) {
	p := newProject(t, "build")
	r := newFake(risky)
	if s := p.CheckOne(ctx, r, "build", CheckOptions{}); s.Status != diff.StatusNew {
		t.Fatalf("check: %+v", s)
	}
	pd, err := p.LoadPending(ctx, r, "build", Config{})
	if err != nil {
		t.Fatal(err)
	}
	last := pd.Changes[len(pd.Changes)-1]
	if last.Finding.Kind != "other" || last.Entries < 10 {
		t.Errorf("informational group: %+v", last.Finding)
	}
	// Reject the secret read, accept everything else.
	ds := make([]Decision, len(pd.Changes))
	for i, c := range pd.Changes {
		ds[i] = Accept
		if c.Finding.Kind == "secret-read" {
			ds[i] = Reject
		}
	}
	if _, err := p.Settle(pd, ds); err != nil {
		t.Fatal(err)
	}
	b, err := baseline.Load(p.BaselinePath("build"))
	if err != nil {
		t.Fatal(err)
	}
	if hasEntry(b, "files.read", "$HOME/.ssh/id_rsa") || !hasEntry(b, "files.exec", "/usr/bin/python3") || b.Exit == nil || *b.Exit != 3 {
		t.Errorf("new baseline after review: exit %v, reads %v", b.Exit, b.Section("files.read"))
	}
}

// Pending files downloaded from CI are imported and reviewed here.
func TestImportPendingFromArtifact(t *testing.T) {
	p, _ := failWithChanges(t)
	artifact := t.TempDir()
	deep := artifact + "/behavediff-pending/.behavediff/baselines"
	os.MkdirAll(deep, 0o755)
	data, _ := os.ReadFile(p.PendingPath("build"))
	os.WriteFile(deep+"/build.yaml.new", data, 0o644)
	os.Remove(p.PendingPath("build"))
	names, err := p.ImportPending(artifact)
	if err != nil || len(names) != 1 || names[0] != "build" {
		t.Fatalf("ImportPending = %v, %v", names, err)
	}
	pd, err := p.LoadPending(ctx, nil, "build", Config{})
	if err != nil || len(pd.Changes) < 4 {
		t.Fatalf("imported pending: %v", err)
	}
	// A pending file for a spec this project does not have, or a broken
	// one, is refused before anything is copied.
	os.WriteFile(deep+"/other.yaml.new", data, 0o644)
	if _, err := p.ImportPending(artifact); err == nil || !strings.Contains(err.Error(), "no spec other") {
		t.Errorf("foreign spec: %v", err)
	}
	os.Remove(deep + "/other.yaml.new")
	os.WriteFile(deep+"/build.yaml.new", []byte("version: 1\nfiles: [oops\n"), 0o644)
	if _, err := p.ImportPending(artifact); err == nil {
		t.Error("broken pending file imported")
	}
	// A symlink in an artifact is not followed (it could point anywhere).
	os.Remove(deep + "/build.yaml.new")
	os.Symlink("/etc/passwd", deep+"/build.yaml.new")
	if _, err := p.ImportPending(artifact); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("symlinked pending file: %v", err)
	}
	if _, err := p.ImportPending(t.TempDir()); !errors.Is(err, ErrNoPending) {
		t.Errorf("empty artifact: %v", err)
	}
}
