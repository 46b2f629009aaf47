package store

import (
	"context"
	"database/sql/driver"
	"fmt"
)

// interner gives each distinct string of a run an id (table _str): paths,
// addresses, syscall names and environments repeat a million times in a
// run and are stored once. Ids are per run (see
// migrations/002_run_strings.sql), so no other writer can take one, and the
// writer hands them out without asking the database.
type interner struct {
	ids     map[string]int64
	last    int64    // the last id given out
	pending []string // given an id in the current transaction, not yet written
}

func newInterner() interner { return interner{ids: make(map[string]int64)} }

// want returns the id of s (0 for ""), giving it the run's next id if it
// has none yet; the string is written by the writer's internPending in the
// same transaction.
func (in *interner) want(s string) int64 {
	if s == "" {
		return 0
	}
	id, ok := in.ids[s]
	if !ok {
		in.last++
		id = in.last
		in.ids[s] = id
		in.pending = append(in.pending, s)
	}
	return id
}

// id is the id of a string given one by want.
func (in *interner) id(s string) int64 { return in.ids[s] }

// sid is the id of s, or NULL for "".
func (in *interner) sid(s string) driver.Value {
	if s == "" {
		return nil
	}
	return in.ids[s]
}

// sid0 is the id of s, or 0 for "" (for NOT NULL columns).
func (in *interner) sid0(s string) driver.Value {
	if s == "" {
		return int64(0)
	}
	return in.ids[s]
}

// begin starts a transaction's pending list; rollback forgets the strings
// a failed transaction did not write (their ids are not reused: a gap is
// harmless, a string without its row is not).
func (in *interner) begin() { in.pending = in.pending[:0] }

func (in *interner) rollback() {
	for _, s := range in.pending {
		delete(in.ids, s)
	}
	in.pending = in.pending[:0]
}

var strRow = plainRow("_str", "id", "s")

// internPending writes the strings noted by want.
func (w *RunWriter) internPending(ctx context.Context) error {
	p := w.strs.pending
	if err := w.rc.insertRows(ctx, &strRow, w.id, len(p), func(i int, a []driver.NamedValue) {
		a[0].Value, a[1].Value = w.strs.ids[p[i]], p[i]
	}); err != nil {
		return fmt.Errorf("intern strings: %w", err)
	}
	return nil
}
