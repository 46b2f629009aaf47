package snapshot

import (
	"context"
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

var ctx = context.Background()

func kinds(fs []diff.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Level.String()+" "+f.Kind+" "+f.Subject)
	}
	return out
}

func TestCheckPassAndExitCodeChange(t *testing.T) {
	p := newProject(t, "build")
	r := newFake(benign)
	approveBenign(t, p, r, "build")
	b, err := baseline.Load(p.BaselinePath("build"))
	if err != nil || b.Exit == nil || *b.Exit != 0 {
		t.Fatalf("approved baseline exit = %v, %v; want 0", b.Exit, err)
	}

	rep := p.Check(ctx, r, []string{"build"}, CheckOptions{FailOn: FailOn{Level: diff.Medium}})
	if s := rep.Specs[0]; s.Status != diff.StatusPass || len(s.Findings) != 0 || exists(p.PendingPath("build")) {
		t.Fatalf("benign replay: %+v", s)
	}

	// Same behaviour, but the command now fails: a high finding, its
	// stderr, a pending file and what to do next.
	r.build = func(spec recorder.Spec, seed uint64) *store.Trace {
		tr := benign(spec, seed)
		tr.Run.Stderr = []byte("starting\nerror: disk full\n")
		tr.Run.ExitCode = 3
		return tr
	}
	s := p.Check(ctx, r, []string{"build"}, CheckOptions{FailOn: FailOn{Level: diff.Medium}}).Specs[0]
	if s.Status != diff.StatusFail {
		t.Fatalf("exit 3: status %s, want fail (%+v)", s.Status, s)
	}
	if got := kinds(s.Findings); len(got) != 1 || got[0] != "high exit-code exit 3" {
		t.Errorf("findings %q, want the exit code alone", got)
	}
	if !strings.Contains(s.StderrTail, "error: disk full") {
		t.Errorf("stderr tail %q", s.StderrTail)
	}
	if s.Pending == "" || !exists(p.PendingPath("build")) {
		t.Errorf("no pending baseline written (%q)", s.Pending)
	}
	if pb, err := baseline.Load(p.PendingPath("build")); err != nil || pb.Exit == nil || *pb.Exit != 3 {
		t.Errorf("pending baseline exit %v, %v; want 3", pb.Exit, err)
	}
	if !strings.Contains(strings.Join(s.Next, "\n"), "behavediff review build") {
		t.Errorf("next steps %q do not say how to review", s.Next)
	}
	// A later pass settles the pending change.
	r.build = benign
	if s := p.Check(ctx, r, []string{"build"}, CheckOptions{FailOn: FailOn{Level: diff.Medium}}).Specs[0]; s.Status != diff.StatusPass || exists(p.PendingPath("build")) {
		t.Errorf("pass after fail: %s, pending left: %v", s.Status, exists(p.PendingPath("build")))
	}
}

func TestCheckTimeoutIsAFinding(t *testing.T) {
	p := newProject(t, "build")
	r := newFake(benign)
	approveBenign(t, p, r, "build")
	r.build = func(spec recorder.Spec, seed uint64) *store.Trace {
		tr := benign(spec, seed)
		tr.Run.Status, tr.Run.ExitCode = store.StatusTimeout, 137
		return tr
	}
	s := p.Check(ctx, r, []string{"build"}, CheckOptions{FailOn: FailOn{Level: diff.Medium}}).Specs[0]
	if s.Status != diff.StatusFail || len(s.Findings) == 0 || !strings.Contains(s.Findings[0].Reason, "times out") {
		t.Fatalf("timeout: %+v", s)
	}
	// Even a --fail-on that lets the finding through never passes a timeout.
	s = p.Check(ctx, r, []string{"build"}, CheckOptions{FailOn: FailOn{Level: diff.Critical}}).Specs[0]
	if s.Status != diff.StatusInconclusive {
		t.Errorf("timeout with --fail-on critical: %s, want inconclusive", s.Status)
	}
}

func TestCheckNewSpecWritesPending(t *testing.T) {
	p := newProject(t, "build")
	r := newFake(benign)
	s := p.Check(ctx, r, []string{"build"}, CheckOptions{}).Specs[0]
	if s.Status != diff.StatusNew || !exists(p.PendingPath("build")) {
		t.Fatalf("new spec: %+v", s)
	}
	ig, err := os.ReadFile(p.Dir() + "/.gitignore")
	if err != nil || !strings.Contains(string(ig), "*.new") {
		t.Errorf(".gitignore %q (%v) does not cover pending files", ig, err)
	}
}

func TestFailOnIsTheSameForCheckAndDiff(t *testing.T) {
	fs := []diff.Finding{{Level: diff.None, Kind: "syscall", Subject: "read"}}
	never, _ := ParseFailOn("none")
	if st, shown := never.Judge(fs, false); st != diff.StatusPass || len(shown) != 0 {
		t.Errorf("none: %s %v", st, shown)
	}
	risky := append(fs, diff.Finding{Level: diff.Critical, Kind: "secret-read"})
	if st, shown := never.Judge(risky, false); st != diff.StatusPass || len(shown) != 1 {
		t.Errorf("none never fails but shows: %s %v", st, shown)
	}
	info, _ := ParseFailOn("info")
	if st, shown := info.Judge(fs, false); st != diff.StatusFail || len(shown) != 1 {
		t.Errorf("info fails on and shows informational findings: %s %v", st, shown)
	}
	med, _ := ParseFailOn("medium")
	if st, shown := med.Judge(fs, false); st != diff.StatusPass || len(shown) != 0 {
		t.Errorf("medium: %s %v", st, shown)
	}
	if _, err := ParseFailOn("loud"); err == nil {
		t.Error("ParseFailOn(loud) = nil error")
	}
}

func TestCheckInterruptedSkipsTheRest(t *testing.T) {
	p := newProject(t, "a", "b", "c", "d")
	r := newFake(benign)
	approveBenign(t, p, r, "a", "b", "c", "d")
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	r.onReplay = func(spec recorder.Spec) {
		if spec.Name == "b" {
			cancel()
		}
	}
	rep := p.Check(cctx, r, []string{"a", "b", "c", "d"}, CheckOptions{})
	var got []string
	for _, s := range rep.Specs {
		got = append(got, s.Name+"="+s.Status)
	}
	want := []string{"a=pass", "b=inconclusive", "c=skipped", "d=skipped"}
	if d := cmp.Diff(want, got); d != "" || !rep.Interrupted {
		t.Errorf("interrupted check (-want +got):\n%s\ninterrupted=%v", d, rep.Interrupted)
	}
}

func TestCheckJobsSameVerdicts(t *testing.T) {
	names := []string{"a", "b", "c", "d", "e"}
	p := newProject(t, names...)
	r := newFake(benign)
	approveBenign(t, p, r, names...)
	r.build = func(spec recorder.Spec, seed uint64) *store.Trace {
		if spec.Name == "b" || spec.Name == "d" {
			return risky(spec, seed)
		}
		return benign(spec, seed)
	}
	verdicts := func(jobs int) []string {
		rep := p.Check(ctx, r, names, CheckOptions{FailOn: FailOn{Level: diff.Medium}, Jobs: jobs})
		var out []string
		for _, s := range rep.Specs {
			if s.DurationMS <= 0 {
				t.Errorf("jobs %d: %s has no duration", jobs, s.Name)
			}
			out = append(out, s.Name+"="+s.Status+" "+strings.Join(kinds(s.Findings), ", "))
		}
		return out
	}
	one, two := verdicts(1), verdicts(2)
	if d := cmp.Diff(one, two); d != "" {
		t.Errorf("--jobs 2 differs from --jobs 1 (-1 +2):\n%s", d)
	}
	if !strings.HasPrefix(one[1], "b=fail critical") || !strings.Contains(one[1], "high exit-code exit 3") {
		t.Errorf("b: %s", one[1])
	}
}

func TestApproveGuard(t *testing.T) {
	p := newProject(t, "build")
	r := newFake(benign)
	approveBenign(t, p, r, "build")
	before, _ := os.ReadFile(p.BaselinePath("build"))

	tr := risky(recorder.Spec{}, 7)
	tr.Run.ExitCode = 0
	tr.Run.Name = "build"
	r.add(tr)
	pl, err := p.PlanApprove(ctx, r, "build", ApproveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	refused := kinds(pl.Refused(pl.AcceptRisk()))
	want := []string{"critical dns evil.example", "critical egress evil.example:443", "critical secret-read $HOME/.ssh/id_rsa"}
	if d := cmp.Diff(want, refused); d != "" {
		t.Errorf("refused (-want +got):\n%s", d)
	}
	if err := p.Write(pl, pl.AcceptRisk()); !errors.Is(err, ErrRiskRefused) {
		t.Fatalf("Write = %v, want ErrRiskRefused", err)
	}
	after, _ := os.ReadFile(p.BaselinePath("build"))
	if string(before) != string(after) {
		t.Error("refused approval changed the baseline")
	}
	if !exists(p.PendingPath("build")) {
		t.Error("refused approval left nothing to review")
	}
	// Still refused at --accept-risk high: the secret read is critical.
	if err := p.Write(pl, diff.High); !errors.Is(err, ErrRiskRefused) {
		t.Errorf("accept high: %v", err)
	}
	if err := p.Write(pl, diff.Critical); err != nil {
		t.Fatalf("accept critical: %v", err)
	}
	b, _ := baseline.Load(p.BaselinePath("build"))
	if !hasEntry(b, "network.egress", "evil.example:443") || exists(p.PendingPath("build")) {
		t.Errorf("accepted approval: egress %v, pending left %v", b.Section("network.egress"), exists(p.PendingPath("build")))
	}
}

func TestApproveNewBaselineRefusesOnlyCritical(t *testing.T) {
	p := newProject(t, "build")
	r := newFake(benign)
	tr := benign(recorder.Spec{}, 3)
	tr.Run.Name = "build"
	r.add(tr)
	pl, err := p.PlanApprove(ctx, r, "build", ApproveOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Write(pl, pl.AcceptRisk()); err != nil {
		t.Fatalf("benign first approval: %v", err)
	}
	p2 := newProject(t, "build")
	tr = risky(recorder.Spec{}, 3)
	tr.Run.Name, tr.Run.ExitCode = "build", 0
	r2 := newFake(benign)
	r2.add(tr)
	pl, _ = p2.PlanApprove(ctx, r2, "build", ApproveOptions{})
	if err := p2.Write(pl, pl.AcceptRisk()); !errors.Is(err, ErrRiskRefused) || exists(p2.BaselinePath("build")) {
		t.Errorf("first approval reading a secret: %v", err)
	}
}

func TestApproveOutsideAProjectCreatesNothing(t *testing.T) {
	dir := t.TempDir()
	p := Project{Root: dir}
	s := &Store{Path: p.Dir() + "/traces.db", Project: p}
	if _, err := p.PlanApprove(ctx, s, "build", ApproveOptions{}); err == nil {
		t.Fatal("approve with no spec and no runs succeeded")
	}
	if _, err := os.Stat(p.Dir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed approve left %s behind (%v)", p.Dir(), err)
	}
}

func TestResolve(t *testing.T) {
	p := newProject(t, "build")
	r := newFake(benign)
	rf, err := p.Resolve(ctx, r, "build")
	if err != nil || rf != (Ref{Spec: "build"}) {
		t.Errorf("spec without runs: %+v, %v", rf, err)
	}
	tr := benign(recorder.Spec{}, 1)
	tr.Run.Name = "build"
	id := r.add(tr)
	if rf, err := p.Resolve(ctx, r, "build"); err != nil || rf != (Ref{Spec: "build", RunID: id}) {
		t.Errorf("spec with a run: %+v, %v", rf, err)
	}
	if rf, err := p.Resolve(ctx, r, "last"); err != nil || rf != (Ref{RunID: id}) {
		t.Errorf("last: %+v, %v", rf, err)
	}
	if _, err := p.Resolve(ctx, r, "nope"); err == nil || !strings.Contains(err.Error(), `no spec or run named "nope"`) {
		t.Errorf("unknown: %v", err)
	}
}

func TestUnreferenced(t *testing.T) {
	p := newProject(t, "build")
	r := newFake(benign)
	approveBenign(t, p, r, "build")
	os.WriteFile(p.BaselinePath("old"), []byte("x"), 0o644)
	os.WriteFile(p.PendingPath("gone"), []byte("x"), 0o644)
	got, err := p.Unreferenced()
	if d := cmp.Diff([]string{"gone", "old"}, got); d != "" || err != nil {
		t.Errorf("Unreferenced (-want +got):\n%s%v", d, err)
	}
}

func hasEntry(b *baseline.Baseline, section, value string) bool {
	for _, e := range b.Section(section) {
		if e.Value == value {
			return true
		}
	}
	return false
}
