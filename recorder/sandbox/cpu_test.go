package sandbox

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bombScript starts 32 CPU burners (pids and CPU are both bounded, so this
// is a fork bomb that stays alive rather than one that exhausts pids) and
// waits for them.
const bombScript = `for i in $(seq 32); do (while :; do :; done) & done; wait`

// startBomb creates a sandbox running bombScript with cpus (0 = the
// default, no cap) and returns it created but not started, so the caller
// can measure the host before it runs.
func startBomb(t *testing.T, cpus float64) *Sandbox {
	t.Helper()
	if runtime.NumCPU() < 2 {
		t.Skip("needs 2 CPUs: with one, the host and the bomb cannot both be measured")
	}
	c := connect(t)
	ctx := context.Background()
	var out strings.Builder
	sb, err := c.Create(ctx, Options{
		ID: newID(t), Env: testEnv, Workspace: t.TempDir(), Timeout: time.Minute, CPUs: cpus, Stdout: &out, Stderr: &out,
		Args: sh(bombScript),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sb.Close(context.Background()) })
	return sb
}

// cpuQuota is the sandbox's hard CPU cap in microseconds per 100 ms
// period, or "max": v2 cpu.max, else v1 cpu.cfs_quota_us (-1 = none) in
// the hierarchy that holds the sandboxes' CPU weight.
func cpuQuota(t *testing.T, sb *Sandbox) string {
	t.Helper()
	if b, err := os.ReadFile(filepath.Join(sb.cgroupDir, "cpu.max")); err == nil {
		return strings.Fields(string(b))[0]
	}
	file, _, v2, err := parentCPUFile()
	if err != nil || v2 {
		t.Fatalf("no cpu.max in %s and no v1 cpu hierarchy (%v)", sb.cgroupDir, err)
	}
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), sb.opts.ID, "cpu.cfs_quota_us"))
	if err != nil {
		t.Fatal(err)
	}
	if q := strings.TrimSpace(string(b)); q != "-1" {
		return q
	}
	return "max"
}

// The default: no hard cap, and a CPU-bound fork bomb still leaves the
// host responsive because every sandbox shares the low weight of
// cgroupParent: a probe on the host keeps its latency, and while the host
// keeps every CPU busy the bomb gets a small share, however many
// processes it has. Without the parent's weight (runc's default, one
// ordinary process's) the bomb took ~0.5 CPUs against two host burners;
// without any cgroup (32 host processes) the probe took ~8x longer.
func TestDefaultCPUKeepsHostResponsive(t *testing.T) {
	sb := startBomb(t, 0)
	if q := cpuQuota(t, sb); q != "max" {
		t.Errorf("default CPU quota = %s; want none (max)", q)
	}
	file, want, v2, err := parentCPUFile()
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(file); err != nil || strings.TrimSpace(string(b)) != want {
		t.Errorf("%s = %q, %v; want %s", file, b, err, want)
	}
	if v2 && want != strconv.Itoa(CPUWeight) || !v2 && want != "112" {
		t.Errorf("weight %s (v2 %v) does not say CPUWeight %d", want, v2, CPUWeight)
	}
	before := probeLatency(10)
	if err := sb.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // let the bomb spread
	free := bombShare(t, sb, 0)
	during := probeLatency(10)
	if ratio := float64(during) / float64(before); ratio > 4 {
		t.Errorf("host probe took %s with the bomb vs %s without (×%.1f): the host is not responsive", during, before, ratio)
	}
	// Under contention the sandboxes yield: with a busy host process per
	// CPU, the whole bomb gets about 11/111 of the machine (v2, against a
	// slice) or 56/1080 of each CPU (v1, against root's tasks), not the
	// 1/3 to 1/2 that one ordinary process's weight would give it. Other
	// load on the machine only lowers it.
	busy := bombShare(t, sb, runtime.NumCPU())
	if share := busy / float64(runtime.NumCPU()); share > 0.175 {
		t.Errorf("the bomb used %.2f CPUs (%.0f%% of the machine) while the host kept %d CPUs busy: it does not yield", busy, 100*share, runtime.NumCPU())
	}
	t.Logf("probe: %s idle, %s during the bomb; the bomb used %.2f CPUs alongside the test, %.2f against %d host burners",
		before, during, free, busy, runtime.NumCPU())
}

// cpu.max carries --cpus, and a CPU-bound fork bomb with 1 CPU leaves the
// host responsive: a probe on the host keeps its latency (ratio to the same
// probe without the bomb, so machine speed does not matter).
func TestCPULimitKeepsHostResponsive(t *testing.T) {
	sb := startBomb(t, 1)
	if q := cpuQuota(t, sb); q != "100000" {
		t.Errorf("CPU quota = %s; want 100000 (1 CPU)", q)
	}
	before := probeLatency(10)
	if err := sb.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // let the bomb spread
	during := probeLatency(10)
	used := bombShare(t, sb, 0)
	if used > 1.15 {
		t.Errorf("the bomb used %.2f CPUs, more than its 1-CPU bound", used)
	}
	if ratio := float64(during) / float64(before); ratio > 4 {
		t.Errorf("host probe took %s with the bomb vs %s without (×%.1f): the host is not responsive", during, before, ratio)
	}
	t.Logf("probe: %s idle, %s during the bomb; the bomb used %.2f CPUs", before, during, used)
}

// The code cannot leave the fair scheduler, where the weight holds: a
// real-time or deadline policy would run ahead of every host task, and a
// negative nice would outweigh its siblings. Each is refused; the
// unprivileged changes (a batch policy, a higher nice) work, so chrt and
// nice do run inside. nice(1) only warns when it cannot raise the
// priority, so the niceness it got is printed.
func TestSchedulingPriorityRefused(t *testing.T) {
	c := connect(t)
	r := runIn(t, c, Options{Args: sh(`
try() { "$@" true >/dev/null 2>&1; echo "$1 $2=$?"; }
try chrt -f 1
try chrt -r 1
try chrt -d --sched-runtime 1000000 --sched-deadline 10000000 --sched-period 10000000 0
try chrt -b 0
echo "nice -1=$(nice -n -1 nice 2>/dev/null)"
echo "nice 5=$(nice -n 5 nice)"
`)})
	want := "chrt -f=1\nchrt -r=1\nchrt -d=1\nchrt -b=0\nnice -1=0\nnice 5=5\n"
	if r.stdout != want {
		t.Errorf("inside the sandbox:\n%s\nwant\n%s\nstderr %s", r.stdout, want, r.stderr)
	}
}

// bombShare is how many CPUs the sandbox used over one second while
// hostBurners busy loops ran on the host. Each is a process in a session
// of its own: with autogroup on (the default) the kernel weighs the root
// cgroup's tasks per session, and a burner is then weighed as an ordinary
// program the user started, not as a thread of the test.
func bombShare(t *testing.T, sb *Sandbox, hostBurners int) float64 {
	t.Helper()
	for range hostBurners {
		cmd := exec.Command("/bin/sh", "-c", "while :; do :; done")
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			cmd.Process.Kill()
			cmd.Wait()
		}()
	}
	if hostBurners > 0 {
		time.Sleep(200 * time.Millisecond)
	}
	u0, t0 := cpuUsage(t, sb.cgroupDir), time.Now()
	time.Sleep(time.Second)
	return float64(cpuUsage(t, sb.cgroupDir)-u0) / float64(time.Since(t0))
}

// cpuUsage is the cgroup's CPU time so far (v2 cpu.stat usage_usec, which
// the kernel keeps for every cgroup).
func cpuUsage(t *testing.T, dir string) time.Duration {
	t.Helper()
	n := cgroupEvent(filepath.Join(dir, "cpu.stat"), "usage_usec")
	if n == 0 {
		t.Fatalf("no usage_usec in %s/cpu.stat", dir)
	}
	return time.Duration(n) * time.Microsecond
}

// probeLatency is the median time of n rounds of ~25 ms of CPU work after
// a short sleep: what an interactive program on the host feels. The work
// is longer than the scheduler's wake-up bonus, so a probe competing as an
// equal with 32 burners takes ~8x longer, not the same time.
func probeLatency(n int) time.Duration {
	ds := make([]time.Duration, n)
	for i := range ds {
		time.Sleep(5 * time.Millisecond)
		start := time.Now()
		x := 0
		for j := 0; j < 20_000_000; j++ {
			x += j ^ (x >> 3)
		}
		sink = x
		ds[i] = time.Since(start)
	}
	slices.Sort(ds)
	return ds[n/2]
}

var sink int

// The weight goes where runc puts the sandbox's CPU limits: the v1 cpu
// hierarchy on a hybrid host (alone or joined with cpuacct), else v2.
func TestCPUWeightFile(t *testing.T) {
	v2 := mountInfo{Root: "/", MountPoint: "/sys/fs/cgroup/unified", FSType: "cgroup2", Super: "rw"}
	for _, tc := range []struct {
		name   string
		mounts []mountInfo
		file   string
		value  string
		v2     bool
	}{
		{"hybrid", []mountInfo{
			{Root: "/", MountPoint: "/sys/fs/cgroup/cpuset", FSType: "cgroup", Super: "rw,cpuset"},
			{Root: "/", MountPoint: "/sys/fs/cgroup/cpuacct", FSType: "cgroup", Super: "rw,cpuacct"},
			{Root: "/", MountPoint: "/sys/fs/cgroup/cpu", FSType: "cgroup", Super: "rw,cpu"}, v2,
		}, "/sys/fs/cgroup/cpu/behavediff/cpu.shares", "112", false},
		{"hybrid cpu,cpuacct", []mountInfo{
			v2, {Root: "/", MountPoint: "/sys/fs/cgroup/cpu,cpuacct", FSType: "cgroup", Super: "rw,cpu,cpuacct"},
		}, "/sys/fs/cgroup/cpu,cpuacct/behavediff/cpu.shares", "112", false},
		{"pure v2", []mountInfo{
			{Root: "/", MountPoint: "/sys/fs/cgroup", FSType: "cgroup2", Super: "rw,nsdelegate"},
		}, "/sys/fs/cgroup/behavediff/cpu.weight", "11", true},
	} {
		file, value, isV2, err := cpuWeightFile(tc.mounts)
		if err != nil || file != tc.file || value != tc.value || isV2 != tc.v2 {
			t.Errorf("%s: %s = %s (v2 %v), %v; want %s = %s (v2 %v)", tc.name, file, value, isV2, err, tc.file, tc.value, tc.v2)
		}
	}
	if _, _, _, err := cpuWeightFile([]mountInfo{{Root: "/", MountPoint: "/sys/fs/cgroup/memory", FSType: "cgroup", Super: "rw,memory"}}); err == nil {
		t.Error("no cpu hierarchy: no error")
	}
}
