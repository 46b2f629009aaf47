package errwriter

import (
	"errors"
	"strings"
	"testing"
)

type failAfter struct {
	n   int
	buf strings.Builder
}

var errFull = errors.New("full")

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errFull
	}
	f.n--
	return f.buf.Write(p)
}

// The first error sticks and later writes are not attempted.
func TestFirstErrorSticks(t *testing.T) {
	f := &failAfter{n: 1}
	w := New(f)
	w.Printf("a%d", 1)
	w.Printf("b")
	w.Printf("c")
	if !errors.Is(w.Err(), errFull) || f.buf.String() != "a1" {
		t.Errorf("err %v, written %q", w.Err(), f.buf.String())
	}
}
