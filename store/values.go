package store

import (
	"bytes"
	"database/sql/driver"
	"encoding/json"
	"strings"
)

// Conversions between the model's Go values and the values stored: what
// the writer binds (NULL for "none") and what the loader reads back.

func nullID(id int64) driver.Value {
	if id == 0 {
		return nil
	}
	return id
}

func nullBytes(b []byte) driver.Value {
	if len(b) == 0 {
		return nil
	}
	return b
}

func nullStr(s string) driver.Value {
	if s == "" {
		return nil
	}
	return s
}

func nullInt(v, none int64) driver.Value {
	if v == none {
		return nil
	}
	return v
}

// nullCPUs stores an unrecorded CPU limit as NULL.
func nullCPUs(c float64) driver.Value {
	if c == 0 {
		return nil
	}
	return c
}

// jsonStrings encodes a string list as a JSON array without HTML escaping
// (so "a && b" stays readable in SQL output).
func jsonStrings(ss []string) string {
	if ss == nil {
		ss = []string{} // [] rather than null
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(ss); err != nil {
		return "[]" // strings always encode; never reached
	}
	return strings.TrimRight(buf.String(), "\n")
}

func vInt(v driver.Value) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case float64:
		return int64(x)
	case bool:
		if x {
			return 1
		}
	}
	return 0
}

func vStr(v driver.Value) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	}
	return ""
}

func vBytes(v driver.Value) []byte {
	switch x := v.(type) {
	case []byte:
		if len(x) == 0 {
			return nil
		}
		return append([]byte(nil), x...)
	case string:
		if x == "" {
			return nil
		}
		return []byte(x)
	}
	return nil
}
