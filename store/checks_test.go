package store

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// A check's verdict and findings read back through the documented views;
// a check without a run (spec could not be replayed) is kept too; a bad
// level stores nothing of the batch.
func TestChecksStored(t *testing.T) {
	db, _ := openTemp(t)
	id := writeTrace(t, db, sampleTrace())
	checks := []Check{
		{RunID: id, Spec: "build", Command: "check", Status: "fail", FailOn: "medium", ToolVersion: "test", Findings: []CheckFinding{
			{Level: 4, RuleID: "BD-SECRET-READ", Kind: "secret-read", Change: "added", Section: "files.read", Subject: "$HOME/.ssh/id_rsa", Reason: "reads a secret", Process: "/bin/sh", Query: "behavediff query ...", Fingerprint: "aa"},
			{Level: 1, RuleID: "BD-SYSCALL", Kind: "syscall", Change: "added", Section: "syscalls", Subject: "getrandom", Reason: "new syscall", Fingerprint: "bb"},
		}},
		{Spec: "broken", Command: "check", Status: "error", FailOn: "medium", Error: "bad baseline"},
	}
	if _, err := db.AddChecks(ctx, checks); err != nil {
		t.Fatal(err)
	}
	res, err := db.Query(ctx, "SELECT spec, run_id, status, error, finding_count, worst_level FROM checks ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	want := [][]any{{"build", id, "fail", nil, int64(2), "critical"}, {"broken", nil, "error", "bad baseline", int64(0), nil}}
	if d := cmp.Diff(want, res.Rows); d != "" {
		t.Errorf("checks (-want +got):\n%s", d)
	}
	res, err = db.Query(ctx, "SELECT spec, level, rule_id, subject, process, check_status FROM findings ORDER BY idx")
	if err != nil {
		t.Fatal(err)
	}
	want = [][]any{{"build", "critical", "BD-SECRET-READ", "$HOME/.ssh/id_rsa", "/bin/sh", "fail"}, {"build", "low", "BD-SYSCALL", "getrandom", nil, "fail"}}
	if d := cmp.Diff(want, res.Rows); d != "" {
		t.Errorf("findings (-want +got):\n%s", d)
	}
	bad := []Check{{Spec: "x", Command: "check", Status: "pass", FailOn: "low"}, {Spec: "y", Command: "check", Status: "fail", FailOn: "low", Findings: []CheckFinding{{Level: 9}}}}
	if _, err := db.AddChecks(ctx, bad); err == nil {
		t.Fatal("level 9 accepted")
	}
	res, _ = db.Query(ctx, "SELECT count(*) FROM checks")
	if res.Rows[0][0] != int64(2) {
		t.Errorf("%v checks after a failed batch, want 2 (all or nothing)", res.Rows[0][0])
	}
}
