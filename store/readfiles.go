package store

import (
	"database/sql/driver"
	"fmt"
	"sort"
)

// File events are stored in two shapes (migration 013): the first event
// of each behaviour as a full _file row, and each exact repeat of it as a
// narrow _file_rep row that names the first by seq and carries its own
// process, result and time. Runs recorded before schema 13 keep repeats as
// full _file rows marked dup = 1. loadFiles reads either back into one
// list in recording order.

// Small integer columns are packed in SQL to fetch fewer values.
const (
	firstFilesQuery = `SELECT seq, (proc << 8) | op, path, path2, flags | (mode << 32), result, ts, pflags
		FROM _file WHERE run_id = ? ORDER BY seq`
	// A fraction of n_file, through the partial index of first events
	// (migration 011). INDEXED BY: without statistics the planner prefers
	// the primary key, which visits every row of the run.
	distinctFilesQuery = `SELECT seq, (proc << 8) | op, path, path2, flags | (mode << 32), result, ts, pflags
		FROM _file INDEXED BY _file_first WHERE run_id = ? AND dup IS NULL ORDER BY seq`
	repeatFilesQuery = `SELECT seq, of, proc, result, ts FROM _file_rep WHERE run_id = ? ORDER BY seq`
)

// loadFiles appends run id's file events to t.Files in seq order: all of
// them, or with l.distinct only the first of each behaviour. nf is the
// run's stored count (a capacity hint).
func (l *loader) loadFiles(t *Trace, id, nf int64) error {
	q := firstFilesQuery
	if l.distinct {
		q = distinctFilesQuery
	}
	var seqs []int64 // seq of each t.Files entry read from _file
	err := l.query(q, arg(id), func(v []driver.Value) error {
		po, fm := vInt(v[1]), vInt(v[4])
		e := FileEvent{Proc: int32(po >> 8), Op: FileOp(po & 0xff), PathState: PathState(vInt(v[7])), Flags: uint32(fm), Mode: uint32(fm >> 32), Result: vInt(v[5]), TS: vInt(v[6])}
		var err error
		if e.Path, err = l.str(v[2]); err != nil {
			return err
		}
		if e.Path2, err = l.str(v[3]); err != nil {
			return err
		}
		t.Files = append(t.Files, e)
		seqs = append(seqs, vInt(v[0]))
		return nil
	})
	if err != nil || l.distinct {
		return err
	}

	// Repeats: merged between the first events by seq. Both lists are in
	// seq order, so the merge is one pass; a repeat's first is found by
	// binary search over the first events' seqs.
	firsts := t.Files
	out := make([]FileEvent, 0, max(nf, int64(len(firsts))))
	next := 0 // firsts[next] is the next first event to place
	n := 0
	err = l.query(repeatFilesQuery, arg(id), func(v []driver.Value) error {
		seq, of := vInt(v[0]), vInt(v[1])
		for next < len(firsts) && seqs[next] < seq {
			out = append(out, firsts[next])
			next++
		}
		k := sort.Search(len(seqs), func(i int) bool { return seqs[i] >= of })
		if k == len(seqs) || seqs[k] != of || of >= seq {
			return fmt.Errorf("file event %d repeats event %d, which is not stored before it", seq, of)
		}
		e := firsts[k]
		e.Proc, e.Result, e.TS = int32(vInt(v[2])), vInt(v[3]), vInt(v[4])
		out = append(out, e)
		n++
		return nil
	})
	if err != nil {
		return err
	}
	if n == 0 {
		return nil // a run without repeats (or from before schema 13): firsts is the list
	}
	t.Files = append(out, firsts[next:]...)
	return nil
}
