package sandbox

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

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

// readMountInfo parses /proc/self/mountinfo (octal escapes decoded).
func readMountInfo() ([]mountInfo, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	defer f.Close()
	var out []mountInfo
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if len(fields) < 6 || sep < 0 || sep+1 >= len(fields) {
			continue
		}
		out = append(out, mountInfo{
			Root:       unescapeMount(fields[3]),
			MountPoint: unescapeMount(fields[4]),
			Options:    fields[5],
			FSType:     fields[sep+1],
		})
		if sep+3 < len(fields) {
			out[len(out)-1].Super = fields[sep+3]
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return out, nil
}

// unescapeMount decodes the \NNN octal escapes the kernel uses for spaces,
// tabs, newlines and backslashes in mountinfo paths.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
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
