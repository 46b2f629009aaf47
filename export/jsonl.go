package export

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
)

// jsonlWriter writes one JSON object per row, keys in column order.
type jsonlWriter struct {
	bw   *bufio.Writer
	v    View
	keys [][]byte // `"name":` per column
	buf  []byte
}

func newJSONLWriter(w io.Writer, v View) *jsonlWriter {
	j := &jsonlWriter{bw: bufio.NewWriterSize(w, 64<<10), v: v}
	for i, c := range v.Columns {
		k, _ := json.Marshal(c.Name)
		if i > 0 {
			k = append([]byte{','}, k...)
		}
		j.keys = append(j.keys, append(k, ':'))
	}
	return j
}

func (j *jsonlWriter) write(row []any, escaped *int64) error {
	j.buf = append(j.buf[:0], '{')
	for i, c := range j.v.Columns {
		j.buf = append(j.buf, j.keys[i]...)
		if row[i] == nil {
			j.buf = append(j.buf, "null"...)
			continue
		}
		v, err := convert(c.Type, row[i], escaped)
		if err != nil {
			return fmt.Errorf("column %s: %w", c.Name, err)
		}
		b, err := json.Marshal(v) // []byte → base64
		if err != nil {
			return err
		}
		j.buf = append(j.buf, b...)
	}
	j.buf = append(j.buf, '}', '\n')
	_, err := j.bw.Write(j.buf)
	return err
}

func (j *jsonlWriter) close() error { return j.bw.Flush() }
