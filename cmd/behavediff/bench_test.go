package main

import (
	"fmt"
	"os"
	"testing"
	"time"
)

// BenchmarkCheckOverhead: what `check` adds on top of the replay's own
// recording (load the trace, normalise, compare, report), measured as
// check minus replay of the same spec, alternated in one run. Goal <= 0.5 s.
func BenchmarkCheckOverhead(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root (containerd, eBPF)")
	}
	dir := b.TempDir()
	os.WriteFile(dir+"/app.sh", []byte(scenarioFileB(b, "benign.sh")), 0o755)
	os.Mkdir(dir+"/.behavediff", 0o755)
	b.Chdir(dir)
	run := func(args ...string) time.Duration {
		start := time.Now()
		if code, out, stderr := runCLIB(args...); code != 0 {
			b.Fatalf("%v: exit %d\n%s\n%s", args, code, out, stderr)
		}
		return time.Since(start)
	}
	run("record", "--name", "app", "--", "/bin/sh", "app.sh")
	run("approve", "--yes", "app")
	n := max(b.N, 5)
	var replay, check time.Duration
	b.ResetTimer()
	for i := 0; i < n; i++ {
		replay += run("replay", "app")
		check += run("check", "app")
	}
	over := (check - replay) / time.Duration(n)
	b.ReportMetric(over.Seconds(), "s-check-overhead")
	fmt.Printf("check adds %.3f s over the replay's own recording (goal <= 0.5 s): replay %.3f s, check %.3f s (mean of %d)\n",
		over.Seconds(), (replay / time.Duration(n)).Seconds(), (check / time.Duration(n)).Seconds(), n)
}
