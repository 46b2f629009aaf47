package recorder

import (
	"bytes"
	"io"
	"sync"
)

// DefaultOutputCap bounds the stdout and stderr stored with a run.
const DefaultOutputCap = 1 << 20

// capture streams a sandbox's output live to the user while keeping the
// first cap bytes for the store. It never fails the write to the sandbox
// because of the live side: a closed terminal must not change the program's
// behaviour.
type capture struct {
	mu    sync.Mutex
	live  io.Writer
	buf   bytes.Buffer
	cap   int
	trunc bool
}

func newCapture(live io.Writer, limit int) *capture {
	if live == nil {
		live = io.Discard
	}
	return &capture{live: live, cap: limit}
}

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, _ = c.live.Write(p)
	room := c.cap - c.buf.Len()
	switch {
	case room >= len(p):
		c.buf.Write(p)
	case room > 0:
		c.buf.Write(p[:room])
		c.trunc = true
	default:
		if len(p) > 0 {
			c.trunc = true
		}
	}
	return len(p), nil
}

func (c *capture) result() ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.buf.Bytes()), c.trunc
}
