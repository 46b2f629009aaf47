package bpf

import (
	"testing"
	"time"

	"github.com/behavediff/behavediff/internal/testenv"
)

// BenchmarkPrepare measures the sensor's load with the default ring buffer
// and a unix policy (as `record` loads it): both objects' CO-RE relocation
// and verification, the ring buffer, and the tracepoint attaches. The
// detach (Close) is not in ns/op but reported as close-ms/op: a recording
// waits for it before it returns (it overlaps the sandbox's teardown).
// Compare against another tree with `go test -bench Prepare -count N` on
// each.
func BenchmarkPrepare(b *testing.B) {
	testenv.RequireRoot(b, "loading the sensor")
	var closing time.Duration
	n := 0
	for b.Loop() {
		s, err := Prepare(Config{UnixAllow: []string{"/tmp"}})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		t0 := time.Now()
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		closing += time.Since(t0)
		n++
		b.StartTimer()
	}
	b.ReportMetric(float64(closing.Microseconds())/1000/float64(n), "close-ms/op")
}
