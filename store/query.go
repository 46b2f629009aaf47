package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"

	sqlite3 "modernc.org/sqlite/lib"
)

// Result is the outcome of Query: column names and rows of int64, float64,
// string, []byte or nil values.
type Result struct {
	Columns []string
	Rows    [][]any
}

// ErrReadOnly is wrapped by every error for a query that would write.
var ErrReadOnly = errors.New("query is read-only")

// readPragmas are the PRAGMAs Query allows (without "=" or arguments that set).
var readPragmas = map[string]bool{
	"table_info": true, "table_xinfo": true, "table_list": true, "index_list": true, "index_info": true,
	"index_xinfo": true, "foreign_key_list": true, "user_version": true, "application_id": true,
	"schema_version": true, "page_count": true, "page_size": true, "freelist_count": true,
	"compile_options": true, "database_list": true, "function_list": true, "collation_list": true,
	"pragma_list": true, "module_list": true, "encoding": true,
}

// checkReadOnly accepts exactly one SELECT / WITH / VALUES / EXPLAIN
// statement or a reading PRAGMA. The connection is query_only and mode=ro as
// well; this check only gives the clear error.
func checkReadOnly(q string) error {
	toks, err := sqlTokens(q)
	if err != nil {
		return err
	}
	if len(toks) == 0 {
		return errors.New("empty query: give one SQL statement, e.g. 'SELECT * FROM runs'")
	}
	// Exactly one statement: ';' only at the end.
	for i, t := range toks {
		if t == ";" {
			rest := toks[i+1:]
			for _, r := range rest {
				if r != ";" {
					return fmt.Errorf("%w: one statement at a time (found more after ';')", ErrReadOnly)
				}
			}
			toks = toks[:i]
			break
		}
	}
	if len(toks) == 0 {
		return errors.New("empty query: give one SQL statement, e.g. 'SELECT * FROM runs'")
	}
	kw := strings.ToUpper(toks[0])
	switch kw {
	case "SELECT", "WITH", "VALUES", "EXPLAIN":
		return nil
	case "PRAGMA":
		name := ""
		if len(toks) > 1 {
			name = strings.ToLower(toks[1])
		}
		if len(toks) > 3 && toks[2] == "." { // schema.pragma
			name = strings.ToLower(toks[3])
		}
		for _, t := range toks {
			if t == "=" {
				return fmt.Errorf("%w: PRAGMA assignments are not allowed", ErrReadOnly)
			}
		}
		if !readPragmas[name] {
			return fmt.Errorf("%w: PRAGMA %s is not allowed (reading pragmas such as table_info are)", ErrReadOnly, name)
		}
		return nil
	}
	return fmt.Errorf("%w: %s statements are not allowed (use SELECT)", ErrReadOnly, kw)
}

// sqlTokens splits q into coarse tokens: words, quoted strings/identifiers
// (as one token), and single punctuation characters; comments and space are
// dropped.
func sqlTokens(q string) ([]string, error) {
	var toks []string
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			i++
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			for i < len(q) && q[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			j := strings.Index(q[i+2:], "*/")
			if j < 0 {
				i = len(q)
			} else {
				i += j + 4
			}
		case c == '\'' || c == '"' || c == '`' || c == '[':
			end := c
			if c == '[' {
				end = ']'
			}
			j := i + 1
			for {
				k := strings.IndexByte(q[j:], end)
				if k < 0 {
					return nil, fmt.Errorf("unterminated %c in query", c)
				}
				j += k + 1
				if end != ']' && j < len(q) && q[j] == end { // doubled quote
					j++
					continue
				}
				break
			}
			toks = append(toks, q[i:j])
			i = j
		case c == '_' || c >= 0x80 || unicode.IsLetter(rune(c)) || unicode.IsDigit(rune(c)) || c == '$' || c == '@' || c == ':':
			j := i + 1
			for j < len(q) && (q[j] == '_' || q[j] >= 0x80 || unicode.IsLetter(rune(q[j])) || unicode.IsDigit(rune(q[j])) || q[j] == '$') {
				j++
			}
			toks = append(toks, q[i:j])
			i = j
		default:
			toks = append(toks, q[i:i+1])
			i++
		}
	}
	return toks, nil
}

// Query runs one read-only SQL statement against the views (and tables)
// and returns all rows. Writes, DDL, ATTACH, setting PRAGMAs and multiple
// statements are refused with an error wrapping ErrReadOnly.
func (db *DB) Query(ctx context.Context, query string, args ...any) (*Result, error) {
	if err := checkReadOnly(query); err != nil {
		return nil, err
	}
	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, queryErr(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, queryErr(err)
	}
	res := &Result{Columns: cols, Rows: [][]any{}}
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, queryErr(err)
		}
		for i, v := range vals {
			switch x := v.(type) {
			case int:
				vals[i] = int64(x)
			case bool:
				if x {
					vals[i] = int64(1)
				} else {
					vals[i] = int64(0)
				}
			}
		}
		res.Rows = append(res.Rows, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, queryErr(err)
	}
	return res, nil
}

func queryErr(err error) error {
	switch sqliteCode(err) {
	case sqlite3.SQLITE_READONLY:
		return fmt.Errorf("%w: %v", ErrReadOnly, err)
	}
	return fmt.Errorf("query: %w", err)
}
