package bpf

import (
	"testing"

	"github.com/behavediff/behavediff/internal/testenv"
)

// BenchmarkPrepare measures the sensor's load with the default ring buffer
// and a unix policy (as `record` loads it): both objects' CO-RE relocation
// and verification, the ring buffer, and the tracepoint attaches. The
// detach (Close) is not timed: it runs while the run is stored. Compare
// against another tree with `go test -bench Prepare -count N` on each.
func BenchmarkPrepare(b *testing.B) {
	testenv.RequireRoot(b, "loading the sensor")
	for b.Loop() {
		s, err := Prepare(Config{UnixAllow: []string{"/tmp"}})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
