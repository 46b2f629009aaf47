package diff_test

import (
	"strings"
	"testing"

	"github.com/behavediff/behavediff/baseline/baselinetest"
	"github.com/behavediff/behavediff/diff"
	"github.com/behavediff/behavediff/store"
)

// A path argument the sensor caught changing during the call (raced) is
// critical whatever the path; one read only when the call returned (late)
// is rated like an unresolved path, and a secret stays a secret.
func TestRacedAndLatePaths(t *testing.T) {
	const py = 1
	cases := []struct {
		name  string
		state store.PathState
		op    store.FileOp
		path  string
		flags uint32
		want  want
	}{
		// an approved path in a harmless place: raced, it is still critical
		{"raced read of an approved file", store.PathRaced, store.FileOpen, "/etc/hosts", baselinetest.ORdonly,
			want{diff.Critical, "raced-path", "raced:/etc/hosts"}},
		{"raced scratch mkdir", store.PathRaced, store.FileMkdir, "/tmp/build", 0,
			want{diff.Critical, "raced-path", "mkdir raced:/tmp/build"}},
		{"late scratch unlink", store.PathLate, store.FileUnlink, "/tmp/x", 0,
			want{diff.Critical, "unresolved-path", "late:/tmp/x"}},
		{"late read", store.PathLate, store.FileOpen, "/etc/hosts", baselinetest.ORdonly,
			want{diff.High, "unresolved-path", "late:/etc/hosts"}},
		{"late secret read", store.PathLate, store.FileOpen, "/root/.ssh/id_rsa", baselinetest.ORdonly,
			want{diff.Critical, "secret-read", "late:$HOME/.ssh/id_rsa"}},
	}
	base := approved(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := baselinetest.Benign(7)
			if c.op == store.FileOpen {
				b.Open(py, c.path, c.flags, baselinetest.EACCES)
			} else {
				b.File(py, c.op, c.path, 0, 0)
			}
			b.T.Files[len(b.T.Files)-1].PathState = c.state
			fs := diff.Compare(base, from(t, b.T), diff.Context{RunID: 7})
			check(t, fs, c.want)
			// the query hint finds the event: the mark is its path_state
			for _, f := range fs {
				if f.Subject == c.want.subject && (strings.Contains(f.Query, "raced:") || strings.Contains(f.Query, "late:") ||
					!strings.Contains(f.Query, "path_state = '")) {
					t.Errorf("query hint %s", f.Query)
				}
			}
		})
	}
}
