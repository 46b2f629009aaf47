package bpf

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// BenchmarkSysExitCost measures the sensor's in-kernel cost per syscall with
// BPF run-time statistics: a stat-only loop (the count-only path) and an
// open/close loop (one record per open), plus the loop-time ratio of the
// syscall_heavy workload traced vs untraced. Untraced and traced runs
// alternate; medians of BEHAVEDIFF_BENCH_REPS (default 3) repetitions.
func BenchmarkSysExitCost(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	n := 200000
	if v, err := strconv.Atoi(os.Getenv("BEHAVEDIFF_BENCH_ROUNDS")); err == nil && v > 0 {
		n = v
	}
	reps := 3
	if v, err := strconv.Atoi(os.Getenv("BEHAVEDIFF_BENCH_REPS")); err == nil && v > 0 {
		reps = v
	}
	dir := b.TempDir()
	heavy := filepath.Join(dir, "syscall_heavy")
	if msg, err := exec.Command("gcc", "-O2", "-static", "-o", heavy, "../testdata/helpers/syscall_heavy.c").CombinedOutput(); err != nil {
		b.Skipf("gcc: %v %s", err, msg)
	}
	self, _ := os.Executable()
	t := &testing.T{}
	cg := newCgroup(t, "bench")
	defer func() {
		unix.Close(cg.fd)
		os.Remove(cg.dir)
	}()
	stop, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		b.Fatal(err)
	}
	defer stop.Close()

	loopNs := func(args ...string) time.Duration {
		var out bytes.Buffer
		cmd := cg.command(args[0], args[1:]...)
		cmd.Stdout = &out
		cmd.Env = append(os.Environ(), "BEHAVEDIFF_SENSOR_HELPER=loop")
		if err := cmd.Run(); err != nil {
			b.Fatalf("%v: %v", args, err)
		}
		m := regexp.MustCompile(`loop_ns=(\d+)`).FindStringSubmatch(out.String())
		if m == nil {
			b.Fatalf("no loop_ns in %q", out.String())
		}
		v, _ := strconv.ParseInt(m[1], 10, 64)
		return time.Duration(v)
	}
	enterNs, kmemNs, kmemPer := map[string][]float64{}, map[string][]float64{}, map[string][]float64{}
	traced := func(args ...string) (time.Duration, float64) {
		load := "heavy"
		if args[0] == self {
			load = args[1]
		}
		s, err := Load(Config{CgroupID: cg.id})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				if _, err := s.Read(); err != nil {
					return
				}
			}
		}()
		d := loopNs(args...)
		st, err := s.objs.SysExit.Stats()
		if err != nil {
			b.Fatal(err)
		}
		// the path argument copies (pathargs.h): per syscall, and the
		// machine-wide slab free hook's total
		if en, err := s.objs.SysEnter.Stats(); err == nil {
			enterNs[load] = append(enterNs[load], float64(en.Runtime.Nanoseconds())/float64(max(st.RunCount, 1)))
		}
		if km, err := s.objs.KmemFree.Stats(); err == nil {
			kmemNs[load] = append(kmemNs[load], float64(km.Runtime.Nanoseconds())/float64(max(km.RunCount, 1)))
			kmemPer[load] = append(kmemPer[load], float64(km.RunCount)/float64(max(st.RunCount, 1)))
		}
		s.Stop()
		<-done
		if lost, _ := s.Lost(); lost["file"]+lost["count"] != 0 {
			b.Errorf("lost %v", lost)
		}
		return d, float64(st.Runtime.Nanoseconds()) / float64(st.RunCount)
	}
	med := func(v []float64) float64 {
		sort.Float64s(v)
		return v[len(v)/2]
	}
	var statNs, openNs, ratio, heavyNs []float64
	for i := 0; i < max(b.N, 1); i++ {
		for r := 0; r < reps; r++ {
			_, ns := traced(self, "stat", fmt.Sprint(n))
			statNs = append(statNs, ns)
			_, ns = traced(self, "open", fmt.Sprint(n))
			openNs = append(openNs, ns)
			bare := loopNs(heavy, fmt.Sprint(n), "/etc/hostname")
			tr, ns := traced(heavy, fmt.Sprint(n), "/etc/hostname")
			ratio = append(ratio, float64(tr)/float64(bare))
			heavyNs = append(heavyNs, ns)
		}
	}
	// open loop: one openat (record) + one close (count only) per round
	fmt.Printf("sys_exit ns/call: stat loop %.0f, open+close loop %.0f (open record ~%.0f), syscall_heavy %.0f; heavy loop ratio %.3fx (all: %.3f)\n",
		med(statNs), med(openNs), 2*med(openNs)-med(statNs), med(heavyNs), med(ratio), ratio)
	for _, load := range []string{"stat", "open", "heavy"} {
		fmt.Printf("%s loop: sys_enter %.0f ns/syscall; kmem_cache_free hook %.0f ns/call, %.2f calls/syscall (machine-wide)\n",
			load, med(enterNs[load]), med(kmemNs[load]), med(kmemPer[load]))
	}
	b.ReportMetric(med(statNs), "ns/count-only")
	b.ReportMetric(2*med(openNs)-med(statNs), "ns/open-record")
	b.ReportMetric(med(ratio), "x-heavy")
}
