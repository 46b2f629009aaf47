package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/core/mount"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The sandbox's user namespace maps ids 0..IDRange-1 inside to
// HostIDBase..HostIDBase+IDRange-1 on the host, for uids and gids alike.
// The command keeps the uid it would have had (the workspace owner's, 0 for
// a root-owned checkout), but on the host it is HostIDBase+uid: nobody in
// particular, so host files that no mask covers and that are private to
// their owner (0600 root) are unreadable by plain permission checks, and
// capabilities held inside the namespace mean nothing for host objects.
//
// HostIDBase is 0x70000000 (1879048192): systemd's table of uid ranges
// (UIDS-GIDS.md) leaves 0x70000000…0x7FFDFFFF unused, above the range it
// hands to nspawn containers and below the "foreign" range and the signed
// 32-bit boundary. Create refuses to run (ErrIDRangeInUse) when the host's
// account databases use any id of the range.
const (
	HostIDBase uint32 = 0x70000000
	IDRange    uint32 = 65536
)

// ErrIDRangeInUse means the host's /etc/passwd, /etc/group, /etc/subuid or
// /etc/subgid hands out an id of the sandbox's host range, so the sandbox's
// users would be somebody on the host.
var ErrIDRangeInUse = errors.New("the sandbox's host uid/gid range is in use on this host")

// ErrUserOutOfRange means a uid or gid the command should run as is not
// mapped by the user namespace (0..IDRange-1).
var ErrUserOutOfRange = errors.New("uid/gid outside the sandbox's user namespace (0-65535)")

// idMappings is the container's uid and gid mapping (the same for both).
func idMappings() []specs.LinuxIDMapping {
	return []specs.LinuxIDMapping{{ContainerID: 0, HostID: HostIDBase, Size: IDRange}}
}

// HostID is the host id of an id inside the sandbox.
func HostID(inside uint32) uint32 { return inside + HostIDBase }

// InsideUID is the uid the command sees for a host kuid (what the eBPF
// sensor reads): host minus HostIDBase with the user namespace, host itself
// without it. A kuid outside the range is returned as is (no process of
// the sandbox can have one).
func (s *Sandbox) InsideUID(host uint32) uint32 {
	if s.userns && host >= HostIDBase && host-HostIDBase < IDRange {
		return host - HostIDBase
	}
	return host
}

// idFiles are the host databases that hand out ids, and the fields of each
// line holding them: an id (passwd, group), or a start and count (subuid,
// subgid).
var idFiles = []struct {
	path   string
	fields []int // single ids
	span   bool  // name:start:count
}{
	{path: "/etc/passwd", fields: []int{2, 3}},
	{path: "/etc/group", fields: []int{2}},
	{path: "/etc/subuid", span: true},
	{path: "/etc/subgid", span: true},
}

// checkIDRange refuses a host whose account databases use an id of the
// range. A missing file uses nothing.
func checkIDRange() error {
	lo, hi := uint64(HostIDBase), uint64(HostIDBase)+uint64(IDRange) // [lo, hi)
	for _, f := range idFiles {
		if err := checkIDFile(f.path, f.fields, f.span, lo, hi); err != nil {
			return err
		}
	}
	return nil
}

func checkIDFile(path string, fields []int, span bool, lo, hi uint64) error {
	fh, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("sandbox: check the host id range: %w", err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, ":")
		if span {
			if len(parts) < 3 {
				continue
			}
			start, err1 := strconv.ParseUint(parts[1], 10, 64)
			count, err2 := strconv.ParseUint(parts[2], 10, 64)
			if err1 != nil || err2 != nil || count == 0 {
				continue
			}
			if start < hi && start+count > lo {
				return fmt.Errorf("sandbox: %w: %s line %d gives %s ids %d-%d, which overlap %d-%d (move them, or run with --userns=off)",
					ErrIDRangeInUse, path, n, parts[0], start, start+count-1, lo, hi-1)
			}
			continue
		}
		for _, i := range fields {
			if i >= len(parts) {
				continue
			}
			id, err := strconv.ParseUint(parts[i], 10, 64)
			if err == nil && id >= lo && id < hi {
				return fmt.Errorf("sandbox: %w: %s line %d (%s) uses id %d, inside %d-%d (move it, or run with --userns=off)",
					ErrIDRangeInUse, path, n, parts[0], id, lo, hi-1)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("sandbox: check the host id range: read %s: %w", path, err)
	}
	return nil
}

// usernsFD returns a file descriptor of a user namespace with the
// sandbox's mapping, made once per client (the mapping never changes) and
// used to idmap the workspace.
func (c *Client) usernsFD() (*os.File, error) {
	c.usernsMu.Lock()
	defer c.usernsMu.Unlock()
	if c.userns != nil {
		return c.userns, nil
	}
	m := fmt.Sprintf("0:%d:%d", HostIDBase, IDRange)
	f, err := mount.GetUsernsFD(m, m)
	if err != nil {
		return nil, fmt.Errorf("sandbox: create a user namespace for the idmapped workspace: %w", err)
	}
	c.userns = f
	return f, nil
}

// idmapClone attaches at dst a non-recursive clone of the mount
// of src whose ids are shifted like the sandbox's (on-disk u shows as host
// HostIDBase+u). Used as the overlay's lower layer, it makes the workspace's
// files belong to the same uids inside as outside: copy-up keeps the shifted
// owner, so the upper layer holds host ids of the range. Only src's own
// filesystem is cloned: an overlay lower layer never shows submounts.
// readOnly makes the clone read-only; a rootfs clone stays writable for
// runc to create missing mount points before it makes the rootfs read-only
// (as it did on the directory itself before the user namespace).
func idmapClone(src, dst string, userns *os.File, readOnly bool) error {
	fd, err := unix.OpenTree(unix.AT_FDCWD, src, unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return fmt.Errorf("sandbox: clone the workspace mount %s: %w", src, err)
	}
	defer unix.Close(fd)
	attr := unix.MountAttr{
		Attr_set:    unix.MOUNT_ATTR_IDMAP | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV,
		Userns_fd:   uint64(userns.Fd()),
		Propagation: unix.MS_PRIVATE,
	}
	if readOnly {
		attr.Attr_set |= unix.MOUNT_ATTR_RDONLY
	}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, &attr); err != nil {
		return fmt.Errorf("sandbox: idmap the workspace %s (its filesystem must support idmapped mounts; or run with --userns=off): %w", src, err)
	}
	if err := os.Mkdir(dst, 0o700); err != nil {
		return fmt.Errorf("sandbox: create %s: %w", dst, err)
	}
	if err := unix.MoveMount(fd, "", unix.AT_FDCWD, dst, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		return fmt.Errorf("sandbox: attach the idmapped workspace at %s: %w", dst, err)
	}
	return nil
}

// releaseRootView unmounts and removes the run's idmapped rootfs view, if
// it has one.
func releaseRootView(id string) error {
	view := filepath.Join(rootsDir, id)
	if err := unmountAll(view); err != nil {
		return err
	}
	if err := os.Remove(view); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", view, err)
	}
	return nil
}

// reachable reports whether root of the sandbox's user namespace can look
// p (in-container, resolved) up in rootfs: every directory above it is
// searchable by "other", or belongs to ids of the namespace (over which it
// has CAP_DAC_OVERRIDE).
func reachable(rootfs, p string) bool {
	for d := path.Dir(p); ; d = path.Dir(d) {
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(rootfs, d), &st); err != nil {
			return false
		}
		if !searchable(&st) {
			return false
		}
		if d == "/" {
			return true
		}
	}
}

// searchable reports whether root of the user namespace may search the
// directory st: it owns it (both ids in the range) or "other" may.
func searchable(st *unix.Stat_t) bool {
	mapped := st.Uid-HostIDBase < IDRange && st.Gid-HostIDBase < IDRange
	return mapped || st.Mode&0o001 != 0
}

// firstUnsearchable returns the shallowest directory among p and its
// ancestors that root of the user namespace cannot search in rootfs (a
// directory owned outside the range without o+x), or "" if there is none
// or p does not exist there.
func firstUnsearchable(rootfs, p string) string {
	if p == "" || !path.IsAbs(p) {
		return ""
	}
	d := "/"
	for _, c := range strings.Split(strings.Trim(path.Clean(p), "/"), "/") {
		if c == "" {
			break
		}
		d = path.Join(d, c)
		var st unix.Stat_t
		if err := unix.Stat(filepath.Join(rootfs, d), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return ""
		}
		if !searchable(&st) {
			return d
		}
	}
	return ""
}

// homeDir is the HOME the command is given, or "".
func homeDir(env []string) string {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], "HOME="); ok {
			return v
		}
	}
	return ""
}

// withHostSysfs replaces the sysfs mount of a sandbox that has the user
// namespace but shares the host's network namespace (--net host): the
// kernel lets a user namespace mount sysfs only for a network namespace it
// owns, so /sys becomes a read-only recursive bind of the host's, with an
// empty read-only tmpfs over each filesystem mounted below it (cgroupfs,
// bpffs, debugfs, ...), which the default sandbox does not show either.
func withHostSysfs(_ context.Context, _ oci.Client, _ *containers.Container, sp *oci.Spec) error {
	infos, err := readMountInfo()
	if err != nil {
		return fmt.Errorf("sandbox: host /sys: %w", err)
	}
	var subs []string
	for _, m := range infos {
		if strings.HasPrefix(m.MountPoint, "/sys/") {
			subs = append(subs, m.MountPoint)
		}
	}
	sort.Strings(subs)
	var out []specs.Mount
	for _, m := range sp.Mounts {
		if m.Destination != "/sys" {
			out = append(out, m)
			continue
		}
		out = append(out, specs.Mount{
			Destination: "/sys", Type: "bind", Source: "/sys",
			Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"},
		})
		var top []string
		for _, p := range subs {
			if len(top) > 0 && under(p, top[len(top)-1]) {
				continue // hidden by the tmpfs over its parent mount
			}
			top = append(top, p)
			out = append(out, specs.Mount{
				Destination: p, Type: "tmpfs", Source: "tmpfs",
				Options: []string{"ro", "nosuid", "nodev", "noexec", "mode=555", "size=4k"},
			})
		}
	}
	sp.Mounts = out
	return nil
}
