package store

import "strconv"

// Exact repeats of a behaviour (migration 013): the writer stores the
// repeats of one transaction in groups, one _file_rep row per (first
// event, process, result), each event an integer of the row's JSON array
// evs: (ts << repSeqBits) | (its seq - the row's seq).
const (
	repSeqBits = 12
	repSeqMax  = 1<<repSeqBits - 1
	// repTSMax bounds ts so that the element stays a positive int64.
	repTSMax = 1<<(63-repSeqBits) - 1
)

// repKey is what the events of one group share beyond their behaviour.
type repKey struct {
	of     int64 // the first event's seq
	result int64
	proc   int32
}

type repGroup struct {
	repKey
	seq int64  // the group's first event's seq: the row's key
	evs []byte // the JSON array, without its closing bracket
}

// repGroups collects a batch's repeats. Reused batch after batch.
type repGroups struct {
	open   map[repKey]int // the group of a key that can still take events
	groups []repGroup
	n      int // groups in use
}

func (g *repGroups) reset() {
	clear(g.open)
	g.n = 0
}

// add puts the repeat at seq, with time ts, into its group; false when it
// cannot be one (ts out of range), and the caller stores it as a full row.
func (g *repGroups) add(k repKey, seq, ts int64) bool {
	if ts < 0 || ts > repTSMax {
		return false
	}
	if g.open == nil {
		g.open = make(map[repKey]int)
	}
	i, ok := g.open[k]
	if ok && seq-g.groups[i].seq > repSeqMax {
		ok = false // the group spans its most: start another
	}
	if !ok {
		if g.n == len(g.groups) {
			g.groups = append(g.groups, repGroup{})
		}
		i = g.n
		g.n++
		g.groups[i].repKey, g.groups[i].seq = k, seq
		g.groups[i].evs = append(g.groups[i].evs[:0], '[')
		g.open[k] = i
	} else {
		g.groups[i].evs = append(g.groups[i].evs, ',')
	}
	gr := &g.groups[i]
	gr.evs = strconv.AppendInt(gr.evs, ts<<repSeqBits|(seq-gr.seq), 10)
	return true
}

// text returns group i's array, closed.
func (g *repGroups) text(i int) string {
	return string(append(g.groups[i].evs, ']'))
}
