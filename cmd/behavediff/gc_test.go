package main

import (
	"math"
	"runtime/debug"
	"testing"
)

func TestTuneGCRespectsEnvironment(t *testing.T) {
	prev := debug.SetGCPercent(100)
	prevLimit := debug.SetMemoryLimit(math.MaxInt64)
	t.Cleanup(func() { debug.SetGCPercent(prev); debug.SetMemoryLimit(prevLimit) })

	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tuneGC(env(map[string]string{"GOGC": "50"}))
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC set by the user: percent changed to %d", got)
	}
	tuneGC(env(map[string]string{"GOMEMLIMIT": "1GiB"}))
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("GOMEMLIMIT set by the user: limit changed to %d", got)
	}
	tuneGC(env(nil))
	if got, lim := debug.SetGCPercent(100), debug.SetMemoryLimit(-1); got != recordGCPercent || lim != recordMemLimit {
		t.Errorf("no environment: percent %d limit %d, want %d and %d", got, lim, recordGCPercent, recordMemLimit)
	}
}
