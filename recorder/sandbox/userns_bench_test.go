package sandbox

import (
	"context"
	"sort"
	"testing"
	"time"
)

// BenchmarkUserNamespace measures Create+Start+Wait+Close of `true` with the
// user namespace (idmapped workspace clone, host-mounted overlay) against
// the same sandbox without it, alternating in the same run, and reports the
// ratio and the difference of the medians. Goal: the namespace costs at most
// ~30 ms per run.
func BenchmarkUserNamespace(b *testing.B) {
	c := connect(b)
	ctx := context.Background()
	one := func(noUserNS bool) time.Duration {
		start := time.Now()
		sb, err := c.Create(ctx, Options{ID: newID(b), Args: []string{"true"}, Env: testEnv, Workspace: b.TempDir(), NoUserNamespace: noUserNS})
		if err != nil {
			b.Fatal(err)
		}
		if err := sb.Start(ctx); err != nil {
			b.Fatal(err)
		}
		if _, err := sb.Wait(ctx); err != nil {
			b.Fatal(err)
		}
		if err := sb.Close(ctx); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	one(false) // warm the daemon and the client's namespace
	var with, without []time.Duration
	for i := 0; i < b.N; i++ {
		without = append(without, one(true))
		with = append(with, one(false))
	}
	median := func(d []time.Duration) time.Duration {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[len(d)/2]
	}
	mw, mo := median(with), median(without)
	b.ReportMetric(float64(mw)/float64(mo), "userns/plain")
	b.ReportMetric(float64(mw-mo)/float64(time.Millisecond), "extra-ms")
}
