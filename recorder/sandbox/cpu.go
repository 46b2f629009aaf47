package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// CPU: by default no sandbox has a hard cap. A cap (cpu.max) that leaves the
// host one CPU halves a parallel build on an idle two-core machine; what
// keeps the host responsive instead is the scheduler's weight. Every
// sandbox's cgroup is a child of cgroupParent, and that parent competes, at
// the top of the hierarchy, with the host's own entities: on cgroup v1 (a
// hybrid host) the root cgroup's tasks, which with autogroup on (the
// default, /proc/sys/kernel/sched_autogroup_enabled) are one entity of
// weight 1024 per session, else one per task; on v2 the slices, weight 100
// each. However many processes a sandbox forks, they share the parent's
// weight, so the sandboxes together weigh as much as one process run under
// `nice` (nice 10), about a ninth of a terminal session: on an idle machine
// they get every CPU, under contention they yield. --cpus N adds a hard cap.

// cgroupParent is the cgroup every sandbox's cgroup is made in.
const cgroupParent = "/behavediff"

// CPUWeight is the weight of cgroupParent on cgroup v2's scale (100 = one
// ordinary process): 11 is a nice-10 process (kernel weight 110). On
// cgroup v1 it is cpu.shares 112 (the kernel's own v2 conversion, ×1024/100).
const CPUWeight = 11

// cpuPeriod is the cpu.max period; the quota is CPUs × period.
const cpuPeriod = 100000

// withCPUs sets cgroup cpu.max to cpus CPUs of bandwidth; 0 = no cap.
func withCPUs(cpus float64) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, sp *oci.Spec) error {
		if cpus == 0 {
			return nil
		}
		quota := int64(cpus * cpuPeriod)
		if quota < 1000 {
			quota = 1000 // the kernel's minimum
		}
		period := uint64(cpuPeriod)
		if sp.Linux.Resources == nil {
			sp.Linux.Resources = &specs.LinuxResources{}
		}
		if sp.Linux.Resources.CPU == nil {
			sp.Linux.Resources.CPU = &specs.LinuxCPU{}
		}
		sp.Linux.Resources.CPU.Quota = &quota
		sp.Linux.Resources.CPU.Period = &period
		return nil
	}
}

// parentCPUFile is the file that holds cgroupParent's CPU weight and the
// value to write there (see cpuWeightFile).
func parentCPUFile() (file, value string, v2 bool, err error) {
	mounts, err := readMountInfo()
	if err != nil {
		return "", "", false, err
	}
	return cpuWeightFile(mounts)
}

// cpuWeightFile picks, from the host's mounts, cpu.shares in the v1
// hierarchy of the cpu controller when there is one (a hybrid host, where
// runc puts the sandbox's CPU limits in v1), else cpu.weight in the v2
// hierarchy.
func cpuWeightFile(mounts []mountInfo) (file, value string, v2 bool, err error) {
	for _, m := range mounts {
		if m.FSType == "cgroup" && m.Root == "/" && hasOption(m.Super, "cpu") {
			return filepath.Join(m.MountPoint, cgroupParent, "cpu.shares"), strconv.Itoa(CPUWeight * 1024 / 100), false, nil
		}
	}
	for _, m := range mounts {
		if m.FSType == "cgroup2" && m.Root == "/" {
			return filepath.Join(m.MountPoint, cgroupParent, "cpu.weight"), strconv.Itoa(CPUWeight), true, nil
		}
	}
	return "", "", false, errors.New("no cgroup hierarchy has the cpu controller mounted")
}

// SandboxCPUGroup makes cgroupParent in the hierarchy of the cpu
// controller (if needed), gives it CPUWeight and returns its directory.
// runc makes the parent too, but with the default weight, which would let
// the sandboxes claim as much CPU as any host process. Every Create calls
// it, so a parent made by an older behavediff gets the weight too. A
// benchmark can run a bare baseline in a child of it, to compare at the
// sandboxes' weight.
func SandboxCPUGroup() (string, error) {
	file, value, v2, err := parentCPUFile()
	if err != nil {
		return "", fmt.Errorf("sandbox: cpu weight: %w", err)
	}
	dir := filepath.Dir(file)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("sandbox: create cgroup %s: %w", dir, err)
	}
	if v2 {
		// The cpu controller must be enabled for the root's children
		// (runc would enable it too when it made the parent).
		root := filepath.Join(filepath.Dir(dir), "cgroup.subtree_control")
		b, err := os.ReadFile(root)
		if err != nil {
			return "", fmt.Errorf("sandbox: cpu weight: %w", err)
		}
		if !hasOption(strings.ReplaceAll(strings.TrimSpace(string(b)), " ", ","), "cpu") {
			if err := os.WriteFile(root, []byte("+cpu"), 0o644); err != nil {
				return "", fmt.Errorf("sandbox: enable the cpu controller in %s: %w", root, err)
			}
		}
	}
	if b, err := os.ReadFile(file); err == nil && strings.TrimSpace(string(b)) == value {
		return dir, nil
	}
	if err := os.WriteFile(file, []byte(value), 0o644); err != nil {
		return "", fmt.Errorf("sandbox: set the sandboxes' CPU weight (%s = %s): %w", file, value, err)
	}
	return dir, nil
}
