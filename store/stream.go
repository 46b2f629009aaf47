package store

import (
	"context"
)

// QueryEach runs one read-only statement like Query but hands the rows to
// fn one at a time instead of collecting them, so a caller (export) reads
// a million-event run in bounded memory. The row slice is reused between
// calls: fn must copy what it keeps. Values are int64, float64, string,
// []byte or nil. An error from fn stops the query and is returned as is.
func (db *DB) QueryEach(ctx context.Context, query string, args []any, fn func(cols []string, row []any) error) error {
	if err := checkReadOnly(query); err != nil {
		return err
	}
	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return queryErr(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return queryErr(err)
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		for i := range vals {
			vals[i] = nil
		}
		if err := rows.Scan(ptrs...); err != nil {
			return queryErr(err)
		}
		for i, v := range vals {
			switch x := v.(type) {
			case int:
				vals[i] = int64(x)
			case bool:
				vals[i] = int64(0)
				if x {
					vals[i] = int64(1)
				}
			}
		}
		if err := fn(cols, vals); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return queryErr(err)
	}
	return nil
}
