// Package store persists behaviour traces in one SQLite file and exposes
// them through a documented SQL contract (see docs/schema.md).
package store
