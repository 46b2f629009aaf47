package store

import (
	"database/sql/driver"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// File events are stored in two shapes (migration 013): the first event
// of each behaviour as a full _file row, and its exact repeats in groups
// of _file_rep (repeats.go) that name the first by seq. Runs recorded
// before schema 13, and a repeat no group can hold, keep full _file rows
// marked dup = 1. loadFiles reads every shape back into one list in
// recording order.

// Small integer columns are packed in SQL to fetch fewer values.
const (
	firstFilesQuery = `SELECT seq, (proc << 8) | op, path, path2, flags | (mode << 32), result, ts, pflags
		FROM _file WHERE run_id = ? ORDER BY seq`
	// A fraction of n_file, through the partial index of first events
	// (migration 011). INDEXED BY: without statistics the planner prefers
	// the primary key, which visits every row of the run.
	distinctFilesQuery = `SELECT seq, (proc << 8) | op, path, path2, flags | (mode << 32), result, ts, pflags
		FROM _file INDEXED BY _file_first WHERE run_id = ? AND dup IS NULL ORDER BY seq`
	repeatFilesQuery = `SELECT seq, of, proc, result, evs FROM _file_rep WHERE run_id = ?`
)

// loadFiles appends run id's file events to t.Files in seq order: all of
// them, or with l.distinct only the first of each behaviour. nf is the
// run's stored count (a capacity hint).
func (l *loader) loadFiles(t *Trace, id, nf int64) error {
	q := firstFilesQuery
	if l.distinct {
		q = distinctFilesQuery
	}
	var seqs []int64 // seq of each t.Files entry
	if !l.distinct && nf > 0 {
		t.Files, seqs = make([]FileEvent, 0, nf), make([]int64, 0, nf)
	}
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

	// Repeats: expanded from their groups after the rows of _file, then
	// everything sorted by seq (groups interleave within a transaction).
	// A repeat's first event is found by binary search over the seqs of
	// the rows of _file, which come first and in order.
	nfull := len(t.Files)
	err = l.query(repeatFilesQuery, arg(id), func(v []driver.Value) error {
		seq, of := vInt(v[0]), vInt(v[1])
		k := sort.Search(nfull, func(i int) bool { return seqs[i] >= of })
		if k == nfull || seqs[k] != of || of >= seq {
			return fmt.Errorf("file events from %d repeat event %d, which is not stored before them", seq, of)
		}
		e := t.Files[k]
		e.Proc, e.Result = int32(vInt(v[2])), vInt(v[3])
		return eachRepeat(vStr(v[4]), func(el int64) {
			e.TS = el >> repSeqBits
			t.Files = append(t.Files, e)
			seqs = append(seqs, seq+el&repSeqMax)
		})
	})
	if err != nil {
		return fmt.Errorf("file event repeats: %w", err)
	}
	if len(t.Files) > nfull {
		sort.Sort(bySeq{t.Files, seqs})
	}
	return nil
}

// bySeq sorts file events by their seqs, a parallel slice: in place, as
// a 1M-event run's events are ~70 MB.
type bySeq struct {
	ev  []FileEvent
	seq []int64
}

func (s bySeq) Len() int           { return len(s.seq) }
func (s bySeq) Less(i, j int) bool { return s.seq[i] < s.seq[j] }
func (s bySeq) Swap(i, j int) {
	s.ev[i], s.ev[j] = s.ev[j], s.ev[i]
	s.seq[i], s.seq[j] = s.seq[j], s.seq[i]
}

// eachRepeat calls f with each element of a group's evs: a JSON array of
// non-negative integers, as the writer makes it. Anything else is a
// damaged database, an error.
func eachRepeat(evs string, f func(int64)) error {
	if len(evs) < 2 || evs[0] != '[' || evs[len(evs)-1] != ']' {
		return fmt.Errorf("malformed repeat group %.40q", evs)
	}
	body := evs[1 : len(evs)-1]
	for len(body) > 0 {
		var el string
		if j := strings.IndexByte(body, ','); j >= 0 {
			el, body = body[:j], body[j+1:]
			if body == "" {
				return fmt.Errorf("malformed repeat group %.40q", evs)
			}
		} else {
			el, body = body, ""
		}
		v, err := strconv.ParseInt(el, 10, 64)
		if err != nil || v < 0 {
			return fmt.Errorf("malformed repeat group element %.40q", el)
		}
		f(v)
	}
	return nil
}
