package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
)

// QueryEach runs one read-only statement like Query but hands the rows to
// fn one at a time instead of collecting them, so a caller (export) reads
// a million-event run in bounded memory. It reads through the driver
// connection, as LoadTrace does: database/sql's Scan would double the cost
// per row. The row slice is reused between calls: fn must copy what it
// keeps. Values are int64, float64, string, []byte or nil. An error from fn
// stops the query and is returned as is.
func (db *DB) QueryEach(ctx context.Context, query string, args []any, fn func(cols []string, row []any) error) error {
	if err := checkReadOnly(query); err != nil {
		return err
	}
	conn, err := db.r.Conn(ctx)
	if err != nil {
		return queryErr(err)
	}
	defer conn.Close()
	var fnErr error
	err = conn.Raw(func(dc any) error {
		c, ok := dc.(driver.QueryerContext)
		if !ok {
			return errors.New("sqlite driver cannot query directly")
		}
		nv := make([]driver.NamedValue, len(args))
		for i, a := range args {
			nv[i] = driver.NamedValue{Ordinal: i + 1, Value: a}
		}
		rows, err := c.QueryContext(ctx, query, nv)
		if err != nil {
			return err
		}
		defer rows.Close()
		cols := rows.Columns()
		dv := make([]driver.Value, len(cols))
		row := make([]any, len(cols))
		for {
			if err := rows.Next(dv); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
			for i, v := range dv {
				switch x := v.(type) {
				case int:
					row[i] = int64(x)
				case bool:
					row[i] = int64(0)
					if x {
						row[i] = int64(1)
					}
				default:
					row[i] = v
				}
			}
			if fnErr = fn(cols, row); fnErr != nil {
				return fnErr
			}
		}
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return queryErr(err)
	}
	return nil
}
