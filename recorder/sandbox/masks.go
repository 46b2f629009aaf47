package sandbox

import (
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/behavediff/behavediff/internal/secrets"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ProjectDirName is behavediff's per-project directory (specs, baselines,
// the trace database). It is hidden inside every sandbox and never written
// by ApplyChanges, wherever it sits relative to the workspace.
const ProjectDirName = ".behavediff"

// resolveIn resolves p (absolute) inside rootfs the way the kernel will
// resolve it inside the container: symlinks are followed, absolute targets
// are taken relative to rootfs, and ".." never leaves rootfs. It returns the
// resolved absolute in-container path and its host file info.
func resolveIn(rootfs, p string) (string, os.FileInfo, bool) {
	cur := "/"
	rest := strings.Split(strings.TrimPrefix(path.Clean(p), "/"), "/")
	for hops := 0; len(rest) > 0; {
		name := rest[0]
		rest = rest[1:]
		switch name {
		case "", ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, name)
		st, err := os.Lstat(filepath.Join(rootfs, next))
		if err != nil {
			return "", nil, false
		}
		if st.Mode()&os.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > 40 {
			return "", nil, false
		}
		target, err := os.Readlink(filepath.Join(rootfs, next))
		if err != nil {
			return "", nil, false
		}
		if path.IsAbs(target) {
			cur = "/"
		}
		rest = append(strings.Split(strings.Trim(target, "/"), "/"), rest...)
	}
	st, err := os.Stat(filepath.Join(rootfs, cur))
	if err != nil {
		return "", nil, false
	}
	return cur, st, true
}

// maskMount hides p: an empty read-only tmpfs over a directory, an empty
// read-only file over anything else. Opening still succeeds or fails
// visibly, so the attempt is recorded; only the content is withheld.
func maskMount(p string, dir bool, empty string) specs.Mount {
	if dir {
		return specs.Mount{
			Destination: p, Type: "tmpfs", Source: "tmpfs",
			Options: []string{"ro", "nosuid", "nodev", "noexec", "mode=700", "size=4k"},
		}
	}
	return specs.Mount{
		Destination: p, Type: "bind", Source: empty,
		Options: []string{"bind", "ro", "nosuid", "nodev", "noexec"},
	}
}

// homeDirs lists /root and every directory in /home of rootfs.
func homeDirs(rootfs string) []string {
	homes := []string{"/root"}
	if ents, err := os.ReadDir(filepath.Join(rootfs, "home")); err == nil {
		for _, e := range ents {
			if e.IsDir() {
				homes = append(homes, "/home/"+e.Name())
			}
		}
	}
	return homes
}

// secretPaths expands the secret table's maskable globs in rootfs.
func secretPaths(rootfs string) []string {
	var out []string
	for _, g := range secrets.MaskGlobs(homeDirs(rootfs)) {
		if !strings.ContainsAny(g, "*?[") {
			out = append(out, g)
			continue
		}
		// Expand the pattern against the in-container tree; a symlinked
		// parent is resolved by resolveIn when the mask is placed.
		dir, pat := path.Split(g)
		rdir, _, ok := resolveIn(rootfs, dir)
		if !ok {
			continue
		}
		ents, err := os.ReadDir(filepath.Join(rootfs, rdir))
		if err != nil {
			continue
		}
		for _, e := range ents {
			if m, _ := path.Match(pat, e.Name()); m {
				out = append(out, path.Join(rdir, e.Name()))
			}
		}
	}
	sort.Strings(out)
	return out
}

// protectedPaths are the host paths a run must neither see nor change: the
// caller's (the trace database and its journal files, the project dir) and
// every .behavediff directory in the workspace or above it, so a project
// root above the workspace is covered too.
func (s *Sandbox) protectedPaths() []string {
	seen := map[string]bool{}
	var out []string
	add := func(p string) {
		p = filepath.Clean(p)
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		} else if dir, err := filepath.EvalSymlinks(filepath.Dir(p)); err == nil {
			p = filepath.Join(dir, filepath.Base(p)) // not there yet (a -wal file)
		}
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	for _, p := range s.opts.Protect {
		if filepath.IsAbs(p) {
			add(p)
		}
	}
	for d := s.workspace; ; d = filepath.Dir(d) {
		if st, err := os.Lstat(filepath.Join(d, ProjectDirName)); err == nil && st.IsDir() {
			add(filepath.Join(d, ProjectDirName))
		}
		if d == filepath.Dir(d) {
			break
		}
	}
	sort.Strings(out)
	return out
}

// isProtected reports whether the workspace-relative rel is, contains or
// lies under a protected path, or has a .behavediff element anywhere (a
// nested project's directory, or one the run created).
func (s *Sandbox) isProtected(rel string) bool {
	for _, el := range strings.Split(filepath.ToSlash(rel), "/") {
		if el == ProjectDirName {
			return true
		}
	}
	abs := filepath.Join(s.workspace, rel)
	for _, p := range s.protected {
		if abs == p || strings.HasPrefix(abs, p+"/") || strings.HasPrefix(p, abs+"/") {
			return true
		}
	}
	return false
}

// protectMounts hides the protected paths inside the sandbox. A path in the
// workspace is looked up on the host (the workspace overlay shows it); any
// other one in rootfs.
func (s *Sandbox) protectMounts(rootfs, empty string) []specs.Mount {
	var out []specs.Mount
	var hidden []string // directories already masked: what is below is gone
	for _, p := range s.protected {
		if p == s.workspace || strings.HasPrefix(s.workspace, p+"/") {
			continue // never hide the workspace itself
		}
		covered := false
		for _, h := range hidden {
			covered = covered || under(p, h)
		}
		if covered {
			continue // a mount point inside the empty mask would show its name
		}
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			hidden = append(hidden, p)
		}
		if strings.HasPrefix(p, s.workspace+"/") {
			st, err := os.Lstat(p)
			if err != nil || st.Mode()&os.ModeSymlink != 0 {
				continue
			}
			out = append(out, maskMount(p, st.IsDir(), empty))
			continue
		}
		if rp, st, ok := resolveIn(rootfs, p); ok && !under(s.workspace, rp) {
			out = append(out, maskMount(rp, st.IsDir(), empty))
		}
	}
	return out
}

func under(p, dir string) bool { return p == dir || strings.HasPrefix(p, dir+"/") }
