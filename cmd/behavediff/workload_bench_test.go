package main

import (
	"fmt"
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

	"github.com/behavediff/behavediff/internal/testenv"
	"github.com/behavediff/behavediff/recorder/sandbox"
)

// Issue 14's real-world workloads, measured as BenchmarkRecordEndToEnd
// measures the syscall-heavy one: what the user waits for, `behavediff
// record -- WORKLOAD` as a whole process minus `record -- true`, over the
// same WORKLOAD run bare on the host. Runs are interleaved (bare, true,
// workload; each round starts one slot later, see rotated) and medians taken, so the ratio is against a baseline measured
// under the same load of this shared machine. Goal for both: <= 1.10x.

// e2eWorkload is one workload: files written into every project (the
// sandbox's workspace is a copy-on-write layer of it, so every run starts
// from the same tree) and the shell script that builds or installs there.
type e2eWorkload struct {
	name   string
	files  map[string]string
	script string
	// allCPUs also records with --cpus set to every host CPU, in the same
	// interleaving: the hard-cap path (cpu.max) next to the default (no
	// cap, the sandboxes' low weight), which matters for a parallel build.
	allCPUs bool
}

// e2eConfig is one way of recording: a binary and its record flags.
type e2eConfig struct {
	label, bin string
	flags      []string
}

// benchPairs is BEHAVEDIFF_BENCH_PAIRS, else max(b.N, 5).
func benchPairs(b *testing.B) int {
	b.Helper()
	return benchInt(b, "BEHAVEDIFF_BENCH_PAIRS", max(b.N, 5), 1)
}

// sweepBenchCgroups removes the bare runs' cgroups that an interrupted
// benchmark left in grp (its Cleanup never ran): bench-bare-PID of a
// process that is gone. A cgroup still holding a process is not empty,
// and rmdir leaves it.
func sweepBenchCgroups(grp string) {
	dirs, _ := filepath.Glob(filepath.Join(grp, "bench-bare-*"))
	for _, d := range dirs {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), "bench-bare-"))
		if err != nil || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			os.Remove(d)
		}
	}
}

// rotated is the order in which round r runs n slots (the bare baseline
// and each recording configuration): each round starts one slot later, so
// every slot runs in every position equally often. In a fixed order the
// same binary measured 1.23x first and 1.06x last in one run of the build
// benchmark; with the order rotated, identical binaries still differ by up
// to 0.15 between runs of 9 rounds (the bare baseline itself moves by 20 %
// from run to run), so quote build ratios from many rounds.
func rotated(n, r int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = (r + i) % n
	}
	return order
}

// benchInt reads a positive integer knob, or returns def.
func benchInt(b *testing.B, env string, def, least int) int {
	b.Helper()
	s := os.Getenv(env)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < least {
		b.Fatalf("%s=%q: want a number >= %d", env, s, least)
	}
	return n
}

func benchMedian(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// writeTree writes files (relative names) under dir.
func writeTree(b *testing.B, dir string, files map[string]string) {
	b.Helper()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
	}
}

// runE2EWorkload measures w end to end for this tree's behavediff and, with
// BEHAVEDIFF_BENCH_BEFORE, another binary in the same interleaving.
func runE2EWorkload(b *testing.B, w e2eWorkload, goal float64) {
	b.Helper()
	pairs := benchPairs(b)
	hostTmp := "/dev/shm"
	if st, err := os.Stat(hostTmp); err != nil || !st.IsDir() {
		b.Skip("no /dev/shm tmpfs for the bare run")
	}
	bin := buildCLI(b)
	bins := []e2eConfig{{label: "this tree", bin: bin}}
	if w.allCPUs {
		n := strconv.Itoa(runtime.NumCPU())
		bins = append(bins, e2eConfig{label: "this tree, --cpus " + n, bin: bin, flags: []string{"--cpus", n}})
	}
	if before := os.Getenv("BEHAVEDIFF_BENCH_BEFORE"); before != "" {
		if _, err := exec.LookPath(before); err != nil {
			b.Fatalf("BEHAVEDIFF_BENCH_BEFORE=%q: %v", before, err)
		}
		bins = append(bins, e2eConfig{label: "before (" + before + ")", bin: before})
	}
	// A project per binary (an older binary must not meet a database a
	// newer one migrated), and one for the bare runs, whose outputs would
	// otherwise leak into the next recorded run's workspace.
	dirs := make([]string, len(bins))
	for i := range bins {
		dirs[i] = b.TempDir()
		if err := os.Mkdir(filepath.Join(dirs[i], ".behavediff"), 0o755); err != nil {
			b.Fatal(err)
		}
		writeTree(b, dirs[i], w.files)
	}
	// The bare run works in a tmpfs, its /tmp too: the fastest the host
	// can do, so the ratio errs high rather than low (on this machine's
	// disk a venv costs ~1.5 s more system time than in the sandbox's
	// workspace layer, which would flatter the recorder).
	bareDir, err := os.MkdirTemp(hostTmp, "bd-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(bareDir) })
	writeTree(b, bareDir, w.files)
	bareTmp := filepath.Join(bareDir, ".tmp")
	if err := os.Mkdir(bareTmp, 0o755); err != nil {
		b.Fatal(err)
	}

	// cpu is the user+system time of the last process run: for a record,
	// behavediff's own (the sandboxed workload is not its child).
	var cpu time.Duration
	run := func(dir string, env []string, args ...string) time.Duration {
		b.Helper()
		cmd := exec.Command(args[0], args[1:]...)
		cmd.Dir = dir
		if env != nil {
			cmd.Env = env
		}
		start := time.Now()
		out, err := cmd.CombinedOutput()
		d := time.Since(start)
		if err != nil {
			b.Fatalf("%v: %v\n%s", args, err, out)
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
		}
		return d
	}
	// The bare run gets the environment the sandbox gives (recorder.BaseEnv).
	bareEnv := []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root",
		"LANG=C.UTF-8", "TERM=xterm", "TMPDIR=" + bareTmp}
	// weighted runs the bare script at the sandboxes' CPU weight, in a child
	// of their cgroup: on a busy machine the sandbox yields to the host by
	// design, and this baseline yields alike, so the ratio against it is
	// the recording's own cost and the headline ratio's excess is the
	// weight's doing. (An older binary may reset the weight: set it each
	// time.)
	weighted := func(script string) time.Duration {
		b.Helper()
		grp, err := sandbox.SandboxCPUGroup()
		if err != nil {
			b.Fatal(err)
		}
		sweepBenchCgroups(grp)
		dir := filepath.Join(grp, fmt.Sprintf("bench-bare-%d", os.Getpid()))
		if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.Remove(dir) })
		return run(bareDir, bareEnv, "/bin/sh", "-c", `echo $$ > "$0/cgroup.procs" && exec /bin/sh -c "$1"`, dir, script)
	}
	// Warm the daemon and the page cache (gcc, python's stdlib).
	run(bareDir, bareEnv, "/bin/sh", "-c", w.script)
	record := func(i int, args ...string) time.Duration {
		b.Helper()
		return run(dirs[i], nil, append(append([]string{bins[i].bin, "record"}, bins[i].flags...), append([]string{"--"}, args...)...)...)
	}
	for i := range bins {
		record(i, "/bin/sh", "-c", w.script)
	}
	var bare, bareW []time.Duration
	recTrue := make([][]time.Duration, len(bins))
	rec := make([][]time.Duration, len(bins))
	recCPU := make([][]time.Duration, len(bins))
	b.ResetTimer()
	for p := range pairs {
		for _, slot := range rotated(1+len(bins), p) {
			if slot == 0 {
				bare = append(bare, run(bareDir, bareEnv, "/bin/sh", "-c", w.script))
				bareW = append(bareW, weighted(w.script))
				continue
			}
			i := slot - 1
			recTrue[i] = append(recTrue[i], record(i, "true"))
			rec[i] = append(rec[i], record(i, "/bin/sh", "-c", w.script))
			recCPU[i] = append(recCPU[i], cpu)
		}
	}
	b.StopTimer()
	load, _ := os.ReadFile("/proc/loadavg")
	mb, mw := benchMedian(bare), benchMedian(bareW)
	for i, c := range bins {
		mt, mr := benchMedian(recTrue[i]), benchMedian(rec[i])
		ratio := float64(mr-mt) / float64(mb)
		if i == 0 {
			b.ReportMetric(ratio, "x-record-vs-bare")
			b.ReportMetric(mt.Seconds(), "s-record-true")
			b.ReportMetric(mr.Seconds(), "s-record")
			b.ReportMetric(mb.Seconds(), "s-bare")
		} else if c.flags != nil {
			b.ReportMetric(ratio, "x-record-allcpus-vs-bare")
		}
		if i == 0 {
			b.ReportMetric(float64(mr-mt)/float64(mw), "x-record-vs-bare-same-weight")
		}
		fmt.Printf("%s end to end, %s, median of %d: (record %.3f s - record true %.3f s) / bare %.3f s = %.2fx (goal <= %.2fx); "+
			"against bare at the sandboxes' CPU weight (%.3f s): %.2fx; behavediff's own CPU %.3f s\n",
			w.name, c.label, pairs, mr.Seconds(), mt.Seconds(), mb.Seconds(), ratio, goal, mw.Seconds(), float64(mr-mt)/float64(mw), benchMedian(recCPU[i]).Seconds())
	}
	fmt.Printf("load average during the run: %s\n", strings.TrimSpace(string(load)))
}

// buildWorkload is a make + gcc build of n generated C files (a header
// every file includes, libc headers, a few functions each) linked into one
// program, rebuilt from scratch every run (-B), two jobs (two cores). It
// is also recorded with --cpus = every host CPU (see e2eWorkload.allCPUs).
func buildWorkload(n int) e2eWorkload {
	files := map[string]string{
		"common.h": "#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n#include <stdint.h>\n#include <math.h>\n" +
			"struct item { char name[32]; uint64_t hash; double weight; };\n",
	}
	var objs, calls, decls strings.Builder
	for i := range n {
		files[fmt.Sprintf("src/m%02d.c", i)] = fmt.Sprintf(`#include "../common.h"
static uint64_t mix%[1]d(uint64_t h, const char *s) {
	for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h + %[1]d;
}
static int cmp%[1]d(const void *a, const void *b) {
	const struct item *x = a, *y = b;
	return x->hash < y->hash ? -1 : x->hash > y->hash;
}
double work%[1]d(int k) {
	struct item it[64];
	for (int j = 0; j < 64; j++) {
		snprintf(it[j].name, sizeof it[j].name, "m%[1]d-%%d-%%d", j, k);
		it[j].hash = mix%[1]d(14695981039346656037ULL, it[j].name);
		it[j].weight = sqrt((double)(j + k + %[1]d));
	}
	qsort(it, 64, sizeof it[0], cmp%[1]d);
	double s = 0;
	for (int j = 0; j < 64; j++) s += it[j].weight * (double)(it[j].hash & 0xff);
	return s;
}
`, i)
		fmt.Fprintf(&objs, " src/m%02d.o", i)
		fmt.Fprintf(&decls, "double work%d(int);\n", i)
		fmt.Fprintf(&calls, "\ts += work%d(argc);\n", i)
	}
	files["main.c"] = "#include \"common.h\"\n" + decls.String() +
		"int main(int argc, char **argv) {\n\t(void)argv;\n\tdouble s = 0;\n" + calls.String() + "\tprintf(\"%f\\n\", s);\n\treturn 0;\n}\n"
	files["Makefile"] = "CFLAGS = -O2 -pipe -Wall\nOBJS =" + objs.String() + " main.o\n" +
		"prog: $(OBJS)\n\t$(CC) -o $@ $(OBJS) -lm\n%.o: %.c common.h\n\t$(CC) $(CFLAGS) -c -o $@ $<\n"
	return e2eWorkload{
		name:    fmt.Sprintf("make + gcc build of %d C files", n+1),
		files:   files,
		script:  "make -s -B -j2 && ./prog >/dev/null",
		allCPUs: true,
	}
}

// BenchmarkRecordBuildEndToEnd: issue 14's real build, end to end.
// Goal <= 1.10x. BEHAVEDIFF_BENCH_FILES sets the number of generated C files
// (default 40), BEHAVEDIFF_BENCH_PAIRS and BEHAVEDIFF_BENCH_BEFORE as for
// BenchmarkRecordEndToEnd.
func BenchmarkRecordBuildEndToEnd(b *testing.B) {
	testenv.RequireRoot(b, "BenchmarkRecordBuildEndToEnd (containerd, eBPF)")
	testenv.RequireBinaries(b, "containerd", "runc", "gcc", "make")
	runE2EWorkload(b, buildWorkload(benchInt(b, "BEHAVEDIFF_BENCH_FILES", 40, 1)), 1.10)
}

// pipWorkload creates a venv and installs two local packages into it, one
// depending on the other, offline: --no-index (pip looks nowhere but the
// given directories) and --no-build-isolation (the venv's own setuptools
// builds them, nothing is downloaded). Every run starts without the venv.
func pipWorkload() e2eWorkload {
	files := map[string]string{}
	for _, p := range []struct{ name, deps string }{{"bdbench_core", ""}, {"bdbench_app", `"bdbench_core"`}} {
		// setup.py only, no pyproject.toml: the venv has no `wheel`, so pip
		// takes setuptools' own install path, offline.
		files[p.name+"/setup.py"] = fmt.Sprintf("from setuptools import setup\nsetup(name=%q, version='1.0', packages=[%q], install_requires=[%s])\n",
			p.name, p.name, p.deps)
		var mod strings.Builder
		for i := range 20 {
			fmt.Fprintf(&mod, "def f%d(x):\n    return [x * %d + i for i in range(10)]\n\n", i, i)
		}
		for i := range 8 {
			files[fmt.Sprintf("%s/%s/m%d.py", p.name, p.name, i)] = mod.String()
		}
		files[p.name+"/"+p.name+"/__init__.py"] = "from .m0 import f0\n"
	}
	return e2eWorkload{
		name:  "pip install of 2 local packages into a new venv",
		files: files,
		script: "rm -rf v && /usr/bin/python3 -m venv v && v/bin/pip install -q --no-index --no-build-isolation " +
			"--no-cache-dir --disable-pip-version-check ./bdbench_core ./bdbench_app && v/bin/python -c 'import bdbench_app'",
	}
}

// BenchmarkRecordPipEndToEnd: issue 14's pip install into a venv, end to
// end, offline. Goal <= 1.10x. BEHAVEDIFF_BENCH_PAIRS and
// BEHAVEDIFF_BENCH_BEFORE as for BenchmarkRecordEndToEnd.
func BenchmarkRecordPipEndToEnd(b *testing.B) {
	testenv.RequireRoot(b, "BenchmarkRecordPipEndToEnd (containerd, eBPF)")
	testenv.RequireBinaries(b, "containerd", "runc", "/usr/bin/python3")
	if err := exec.Command("/usr/bin/python3", "-c", "import ensurepip, venv").Run(); err != nil {
		b.Skip("python3 has no venv/ensurepip (Debian: python3-venv)")
	}
	runE2EWorkload(b, pipWorkload(), 1.10)
}
