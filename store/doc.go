// Package store persists behaviour traces in one SQLite file and exposes
// them through a documented SQL contract (see docs/schema.md).
//
// One file, one job: open.go opens and migrates the database; writer.go
// streams a run's events (batching, back-pressure, one transaction per
// batch) and finish.go ends the run; intern.go gives strings their per-run
// ids, distinct.go marks the first event of each file behaviour (what
// LoadDistinct reads); rawconn.go holds the driver-level helpers the writer
// and the loader (read.go) share, values.go the conversions of stored
// values; query.go and stream.go answer read-only SQL, whose rendering
// lives in internal/queryfmt.
package store
