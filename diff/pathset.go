package diff

import (
	"strings"

	"github.com/behavediff/behavediff/baseline"
)

// The path tables are compiled once, when the package loads (like its
// regular expressions): matching compiled each glob on every call, and
// newView matched every path a run read against the secret tables, ~0.3 s
// of a diff of two 1M-event runs.
var (
	secretSet         = newPathSet(Secrets)
	clusterSecretSet  = newPathSet(ClusterSecrets)
	notSecretSet      = newGlobSet(NotSecrets)
	persistenceSet    = newPathSet(Persistence)
	kernelTamperSet   = newPathSet(KernelTamper)
	sensitiveReadSet  = newPathSet(SensitiveReads)
	reconSet          = newPathSet(Recon)
	projectFileSet    = newGlobSet(ProjectFiles)
	rawDeviceSet      = newGlobSet(RawDevices)
	runtimeSocketSet  = newGlobSet(RuntimeSockets)
	resolverSocketSet = newGlobSet(ResolverSockets)
	scratchSet        = newGlobSet(ScratchPaths)
	systemSet         = newGlobSet(SystemPaths)
	filelessSet       = newGlobSet(filelessPaths)

	sensitiveParents = parentGlobs(secretSet, clusterSecretSet, persistenceSet, sensitiveReadSet, kernelTamperSet)
)

// pathSet is a table of risk globs compiled for matching many paths. A
// glob starting "~/" is one entry per home directory (expandHome). Entries
// are indexed by the first path element of their literal prefix ("/etc/",
// "$HOME/"), so a path is tried only against the globs that can match it
// and those that start with a wildcard ("**/.env").
type pathSet struct {
	entries []pathEntry
	byRoot  map[string][]int // rootKey → indexes into entries, ascending
	anyRoot []int            // entries a path of any root may match
}

type pathEntry struct {
	what string
	glob *baseline.Glob
	// dir, for a glob ending "/**", is the glob without it: the directory
	// itself, which isSecret counts as a read of what is below it.
	dir *baseline.Glob
}

func newGlobSet(globs []string) *pathSet { return newPathSet(globPatterns(globs)) }

// globPatterns reads a list of globs as a table whose rows have no
// description.
func globPatterns(globs []string) []Pattern {
	ps := make([]Pattern, len(globs))
	for i, g := range globs {
		ps[i] = Pattern{Glob: g}
	}
	return ps
}

func newPathSet(t []Pattern) *pathSet {
	s := &pathSet{byRoot: map[string][]int{}}
	for _, p := range t {
		for _, g := range expandHome(p.Glob) {
			e := pathEntry{what: p.What, glob: baseline.CompileGlob(g)}
			if d, ok := strings.CutSuffix(g, "/**"); ok {
				e.dir = baseline.CompileGlob(d)
			}
			k := len(s.entries)
			s.entries = append(s.entries, e)
			lit, wild := g, false
			if j := strings.IndexByte(g, '*'); j >= 0 {
				lit, wild = g[:j], true
			}
			if r, ok := rootKey(lit); ok || !wild {
				s.byRoot[r] = append(s.byRoot[r], k)
			} else {
				s.anyRoot = append(s.anyRoot, k)
			}
		}
	}
	return s
}

// rootKey is s up to and including its first "/" after the first byte
// ("/etc/", "$HOME/"), or all of s when it has none (ok false). Every path
// a glob matches shares the root key of the glob's literal prefix, when
// that prefix has one.
func rootKey(s string) (key string, ok bool) {
	if len(s) > 1 {
		if i := strings.IndexByte(s[1:], '/'); i >= 0 {
			return s[:i+2], true
		}
	}
	return s, false
}

// first returns the first entry, in table order, for which ok holds on a
// path of root key k (-1 if none).
func (s *pathSet) first(k string, ok func(e *pathEntry) bool) int {
	a, b := s.anyRoot, s.byRoot[k]
	for len(a) > 0 || len(b) > 0 {
		var i int
		if len(b) == 0 || (len(a) > 0 && a[0] < b[0]) {
			i, a = a[0], a[1:]
		} else {
			i, b = b[0], b[1:]
		}
		if ok(&s.entries[i]) {
			return i
		}
	}
	return -1
}

// match returns the description of the first row whose glob matches v.
func (s *pathSet) match(v string) (bool, string) {
	k, _ := rootKey(v)
	if i := s.first(k, func(e *pathEntry) bool { return e.glob.Match(v) }); i >= 0 {
		return true, s.entries[i].what
	}
	return false, ""
}

// matchDir returns the first row ending "/**" that matches v as a
// directory (v + "/"): the glob itself or the directory it is below.
func (s *pathSet) matchDir(v string) (bool, string) {
	// "X/**" matches v+"/" exactly when X or X/** matches v.
	k, ok := rootKey(v)
	if !ok {
		k = v + "/" // the root key of v+"/"
	}
	if i := s.first(k, func(e *pathEntry) bool { return e.dir != nil && (e.dir.Match(v) || e.glob.Match(v)) }); i >= 0 {
		return true, s.entries[i].what
	}
	return false, ""
}

// parentGlob is a directory above the paths of a table row's glob.
type parentGlob struct {
	glob *baseline.Glob
	what string
}

// parentGlobs lists, in table order, every directory prefix ("/etc",
// "/home/*") of the sets' globs, each once, for holdsSensitive. Globs that
// start with a wildcard (**/.env) are left out: they are below every
// directory.
func parentGlobs(sets ...*pathSet) []parentGlob {
	var out []parentGlob
	seen := map[string]bool{}
	for _, s := range sets {
		for _, e := range s.entries {
			g := e.glob.String()
			if strings.HasPrefix(g, "*") {
				continue
			}
			for i := 1; i < len(g); i++ {
				if g[i] != '/' || seen[g[:i]] {
					continue
				}
				seen[g[:i]] = true
				out = append(out, parentGlob{glob: baseline.CompileGlob(g[:i]), what: e.what})
			}
		}
	}
	return out
}
