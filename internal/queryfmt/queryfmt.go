// Package queryfmt renders the result of a read-only query (store.Result)
// for people and programs: an aligned table, CSV or JSON. It holds no SQL
// and knows nothing of the trace database's tables.
package queryfmt

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/behavediff/behavediff/store"
)

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

// Table writes the result as aligned columns with a header; numbers
// are right-aligned, NULL is empty, control characters are escaped.
func Table(w io.Writer, r *store.Result) error {
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

// CSV writes a header row and one record per row; NULL is empty.
func CSV(w io.Writer, r *store.Result) error {
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

// JSON writes an array of objects, keys in column order (a repeated
// column name gets a _2, _3 ... suffix). NULL is null, integers are
// numbers, BLOBs are text when UTF-8 and base64 otherwise.
func JSON(w io.Writer, r *store.Result) error {
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
