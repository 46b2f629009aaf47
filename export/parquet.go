package export

import (
	"fmt"
	"io"
	"strconv"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/zstd"
)

// rowGroupRows bounds a row group, and with it the writer's memory: the
// writer buffers one row group's pages before writing it out.
const rowGroupRows = 64 << 10

// batchRows rows are handed to the parquet writer at once.
const batchRows = 1024

// orderedGroup keeps the view's column order in the Parquet schema
// (parquet.Group alone sorts its fields by name).
type orderedGroup struct {
	parquet.Group
	order []string
}

func (g orderedGroup) Fields() []parquet.Field {
	fields := g.Group.Fields()
	idx := map[string]int{}
	for i, n := range g.order {
		idx[n] = i
	}
	out := make([]parquet.Field, len(fields))
	for _, f := range fields {
		out[idx[f.Name()]] = f
	}
	return out
}

// Schema is the Parquet schema of a view.
func Schema(v View) *parquet.Schema {
	g := parquet.Group{}
	var order []string
	for _, c := range v.Columns {
		var n parquet.Node
		switch c.Type {
		case Integer:
			n = parquet.Int(64)
		case Text:
			n = parquet.String()
		case Blob:
			n = parquet.Leaf(parquet.ByteArrayType)
		case Real:
			n = parquet.Leaf(parquet.DoubleType)
		}
		g[c.Name] = parquet.Optional(n)
		order = append(order, c.Name)
	}
	return parquet.NewSchema(v.Name, orderedGroup{Group: g, order: order})
}

type parquetWriter struct {
	w     *parquet.Writer
	v     View
	batch []parquet.Row
	n     int
}

func newParquetWriter(out io.Writer, v View) (*parquetWriter, error) {
	w := parquet.NewWriter(out, Schema(v),
		parquet.MaxRowsPerRowGroup(rowGroupRows),
		parquet.Compression(&zstd.Codec{}),
		parquet.KeyValueMetadata("behavediff.export.version", strconv.Itoa(Version)),
		parquet.KeyValueMetadata("behavediff.view", v.Name),
	)
	p := &parquetWriter{w: w, v: v, batch: make([]parquet.Row, batchRows)}
	for i := range p.batch {
		p.batch[i] = make(parquet.Row, len(v.Columns))
	}
	return p, nil
}

func (p *parquetWriter) write(row []any, escaped *int64) error {
	r := p.batch[p.n][:0]
	for i, c := range p.v.Columns {
		if row[i] == nil {
			r = append(r, parquet.NullValue().Level(0, 0, i))
			continue
		}
		v, err := convert(c.Type, row[i], escaped)
		if err != nil {
			return fmt.Errorf("column %s: %w", c.Name, err)
		}
		var pv parquet.Value
		switch x := v.(type) {
		case int64:
			pv = parquet.Int64Value(x)
		case float64:
			pv = parquet.DoubleValue(x)
		case string:
			pv = parquet.ByteArrayValue([]byte(x))
		case []byte:
			pv = parquet.ByteArrayValue(append([]byte(nil), x...))
		}
		r = append(r, pv.Level(0, 1, i))
	}
	p.batch[p.n] = r
	p.n++
	if p.n == len(p.batch) {
		return p.flush()
	}
	return nil
}

func (p *parquetWriter) flush() error {
	if p.n == 0 {
		return nil
	}
	_, err := p.w.WriteRows(p.batch[:p.n])
	p.n = 0
	return err
}

func (p *parquetWriter) close() error {
	if err := p.flush(); err != nil {
		return err
	}
	return p.w.Close()
}
