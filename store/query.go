package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

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

// cellText renders one value for table and CSV output.
func cellText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case string:
		return x
	case []byte:
		if utf8.Valid(x) {
			return string(x)
		}
		return base64.StdEncoding.EncodeToString(x)
	default:
		return fmt.Sprint(x)
	}
}

// WriteTable writes the result as aligned columns with a header; numbers
// are right-aligned, NULL is empty, control characters are escaped.
func (r *Result) WriteTable(w io.Writer) error {
	outw := bufio.NewWriter(w)
	n := len(r.Columns)
	width := make([]int, n)
	numeric := make([]bool, n)
	for i, c := range r.Columns {
		width[i] = utf8.RuneCountInString(c)
		numeric[i] = len(r.Rows) > 0
	}
	cells := make([][]string, len(r.Rows))
	for ri, row := range r.Rows {
		cells[ri] = make([]string, n)
		for i := 0; i < n && i < len(row); i++ {
			s := escapeCell(cellText(row[i]))
			cells[ri][i] = s
			if l := utf8.RuneCountInString(s); l > width[i] {
				width[i] = l
			}
			switch row[i].(type) {
			case int64, float64, nil:
			default:
				numeric[i] = false
			}
		}
	}
	var lb strings.Builder
	line := func(vals []string) {
		lb.Reset()
		bw := &lb
		for i, s := range vals {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(s))
			if i > 0 {
				bw.WriteString("  ")
			}
			if numeric[i] {
				bw.WriteString(pad + s)
			} else if i == n-1 {
				bw.WriteString(s)
			} else {
				bw.WriteString(s + pad)
			}
		}
		outw.WriteString(strings.TrimRight(lb.String(), " "))
		outw.WriteByte('\n')
	}
	line(r.Columns)
	sep := make([]string, n)
	for i := range sep {
		sep[i] = strings.Repeat("-", width[i])
	}
	line(sep)
	for _, c := range cells {
		line(c)
	}
	if len(r.Rows) == 0 {
		outw.WriteString("(no rows)\n")
	}
	return outw.Flush()
}

func escapeCell(s string) string {
	if !strings.ContainsAny(s, "\n\r\t") {
		return s
	}
	return strings.NewReplacer("\n", `\n`, "\r", `\r`, "\t", `\t`).Replace(s)
}

// WriteCSV writes a header row and one record per row; NULL is empty.
func (r *Result) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(r.Columns); err != nil {
		return err
	}
	rec := make([]string, len(r.Columns))
	for _, row := range r.Rows {
		for i := range rec {
			rec[i] = ""
			if i < len(row) {
				rec[i] = cellText(row[i])
			}
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteJSON writes an array of objects, keys in column order (a repeated
// column name gets a _2, _3 ... suffix). NULL is null, integers are
// numbers, BLOBs are text when UTF-8 and base64 otherwise.
func (r *Result) WriteJSON(w io.Writer) error {
	keys := make([][]byte, len(r.Columns))
	seen := map[string]int{}
	for i, c := range r.Columns {
		k := c
		if seen[c]++; seen[c] > 1 {
			k = fmt.Sprintf("%s_%d", c, seen[c])
		}
		keys[i] = jsonString(k)
	}
	bw := bufio.NewWriter(w)
	bw.WriteString("[")
	for ri, row := range r.Rows {
		if ri > 0 {
			bw.WriteString(",")
		}
		bw.WriteString("\n  {")
		for i := range r.Columns {
			if i > 0 {
				bw.WriteString(", ")
			}
			bw.Write(keys[i])
			bw.WriteString(": ")
			var v any
			if i < len(row) {
				v = row[i]
			}
			bw.Write(jsonValue(v))
		}
		bw.WriteString("}")
	}
	if len(r.Rows) > 0 {
		bw.WriteString("\n")
	}
	bw.WriteString("]\n")
	return bw.Flush()
}

func jsonValue(v any) []byte {
	switch x := v.(type) {
	case nil:
		return []byte("null")
	case int64:
		return strconv.AppendInt(nil, x, 10)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return []byte("null")
		}
		return strconv.AppendFloat(nil, x, 'g', -1, 64)
	case []byte:
		return jsonString(cellText(x))
	case string:
		return jsonString(x)
	default:
		return jsonString(fmt.Sprint(x))
	}
}

func jsonString(s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return bytes.TrimRight(buf.Bytes(), "\n")
}
