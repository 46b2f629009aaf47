package secrets

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMaskGlobs(t *testing.T) {
	got := map[string]bool{}
	for _, g := range MaskGlobs([]string{"/root", "/home/alice"}) {
		got[g] = true
	}
	for _, want := range []string{
		"/root/.ssh", "/home/alice/.ssh", "/home/alice/.cargo/credentials*", "/root/.vault-token",
		"/etc/ssh/ssh_host_*key", "/etc/shadow", "/etc/security/opasswd", "/var/run/secrets",
	} {
		if !got[want] {
			t.Errorf("MaskGlobs lacks %s", want)
		}
	}
	for g := range got {
		if g[0] != '/' {
			t.Errorf("MaskGlobs gave a relative or anywhere-pattern %q", g)
		}
	}
}

func TestEntryGlobs(t *testing.T) {
	if d := cmp.Diff([]string{"~/.ssh", "~/.ssh/**"}, (Entry{Glob: "~/.ssh", Dir: true}).Globs()); d != "" {
		t.Errorf("dir entry globs (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"~/.netrc"}, (Entry{Glob: "~/.netrc"}).Globs()); d != "" {
		t.Errorf("file entry globs (-want +got):\n%s", d)
	}
	if (Entry{Glob: "**/.env"}).Maskable() || !(Entry{Glob: "/etc/shadow"}).Maskable() {
		t.Error("Maskable: patterns anywhere are not maskable, absolute places are")
	}
}

// Every entry says what it is, and no glob is listed twice.
func TestTableWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for _, e := range Table {
		if e.What == "" || e.Glob == "" {
			t.Errorf("incomplete entry %+v", e)
		}
		if seen[e.Glob] {
			t.Errorf("%s listed twice", e.Glob)
		}
		seen[e.Glob] = true
	}
}
