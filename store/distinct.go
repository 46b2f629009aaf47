package store

import "math"

// fileKey is what makes a file event a distinct behaviour for a baseline:
// everything but the timestamp, the success value and (except for exec,
// which decides process identities) the process.
type fileKey struct {
	path, path2 int64
	flags, mode uint32
	errno       int32 // 0 on success
	proc        int32 // exec only
	op          FileOp
	// a raced or late event is another behaviour than the same path read
	// cleanly: deduplicated away, its flag would never reach the baseline
	state PathState
}

// maxDistinct bounds the writer's memory for distinct file behaviours
// (~80 bytes each); past it every event counts as first.
const maxDistinct = 1 << 19

// distinctSet finds the first file event of each behaviour in a run: it
// gets a full _file row, every repeat a narrow _file_rep row naming it
// (migration 013), and LoadDistinct reads _file alone.
type distinctSet struct {
	seen    map[fileKey]int64 // the behaviour's first seq
	newKeys []fileKey         // added in the current transaction
	limit   int               // maxDistinct; tests lower it
}

func newDistinctSet() distinctSet {
	return distinctSet{seen: make(map[fileKey]int64), limit: maxDistinct}
}

// first reports whether e (at seq, with its path ids) is the first event
// of its behaviour in the run, and if not, the first's seq. Past
// maxDistinct behaviours every new behaviour's events all count as first:
// a superset only costs speed and space.
func (d *distinctSet) first(e *FileEvent, seq, path, path2 int64) (of int64, first bool) {
	k := fileKey{path: path, path2: path2, flags: e.Flags, mode: e.Mode, op: e.Op, state: e.PathState}
	if e.Result < 0 {
		k.errno = int32(max(e.Result, math.MinInt32))
	}
	if e.Op == FileExec {
		k.proc = e.Proc
	}
	if of, ok := d.seen[k]; ok {
		return of, false
	}
	if len(d.seen) >= d.limit {
		return 0, true
	}
	d.seen[k] = seq
	d.newKeys = append(d.newKeys, k)
	return 0, true
}

// begin and rollback: a behaviour first seen in a transaction that failed
// was not stored, so it is not seen.
func (d *distinctSet) begin() { d.newKeys = d.newKeys[:0] }

func (d *distinctSet) rollback() {
	for _, k := range d.newKeys {
		delete(d.seen, k)
	}
	d.newKeys = d.newKeys[:0]
}
