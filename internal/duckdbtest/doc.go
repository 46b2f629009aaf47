// Package duckdbtest checks behavediff's Parquet export with an independent
// engine, DuckDB. It is a module of its own because DuckDB's Go bindings
// need cgo; behavediff itself stays cgo-free. Run: cd internal/duckdbtest &&
// go test ./...
package duckdbtest
