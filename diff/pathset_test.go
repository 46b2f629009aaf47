package diff

import (
	"strings"
	"testing"

	"github.com/behavediff/behavediff/baseline"
)

// refMatchTable is the table match before pathSet: every glob of t, "~/"
// spelt for each home, compiled and tried in table order.
func refMatchTable(t []Pattern, v string) (bool, string) {
	for _, p := range t {
		for _, g := range expandHome(p.Glob) {
			if baseline.Match(g, v) {
				return true, p.What
			}
		}
	}
	return false, ""
}

// refMatchDir is isSecret's directory rule before pathSet.
func refMatchDir(t []Pattern, v string) (bool, string) {
	for _, p := range t {
		if strings.HasSuffix(p.Glob, "/**") {
			if ok, _ := refMatchTable([]Pattern{p}, v+"/"); ok {
				return true, p.What
			}
		}
	}
	return false, ""
}

// pathSetTables pairs every compiled set with the table it was built from.
func pathSetTables() map[string]struct {
	set   *pathSet
	table []Pattern
} {
	type st = struct {
		set   *pathSet
		table []Pattern
	}
	return map[string]st{
		"Secrets": {secretSet, Secrets}, "ClusterSecrets": {clusterSecretSet, ClusterSecrets},
		"NotSecrets": {notSecretSet, globPatterns(NotSecrets)}, "Persistence": {persistenceSet, Persistence},
		"KernelTamper": {kernelTamperSet, KernelTamper}, "SensitiveReads": {sensitiveReadSet, SensitiveReads},
		"Recon": {reconSet, Recon}, "ProjectFiles": {projectFileSet, globPatterns(ProjectFiles)},
		"RawDevices": {rawDeviceSet, globPatterns(RawDevices)}, "RuntimeSockets": {runtimeSocketSet, globPatterns(RuntimeSockets)},
		"ResolverSockets": {resolverSocketSet, globPatterns(ResolverSockets)}, "ScratchPaths": {scratchSet, globPatterns(ScratchPaths)},
		"SystemPaths": {systemSet, globPatterns(SystemPaths)}, "fileless": {filelessSet, globPatterns(filelessPaths)},
	}
}

// samplePaths spells every glob of every table as paths it matches and
// nearly matches: the glob with its wildcards filled in several ways, cut
// short, with a "/" or a component added, and every prefix of it.
func samplePaths() []string {
	seen := map[string]bool{}
	var out []string
	add := func(v string) {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	for _, s := range pathSetTables() {
		for _, p := range s.table {
			for _, g := range expandHome(p.Glob) {
				for _, fill := range []string{"", "x", "a/b", "1234", "/"} {
					v := strings.ReplaceAll(strings.ReplaceAll(g, "**", fill), "*", fill)
					add(v)
					add(v + "/")
					add(v + "/child")
					add(strings.TrimSuffix(v, "/"))
					for i := 1; i < len(v); i++ {
						add(v[:i])
					}
				}
			}
		}
	}
	for _, v := range []string{"", "/", "$HOME", "$HOME/", "/root", "/home/u", "/usr/include/sys/h1.h", "$WORKSPACE/src/a.c", "/tmp/ccAbCdEf.s", "x/.env", ".env"} {
		add(v)
	}
	return out
}

// Every compiled set answers as its table's globs matched one by one, on
// paths made to hit each glob and its edges.
func TestPathSetMatchesTables(t *testing.T) {
	paths := samplePaths()
	for name, s := range pathSetTables() {
		for _, v := range paths {
			checkPathSet(t, name, s.set, s.table, v)
		}
	}
}

func checkPathSet(t *testing.T, name string, set *pathSet, table []Pattern, v string) {
	t.Helper()
	gotOK, gotWhat := set.match(v)
	wantOK, wantWhat := refMatchTable(table, v)
	if gotOK != wantOK || gotWhat != wantWhat {
		t.Fatalf("%s.match(%q) = %v %q, the table says %v %q", name, v, gotOK, gotWhat, wantOK, wantWhat)
	}
	gotOK, gotWhat = set.matchDir(v)
	wantOK, wantWhat = refMatchDir(table, v)
	if gotOK != wantOK || gotWhat != wantWhat {
		t.Fatalf("%s.matchDir(%q) = %v %q, the table says %v %q", name, v, gotOK, gotWhat, wantOK, wantWhat)
	}
}

// FuzzPathSet: any path, matched through the index and the compiled globs,
// gets the answer of the table's globs matched one by one.
func FuzzPathSet(f *testing.F) {
	for _, v := range []string{"$HOME/.ssh/id_rsa", "/home/u/.aws", "/srv/.env.local", "/etc/kubernetes/admin.conf", "/proc/self/fd/3", "/dev/sda1", "$WORKSPACE/.behavediff/x", "/var/run/secrets"} {
		f.Add(v)
	}
	sets := pathSetTables()
	f.Fuzz(func(t *testing.T, v string) {
		for name, s := range sets {
			checkPathSet(t, name, s.set, s.table, v)
		}
	})
}

// refHoldsSensitive is holdsSensitive before parentGlobs: every directory
// prefix of every table glob compiled and tried in table order.
func refHoldsSensitive(dir string) string {
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		return "every file"
	}
	for _, tbl := range [][]Pattern{Secrets, ClusterSecrets, Persistence, SensitiveReads, KernelTamper} {
		for _, p := range tbl {
			for _, g := range expandHome(p.Glob) {
				if strings.HasPrefix(g, "*") {
					continue
				}
				for i := 1; i < len(g); i++ {
					if g[i] == '/' && baseline.Match(g[:i], dir) {
						return p.What
					}
				}
			}
		}
	}
	return ""
}

// holdsSensitive, through the prefixes compiled once, names the row the
// tables' prefixes tried one by one name.
func TestHoldsSensitiveMatchesTables(t *testing.T) {
	for _, v := range samplePaths() {
		if got, want := holdsSensitive(v), refHoldsSensitive(v); got != want {
			t.Fatalf("holdsSensitive(%q) = %q, the tables say %q", v, got, want)
		}
	}
}
