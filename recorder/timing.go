package recorder

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// timings records when each phase of one recording began and ended, for
// Options.Timings: start-up latency is what a user waits for on every run,
// and phases overlap (the sensor loads while containerd creates the
// sandbox), so a span list says more than a profile. A nil *timings records
// nothing.
type timings struct {
	mu    sync.Mutex
	t0    time.Time
	spans []span
}

type span struct {
	name       string
	start, end time.Duration
}

func newTimings(w io.Writer) *timings {
	if w == nil {
		return nil
	}
	return &timings{t0: time.Now()}
}

// begin starts the span name; the returned func ends it.
func (t *timings) begin(name string) func() {
	if t == nil {
		return func() {}
	}
	start := time.Since(t.t0)
	return func() {
		end := time.Since(t.t0)
		t.mu.Lock()
		t.spans = append(t.spans, span{name, start, end})
		t.mu.Unlock()
	}
}

// print writes one line per span, in the order they ended: start offset,
// duration and name.
func (t *timings) print(w io.Writer) {
	if t == nil || w == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, s := range t.spans {
		fmt.Fprintf(w, "behavediff: timing: %8.1f ms +%7.1f ms  %s\n", ms(s.start), ms(s.end-s.start), s.name)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
