// Package errwriter keeps the first error of a run of formatted writes, so
// a renderer (text and markdown reports, show) writes line after line and
// checks once at the end.
package errwriter

import (
	"fmt"
	"io"
)

// Writer writes to w until the first error; later writes do nothing.
type Writer struct {
	w   io.Writer
	err error
}

// New returns a Writer on w.
func New(w io.Writer) *Writer { return &Writer{w: w} }

// Printf formats to the underlying writer unless an earlier write failed.
func (e *Writer) Printf(format string, args ...any) {
	if e.err != nil {
		return
	}
	_, e.err = fmt.Fprintf(e.w, format, args...)
}

// Err is the first write error, nil if every write succeeded.
func (e *Writer) Err() error { return e.err }
