package sandbox

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// prepareMounts writes the per-run files and returns the mounts added to the
// default spec (which already has /proc, /dev, /sys ro, and a tmpfs /run).
// With the read-only host root every destination must already exist, so
// masks are only added for paths that exist in the rootfs.
func (s *Sandbox) prepareMounts(rootfs string, userns *os.File) ([]specs.Mount, error) {
	o := s.opts
	if err := s.mountDisk(); err != nil {
		return nil, err
	}
	for _, d := range []string{s.upper, s.work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, fmt.Errorf("sandbox: create %s: %w", d, err)
		}
	}
	// The upper dir's root takes the workspace's mode and owner (shifted
	// into the user namespace's host range, like every id of the lower
	// layer), so the merged workspace root looks like the real one.
	if st, err := os.Stat(s.workspace); err == nil {
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			u, g := sys.Uid, sys.Gid
			if s.userns {
				u, g = HostID(u), HostID(g)
			}
			_ = os.Chown(s.upper, int(u), int(g))
		}
		_ = os.Chmod(s.upper, st.Mode().Perm())
	}
	if err := s.mountWorkspace(userns); err != nil {
		return nil, err
	}
	empty := filepath.Join(s.dir, "empty")
	if err := os.WriteFile(empty, nil, 0o444); err != nil {
		return nil, fmt.Errorf("sandbox: create %s: %w", empty, err)
	}

	exists := func(p string) (os.FileInfo, bool) {
		st, err := os.Stat(filepath.Join(rootfs, p))
		return st, err == nil
	}

	mounts := []specs.Mount{{
		Destination: "/tmp", Type: "tmpfs", Source: "tmpfs",
		Options: []string{"nosuid", "nodev", "mode=1777", fmt.Sprintf("size=%d", o.TmpfsBytes)},
	}}
	// The workspace's mount point must exist. With the host root it is
	// missing when the workspace sits on another filesystem (a separate
	// mount is not part of the non-recursive bind of /): put a tmpfs on the
	// nearest ancestor that exists (that filesystem's empty mount point
	// directory) so runc can create the path in it.
	if _, ok := exists(s.workspace); !ok && !under(s.workspace, "/tmp") && !under(s.workspace, "/run") && !under(s.workspace, "/dev") {
		anc := path.Dir(s.workspace)
		for anc != "/" {
			if _, ok := exists(anc); ok {
				break
			}
			anc = path.Dir(anc)
		}
		if anc != "/" {
			mounts = append(mounts, specs.Mount{
				Destination: anc, Type: "tmpfs", Source: "tmpfs",
				Options: []string{"nosuid", "nodev", "mode=755", "size=1m"},
			})
		} else if o.Rootfs == "" {
			return nil, fmt.Errorf("sandbox: workspace %s is not visible in the host root", s.workspace)
		}
	}
	// Under the user namespace a private home (/root is 0700, many /home/x
	// are 0750) on the way to the workspace cannot be searched, so runc
	// could not reach the workspace's mount point; and a private $HOME
	// answers every tool's dotfile lookup with EACCES. Cover each with an
	// empty read-only directory of ours (owned by host root, so nobody's
	// inside: searchable, not writable), holding only the path down to the
	// workspace's mount point. The command sees no home rather than a
	// forbidden one, and none of its contents.
	var covers []string
	if s.userns && o.Rootfs == "" {
		seen := map[string]bool{}
		for _, p := range []string{path.Dir(s.workspace), homeDir(o.Env)} {
			d := firstUnsearchable(rootfs, p)
			if d == "" || seen[d] || under(d, s.workspace) || under(d, "/tmp") || under(d, "/run") || under(d, "/dev") {
				continue // /tmp, /run and /dev are the sandbox's own
			}
			covers = append(covers, d)
			seen[d] = true
			skel := filepath.Join(s.dir, "cover", fmt.Sprint(len(seen)))
			inner := skel
			if under(s.workspace, d) {
				inner = filepath.Join(skel, strings.TrimPrefix(s.workspace, d+"/"))
			}
			if err := os.MkdirAll(inner, 0o755); err != nil {
				return nil, fmt.Errorf("sandbox: cover %s: %w", d, err)
			}
			mounts = append(mounts, specs.Mount{
				Destination: d, Type: "bind", Source: skel,
				Options: []string{"bind", "ro", "nosuid", "nodev", "noexec"},
			})
		}
	}
	mounts = append(mounts, specs.Mount{
		Destination: s.workspace, Type: "bind", Source: s.merged,
		Options: []string{"bind", "rw", "nosuid", "nodev"},
	})
	if o.ResolvConf != "" {
		rc := filepath.Join(s.dir, "resolv.conf")
		if err := os.WriteFile(rc, []byte(o.ResolvConf), 0o644); err != nil {
			return nil, fmt.Errorf("sandbox: write resolv.conf: %w", err)
		}
		// With the read-only rootfs the mount point must already exist; an
		// image without /etc/resolv.conf (a scratch image with one static
		// binary) simply gets no resolver configuration.
		if _, err := os.Lstat(filepath.Join(rootfs, "etc/resolv.conf")); err == nil {
			mounts = append(mounts, specs.Mount{
				Destination: "/etc/resolv.conf", Type: "bind", Source: rc,
				Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"},
			})
		}
	}

	mask := func(p string) {
		rp, st, ok := resolveIn(rootfs, p)
		if !ok || under(s.workspace, rp) {
			return // never hide the workspace itself
		}
		if s.userns && !reachable(rootfs, rp) {
			// Behind a directory that root of the user namespace cannot
			// search (/root is 0700): runc could not place the mask, and
			// the command cannot open the path anyway.
			return
		}
		mounts = append(mounts, maskMount(rp, st.IsDir(), empty))
	}
	// behavediff's own state (other runs' upper dirs, the daemon's root and
	// log) is never the command's business.
	if o.Rootfs == "" {
		mask(libDir)
	}
	if o.HideHostSecrets {
		for _, p := range secretPaths(rootfs) {
			mask(p)
		}
	}
	s.protected = s.protectedPaths()
	mounts = append(mounts, s.protectMounts(rootfs, empty)...)
	// Host sockets last: one below a masked directory is hidden already
	// (and its mount point would not exist).
	for _, p := range s.hostSocketMasks(rootfs) {
		hidden := false
		for _, m := range mounts {
			hidden = hidden || (m.Type == "tmpfs" && under(p, m.Destination) && m.Destination != s.workspace)
		}
		if hidden || (under(p, s.workspace) && s.isProtected(strings.TrimPrefix(p, s.workspace+"/"))) {
			continue
		}
		mounts = append(mounts, maskMount(p, false, empty))
	}
	return dropCovered(mounts, covers, s.workspace), nil
}

// dropCovered removes the masks that fall inside a covering directory
// (outside the workspace): what they would hide is not there at all, and
// their mount points could not be made in the read-only cover.
func dropCovered(mounts []specs.Mount, covers []string, workspace string) []specs.Mount {
	out := mounts[:0]
	for _, m := range mounts {
		covered := false
		for _, c := range covers {
			covered = covered || (m.Destination != c && under(m.Destination, c) && !under(m.Destination, workspace))
		}
		if !covered {
			out = append(out, m)
		}
	}
	return out
}
