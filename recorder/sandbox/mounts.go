package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/moby/sys/mountinfo"
	"golang.org/x/sys/unix"
)

// mountInfo is one line of /proc/self/mountinfo.
type mountInfo struct {
	Root       string // root of the mount within its filesystem
	MountPoint string
	Options    string // per-mount options
	FSType     string
	Super      string // super block options (a v1 cgroup's controllers)
}

// readMountInfo reads /proc/self/mountinfo through moby/sys/mountinfo
// (which decodes the kernel's octal escapes).
func readMountInfo() ([]mountInfo, error) {
	infos, err := mountinfo.GetMounts(nil)
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	out := make([]mountInfo, 0, len(infos))
	for _, m := range infos {
		out = append(out, mountInfo{Root: m.Root, MountPoint: m.Mountpoint, Options: m.Options, FSType: m.FSType, Super: m.VFSOptions})
	}
	return out, nil
}

// ensureHostRoot makes the read-only view of the host's / that sandboxes use
// as their rootfs when Options.Rootfs is empty, and returns its path.
//
// runc cannot use / itself (pivot_root fails on the busy root), so we bind /
// (non-recursively: /proc, /run, other mounts and anything mounted later stay
// out) onto a directory of our own, make it private so later host mounts do
// not propagate into it, and remount it read-only so that nothing runc or the
// command does can write into the host's /. The mount is shared by all runs
// and deliberately left in place between runs.
func ensureHostRoot(ctx context.Context) (string, error) {
	if err := os.MkdirAll(runDir, 0o711); err != nil {
		return "", fmt.Errorf("create %s: %w", runDir, err)
	}
	unlock, err := lockFile(ctx, hostRootLock)
	if err != nil {
		return "", err
	}
	defer unlock()

	mounts, err := readMountInfo()
	if err != nil {
		return "", err
	}
	mounted, readOnly := false, false
	for _, m := range mounts {
		if m.MountPoint == hostRootDir {
			mounted = true // the last (topmost) entry wins
			readOnly = hasOption(m.Options, "ro")
		}
	}
	if !mounted {
		if err := os.MkdirAll(hostRootDir, 0o755); err != nil {
			return "", fmt.Errorf("create %s: %w", hostRootDir, err)
		}
		if err := unix.Mount("/", hostRootDir, "", unix.MS_BIND, ""); err != nil {
			return "", fmt.Errorf("bind host / onto %s: %w", hostRootDir, err)
		}
		if err := unix.Mount("", hostRootDir, "", unix.MS_PRIVATE, ""); err != nil {
			_ = unix.Unmount(hostRootDir, unix.MNT_DETACH)
			return "", fmt.Errorf("make %s private: %w", hostRootDir, err)
		}
	}
	if !readOnly {
		if err := unix.Mount("", hostRootDir, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
			_ = unix.Unmount(hostRootDir, unix.MNT_DETACH)
			return "", fmt.Errorf("remount %s read-only: %w", hostRootDir, err)
		}
	}
	var st unix.Statfs_t
	if err := unix.Statfs(hostRootDir, &st); err != nil {
		return "", fmt.Errorf("statfs %s: %w", hostRootDir, err)
	}
	if st.Flags&unix.ST_RDONLY == 0 {
		return "", fmt.Errorf("%s is not read-only after remount; refusing to use it as a rootfs", hostRootDir)
	}
	return hostRootDir, nil
}

func hasOption(opts, want string) bool {
	for _, o := range strings.Split(opts, ",") {
		if o == want {
			return true
		}
	}
	return false
}

// mountWorkspace mounts the workspace's copy-on-write view on the host at
// s.merged: an overlay whose lower layer is the workspace (through an
// idmapped clone at s.lower when the sandbox has a user namespace) and
// whose upper layer is on the run's disk. It is mounted here, by host root,
// rather than by runc inside the user namespace, where overlayfs could
// neither read the 0700 run directory nor keep trusted.* whiteout xattrs;
// the container gets a bind of it.
func (s *Sandbox) mountWorkspace(userns *os.File) error {
	lower := s.workspace
	if userns != nil {
		if err := idmapClone(s.workspace, s.lower, userns, true); err != nil {
			return err
		}
		lower = s.lower
	}
	if err := os.Mkdir(s.merged, 0o700); err != nil {
		return fmt.Errorf("sandbox: create %s: %w", s.merged, err)
	}
	opts := strings.Join([]string{
		"lowerdir=" + lower, "upperdir=" + s.upper, "workdir=" + s.work,
		// Plain copy-up semantics: renaming a lower dir fails with EXDEV
		// (tools fall back to copy+delete) instead of leaving redirect
		// xattrs in upper that Changes would have to interpret.
		"redirect_dir=off", "index=off", "metacopy=off",
	}, ",")
	if err := unix.Mount("overlay", s.merged, "overlay", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("sandbox: mount the workspace overlay: %w", err)
	}
	return nil
}

// unmountRun releases every mount of a run directory, top first: the
// workspace overlay, its idmapped lower layer, then the disk. A no-op for
// what is not mounted.
func unmountRun(dir string) error {
	for _, m := range []string{"merged", "lower"} {
		if err := unmountAll(filepath.Join(dir, m)); err != nil {
			return err
		}
	}
	return unmountDisk(dir)
}

// unmountAll unmounts mnt until nothing is mounted there; a mount still busy
// (the task's mount namespace is being torn down) is detached, and the
// kernel finishes when its last user goes.
func unmountAll(mnt string) error {
	for {
		err := unix.Unmount(mnt, 0)
		if err == nil {
			continue
		}
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmount %s: %w", mnt, err)
		}
		return nil
	}
}
