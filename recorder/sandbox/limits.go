package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Defaults for the resource limits: generous enough for builds and test
// suites, small enough that a fork bomb or a leak cannot take the host down.
const (
	DefaultMemoryBytes = 4 << 30
	DefaultPidsLimit   = 4096
	// DefaultDiskBytes bounds what a run can write into its workspace (the
	// overlay upper layer lives on a filesystem of this size).
	DefaultDiskBytes = 4 << 30
	// DefaultTmpfsBytes bounds /tmp (tmpfs pages are also charged to the
	// memory limit).
	DefaultTmpfsBytes = 1 << 30
)

// WithDefaults returns o with every unset (zero) limit replaced by its
// default: the limits the sandbox really gets.
func (o Options) WithDefaults() Options {
	if o.MemoryBytes == 0 {
		o.MemoryBytes = DefaultMemoryBytes
	}
	if o.PidsLimit == 0 {
		o.PidsLimit = DefaultPidsLimit
	}
	if o.DiskBytes == 0 {
		o.DiskBytes = DefaultDiskBytes
	}
	if o.TmpfsBytes == 0 {
		o.TmpfsBytes = DefaultTmpfsBytes
	}
	// CPUs stays 0 (no hard cap): every sandbox gets the low CPU weight
	// of cpu.go instead.
	return o
}

// unmountDisk releases the run's disk; a no-op when it is not mounted.
func unmountDisk(dir string) error {
	mnt := filepath.Join(dir, "disk")
	for {
		err := unix.Unmount(mnt, 0)
		if err == nil {
			continue // mounted more than once: unmount all
		}
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			return nil
		}
		// Still busy (the task's mounts are being torn down): detach, the
		// kernel finishes when the last user goes.
		if err := unix.Unmount(mnt, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("unmount %s: %w", mnt, err)
		}
		return nil
	}
}

// v1Dirs finds the task's cgroup v1 directories of the memory and pids
// controllers on a hybrid host (where the limits live in v1, not in the v2
// directory the sensor filters on). Missing controllers are left out.
func v1Dirs(pid uint32) map[string]string {
	out := map[string]string{}
	mounts, err := readMountInfo()
	if err != nil {
		return out
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || parts[1] == "" {
			continue
		}
		for _, ctrl := range strings.Split(parts[1], ",") {
			if ctrl != "memory" && ctrl != "pids" {
				continue
			}
			for _, m := range mounts {
				if m.FSType == "cgroup" && m.Root == "/" && hasOption(m.Super, ctrl) {
					out[ctrl] = filepath.Join(m.MountPoint, parts[2])
				}
			}
		}
	}
	return out
}

// oomKills is how many processes the kernel OOM-killed in the cgroup: the
// v2 memory.events oom_kill counter, or v1's memory.oom_control one.
func (s *Sandbox) oomKills() int64 {
	if n := cgroupEvent(filepath.Join(s.cgroupDir, "memory.events"), "oom_kill"); n > 0 {
		return n
	}
	if d, ok := s.v1["memory"]; ok {
		return cgroupEvent(filepath.Join(d, "memory.oom_control"), "oom_kill")
	}
	return 0
}

// pidsDenied is how many forks the pids limit refused.
func (s *Sandbox) pidsDenied() int64 {
	if n := cgroupEvent(filepath.Join(s.cgroupDir, "pids.events"), "max"); n > 0 {
		return n
	}
	if d, ok := s.v1["pids"]; ok {
		return cgroupEvent(filepath.Join(d, "pids.events"), "max")
	}
	return 0
}

// limitsHit reads the cgroup's event counters and the disk's free space
// after the command ended and names each bound the run reached.
func (s *Sandbox) limitsHit() []string {
	var hit []string
	if n := s.oomKills(); n > 0 {
		hit = append(hit, fmt.Sprintf("memory limit %s reached: OOM-killed (%d process(es))", FormatBytes(s.opts.MemoryBytes), n))
	}
	if s.pidsDenied() > 0 {
		hit = append(hit, fmt.Sprintf("process limit %d reached: fork refused", s.opts.PidsLimit))
	}
	var st unix.Statfs_t
	if err := unix.Statfs(s.diskMnt, &st); err == nil && st.Bsize > 0 {
		// Full when less than 1 MiB or 0.1% is left: ext4 keeps a few blocks
		// for metadata that a writer never gets.
		free := int64(st.Bavail) * st.Bsize
		if free < 1<<20 || free < s.opts.DiskBytes/1000 || st.Ffree == 0 {
			hit = append(hit, fmt.Sprintf("disk limit %s reached", FormatBytes(s.opts.DiskBytes)))
		}
	}
	return hit
}

// cgroupEvent returns the counter key of a cgroup *.events file (0 when
// absent).
func cgroupEvent(file, key string) int64 {
	f, err := os.Open(file)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if ok && k == key {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// FormatBytes writes a size the way limits are given: "4 GiB", "512 MiB".
func FormatBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	v := float64(n)
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if v == float64(int64(v)) {
		return fmt.Sprintf("%d %s", int64(v), units[i])
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

// ParseBytes reads a size: plain bytes, or a number with K/M/G/T (binary
// units, optional "iB"/"B" suffix): "4G", "512MiB", "1048576".
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	u := strings.ToUpper(t)
	u = strings.TrimSuffix(strings.TrimSuffix(u, "B"), "I")
	mult := int64(1)
	if n := len(u); n > 0 {
		switch u[n-1] {
		case 'K':
			mult = 1 << 10
		case 'M':
			mult = 1 << 20
		case 'G':
			mult = 1 << 30
		case 'T':
			mult = 1 << 40
		}
		if mult > 1 {
			u = u[:n-1]
		}
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(u), 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("bad size %q: want bytes or a number with K, M, G or T (e.g. 4G, 512MiB)", s)
	}
	return int64(v * float64(mult)), nil
}
