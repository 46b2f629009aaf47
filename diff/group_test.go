package diff_test

import (
	"fmt"
	"path"
	"strings"
	"testing"

	"github.com/behavediff/behavediff/baseline/baselinetest"
	"github.com/behavediff/behavediff/diff"
)

// A find over / reads a hundred directories outside system paths: they
// collapse into a few findings per directory tree, each with a count,
// examples and a query that lists them all; a lone read stays as it is.
func TestCollapseManyPaths(t *testing.T) {
	base := approved(t)
	b := baselinetest.Benign(3)
	f := b.Exec(0, "/usr/bin/find", "find", "/")
	for i := 0; i < 60; i++ {
		b.Read(f, fmt.Sprintf("/var/lib/pkg%d/dir%d", i%7, i))
	}
	for i := 0; i < 40; i++ {
		b.Read(f, fmt.Sprintf("/srv/www/site%d", i))
	}
	b.Read(f, "/home/alice")
	fs := diff.Compare(base, from(t, b.T), diff.Context{RunID: 5})
	var reads []diff.Finding
	for _, x := range fs {
		if x.Kind == "read-outside" {
			reads = append(reads, x)
		}
	}
	total := 0
	got := map[string]int{}
	for _, x := range reads {
		n := x.Count
		if n == 0 {
			n = 1
		}
		total += n
		got[x.Subject] = x.Count
		if x.Count > 0 {
			if len(x.Examples) == 0 || len(x.Examples) > 3 || !strings.Contains(x.Query, "LIKE '"+strings.TrimSuffix(x.Subject, "**")+"%'") {
				t.Errorf("collapsed finding lacks examples or a query over its directory: %+v", x)
			}
			for _, e := range x.Examples {
				if ok, _ := path.Match(strings.TrimSuffix(x.Subject, "/**")+"/*", e); !strings.HasPrefix(e, strings.TrimSuffix(x.Subject, "**")) && !ok {
					t.Errorf("example %s is not below %s", e, x.Subject)
				}
			}
		}
		if x.Level != diff.Medium || x.Rule != "BD-READ-OUTSIDE" {
			t.Errorf("collapsing changed the rating: %+v", x)
		}
	}
	if total != 101 {
		t.Errorf("collapsed findings stand for %d reads, want 101:\n%s", total, dump(reads))
	}
	if got["/var/lib/**"] != 60 || got["/srv/www/**"] != 40 || got["/home/alice"] != 0 || len(reads) != 3 {
		t.Errorf("want /var/lib/** (60), /srv/www/** (40) and /home/alice; got:\n%s", dump(reads))
	}
}

// Four findings under one directory stay four.
func TestCollapseNeedsEnough(t *testing.T) {
	base := approved(t)
	b := baselinetest.Benign(3)
	for i := 0; i < diff.MinCollapse-1; i++ {
		b.Read(0, fmt.Sprintf("/srv/data/f%d", i))
	}
	fs := diff.AtLeast(diff.Compare(base, from(t, b.T), diff.Context{RunID: 5}), diff.Medium)
	if len(fs) != diff.MinCollapse-1 {
		t.Fatalf("want %d separate findings:\n%s", diff.MinCollapse-1, dump(fs))
	}
}

// All new syscalls of a run are one low finding.
func TestNewSyscallsAreOneFinding(t *testing.T) {
	base := approved(t)
	b := baselinetest.Benign(4)
	for _, s := range []string{"getrandom", "io_uring_setup", "pidfd_open", "memfd_secret"} {
		b.Syscall(1, s, 2)
	}
	fs := diff.Compare(base, from(t, b.T), diff.Context{RunID: 8})
	if len(fs) != 1 {
		t.Fatalf("want one finding:\n%s", dump(fs))
	}
	f := fs[0]
	if f.Level != diff.Low || f.Count != 4 || f.Rule != "BD-SYSCALL" || !strings.Contains(f.Subject, "io_uring_setup") ||
		!strings.Contains(f.Query, "name IN ('getrandom', 'io_uring_setup', 'memfd_secret', 'pidfd_open')") {
		t.Errorf("grouped syscalls: %+v", f)
	}
}

// The tool tables do not contradict each other: a text tool is never also
// a downloader, a shell, an interpreter or a capable program.
func TestToolTablesDisjoint(t *testing.T) {
	other := map[string]string{}
	for _, d := range diff.Downloaders {
		other[d] = "downloader"
	}
	for _, s := range diff.Shells {
		other[s] = "shell"
	}
	for _, s := range diff.Interpreters {
		other[s] = "interpreter"
	}
	for _, p := range diff.Capable {
		other[p.Glob] = p.What
	}
	for _, tool := range diff.TextTools {
		if w, ok := other[tool]; ok {
			t.Errorf("%s is a text tool and a %s", tool, w)
		}
	}
}

// Every rule has a unique id of the documented shape.
func TestRuleIDs(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range diff.Rules {
		if !strings.HasPrefix(r.ID, "BD-") || strings.ToUpper(r.ID) != r.ID || strings.ContainsAny(r.ID, " _") {
			t.Errorf("rule id %q: want BD-UPPER-CASE", r.ID)
		}
		if seen[r.ID] {
			t.Errorf("rule id %s used twice", r.ID)
		}
		seen[r.ID] = true
		for _, p := range r.Peers {
			if !strings.HasPrefix(p, "falco:") && !strings.HasPrefix(p, "tracee:TRC-") {
				t.Errorf("%s: peer %q is neither falco:NAME nor tracee:TRC-N", r.ID, p)
			}
		}
	}
}

// An exploit syscall is not hidden in the low group of new syscalls.
func TestExploitSyscallStandsAlone(t *testing.T) {
	base := approved(t)
	b := baselinetest.Benign(4)
	for _, s := range []string{"getrandom", "userfaultfd", "pidfd_open"} {
		b.Syscall(1, s, 2)
	}
	fs := diff.Compare(base, from(t, b.T), diff.Context{RunID: 8})
	if f, ok := findRule(fs, "BD-EXPLOIT-SYSCALL", "userfaultfd"); !ok || f.Level != diff.High {
		t.Fatalf("no high userfaultfd finding:\n%s", dump(fs))
	}
	if f, ok := findRule(fs, "BD-SYSCALL", "getrandom"); !ok || f.Count != 2 || strings.Contains(f.Subject, "userfaultfd") {
		t.Fatalf("want the other two grouped:\n%s", dump(fs))
	}
}

// A baseline approved before versioned library names were normalised
// (libc.so.6) diffs clean against a run that names it libc.so.*: the
// library is not "removed".
func TestOldLibraryNamesAreNotRemoved(t *testing.T) {
	base := approved(t)
	for i, e := range base.Files.Read {
		if strings.HasSuffix(e.Value, "libc.so.*") {
			base.Files.Read[i].Value = strings.TrimSuffix(e.Value, "*") + "6"
		}
	}
	fs := diff.Compare(base, from(t, baselinetest.Benign(2).T), diff.Context{})
	if len(diff.AtLeast(fs, diff.Low)) != 0 {
		t.Fatalf("findings against an older baseline:\n%s", dump(fs))
	}
}

// Directory reads of the home directory itself and below it collapse under
// $HOME, and the small leftover trees under their common directory.
func TestCollapseHomeAndLeftovers(t *testing.T) {
	base := approved(t)
	b := baselinetest.Benign(3)
	f := b.Exec(0, "/usr/bin/find", "find", "/")
	for _, p := range []string{"/root", "/root/.cache", "/root/.cargo", "/root/.local", "/root/.npm", "/root/.config"} {
		b.Read(f, p)
	}
	for _, p := range []string{"/srv", "/mnt/a", "/media/b", "/boot/c", "/home"} {
		b.Read(f, p)
	}
	fs := diff.Compare(base, from(t, b.T), diff.Context{RunID: 5})
	got := map[string]int{}
	for _, x := range fs {
		if x.Kind == "read-outside" {
			got[x.Subject] = x.Count
		}
	}
	if got["$HOME/**"] != 6 || got["/**"] != 5 || len(got) != 2 {
		t.Errorf("want $HOME/** (6) and /** (5), got %v:\n%s", got, dump(fs))
	}
}

// Every finding's rule id leads back to its row, at the finding's level
// (grouping and collapsing never change it).
func TestFindingRulesResolve(t *testing.T) {
	base := approved(t)
	b := baselinetest.Benign(6)
	b.Read(1, "/root/.ssh/id_rsa")
	b.Read(1, "/etc/sudoers")
	b.Syscall(1, "getrandom", 1)
	b.Syscall(1, "pidfd_open", 1)
	for i := 0; i < 7; i++ {
		b.Read(1, fmt.Sprintf("/srv/d/%d", i))
	}
	fs := diff.Compare(base, from(t, b.T), diff.Context{RunID: 1})
	if len(fs) < 4 {
		t.Fatalf("too few findings:\n%s", dump(fs))
	}
	for _, f := range fs {
		r, ok := diff.RuleByID(f.Rule)
		if !ok || r.Level != f.Level || r.Kind != f.Kind {
			t.Errorf("finding %s %s (%s %s): rule %+v found %v", f.Subject, f.Rule, f.Level, f.Kind, r.ID, ok)
		}
	}
}
