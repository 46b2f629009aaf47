// Package export writes the trace database's documented views as files a
// warehouse or query engine reads directly — Parquet or JSON Lines, one
// file per view and run, laid out in Hive partitions by date and run
// (docs/export.md) — streaming rows, so a run of millions of events exports
// in bounded memory.
package export
