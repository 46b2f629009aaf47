package diff_test

import (
	"strings"
	"testing"

	"github.com/behavediff/behavediff/baseline/baselinetest"
	"github.com/behavediff/behavediff/diff"
	"github.com/behavediff/behavediff/internal/secrets"
	"github.com/behavediff/behavediff/store"
)

// samplePath makes a concrete path that an entry of the secret table covers.
func samplePath(e secrets.Entry, home string) string {
	p := e.Glob
	p = strings.Replace(p, "~/", home+"/", 1)
	p = strings.Replace(p, "**/", "/srv/app/", 1)
	p = strings.ReplaceAll(p, "*", "_x")
	if e.Dir {
		p += "/credentials"
	}
	return p
}

// Every entry of the one secret table (the same table the sandbox masks)
// is critical when read, in any home directory, also when the read failed.
func TestEverySecretIsCritical(t *testing.T) {
	base := approved(t)
	for _, e := range secrets.Table {
		for _, home := range []string{"/root", "/home/alice"} {
			p := samplePath(e, home)
			t.Run(p, func(t *testing.T) {
				b := baselinetest.Benign(7)
				b.Open(1, p, baselinetest.ORdonly, baselinetest.EACCES)
				fs := diff.Compare(base, from(t, b.T), diff.Context{RunID: 7})
				for _, f := range fs {
					if f.Kind == "secret-read" && f.Level == diff.Critical {
						return
					}
				}
				t.Errorf("reading %s (%s) is not a critical secret read:\n%s", p, e.What, dump(fs))
			})
		}
	}
}

// A run that tries to change behavediff's own files (a baseline, the trace
// database) is critical even though the sandbox refused the write.
func TestProjectFilesTamperIsCritical(t *testing.T) {
	base := approved(t)
	b := baselinetest.Benign(7)
	ws := b.T.Run.Workspace
	b.Open(0, ws+"/.behavediff/baselines/app.yaml", baselinetest.OWronly|baselinetest.OCreat|baselinetest.OTrunc, baselinetest.EROFS)
	b.File2(0, store.FileRename, ws+"/x.db", "/srv/.behavediff/traces.db", baselinetest.EROFS)
	fs := diff.Compare(base, from(t, b.T), diff.Context{RunID: 7})
	check(t, fs, want{diff.Critical, "behavediff-files", "$WORKSPACE/.behavediff/baselines/app.yaml"})
	if got := diff.Worst(fs); got != diff.Critical {
		t.Errorf("worst %s, want critical:\n%s", got, dump(fs))
	}
}
