package sandbox

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// maxSocketMasks bounds how many host sockets one sandbox masks (each is a
// mount); a host with more gets the first ones in path order.
const maxSocketMasks = 256

// boundSockets lists the absolute paths of every unix socket bound on the
// host right now, in any network namespace: /proc/PID/net/unix of one
// process per namespace. A path is the string the binder gave; relative
// ones are skipped (their directory is unknown).
func boundSockets() []string {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	seenNS := map[string]bool{}
	seen := map[string]bool{}
	var out []string
	for _, p := range procs {
		if p.Name()[0] < '0' || p.Name()[0] > '9' {
			continue
		}
		ns, err := os.Readlink(filepath.Join("/proc", p.Name(), "ns/net"))
		if err != nil || seenNS[ns] {
			continue
		}
		seenNS[ns] = true
		f, err := os.Open(filepath.Join("/proc", p.Name(), "net/unix"))
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// Num RefCount Protocol Flags Type St Inode Path
			fields := strings.Fields(sc.Text())
			if len(fields) < 8 {
				continue
			}
			path := strings.Join(fields[7:], " ")
			if strings.HasPrefix(path, "/") && !seen[path] {
				seen[path] = true
				out = append(out, path)
			}
		}
		f.Close()
	}
	sort.Strings(out)
	return out
}

// hostSocketMasks returns the in-container paths of the host's bound unix
// sockets that the sandbox would otherwise show: on the host root's own
// filesystem (outside /tmp, /run, /dev, /proc and /sys, which the sandbox
// replaces), or in the workspace (its overlay shows the real socket
// files). Masking them with an empty file makes a connect or send fail
// (ECONNREFUSED) however the code names them: by a symlink in /tmp or the
// workspace, which the eBPF hooks judge only by the name given, an
// unconnected datagram would otherwise be delivered. A socket bound after
// the sandbox was created is not masked; for those the hooks' checks
// remain (see docs/sandbox.md).
func (s *Sandbox) hostSocketMasks(rootfs string) []string {
	var out []string
	for _, p := range boundSockets() {
		var host unix.Stat_t
		if err := unix.Lstat(p, &host); err != nil || host.Mode&unix.S_IFMT != unix.S_IFSOCK {
			continue
		}
		if under(p, s.workspace) {
			if !s.realParents(strings.TrimPrefix(p, s.workspace+"/")) {
				continue // through a symlink: the socket is not at this path inside
			}
			out = append(out, p)
			continue
		}
		if s.opts.Rootfs != "" {
			continue // the code's own root filesystem holds no host socket
		}
		rp, _, ok := resolveIn(rootfs, p)
		if !ok || under(rp, "/tmp") || under(rp, "/run") || under(rp, "/dev") || under(rp, "/proc") || under(rp, "/sys") {
			continue
		}
		var in unix.Stat_t
		if err := unix.Lstat(filepath.Join(rootfs, rp), &in); err != nil || in.Dev != host.Dev || in.Ino != host.Ino {
			continue // another file at that path inside (not the root filesystem's)
		}
		if s.userns && !reachable(rootfs, rp) {
			continue // nobody inside can look it up
		}
		out = append(out, rp)
	}
	sort.Strings(out)
	if len(out) > maxSocketMasks {
		out = out[:maxSocketMasks]
	}
	return out
}
