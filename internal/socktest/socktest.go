package socktest

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
)

// Listener is a unix socket on the host counting what reaches it.
type Listener struct {
	Path  string
	Conns atomic.Int64 // stream connections accepted
	Bytes atomic.Int64 // bytes received, stream or datagram
}

// Listen makes a Listener at path, network "unix" (stream: every
// connection drained in a goroutine of its own, so a client that never
// closes holds up no other) or "unixgram". It closes at the test's end.
func Listen(t testing.TB, path, network string) *Listener {
	t.Helper()
	h := &Listener{Path: path}
	if network == "unixgram" {
		c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: network})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		go func() {
			buf := make([]byte, 64)
			for {
				n, _, err := c.ReadFrom(buf)
				if err != nil {
					return
				}
				h.Bytes.Add(int64(n))
			}
		}()
		return h
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			h.Conns.Add(1)
			go func() {
				n, _ := io.Copy(io.Discard, c)
				h.Bytes.Add(n)
				c.Close()
			}()
		}
	}()
	return h
}
