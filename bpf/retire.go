package bpf

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// The kernel counts syscalls per (tgid, nr) in a hash map of fixed size. A
// build runs tens of thousands of processes, so the counts of processes that
// exited are moved to user space as the run goes: only live processes (and
// the last retireEvery exits) bound the map.
//
// Safety: a dead process makes no more syscalls, but its counts may still sit
// in a per-CPU cache slot, which another CPU flushes into the map (lookup,
// then atomic add) when a new tgid takes the slot over. Deleting the entry
// in that window would lose the add, so a tgid still holding any cache slot
// is deferred to a later sweep. A slot cannot take a dead tgid back, and its
// flush completes before it names the new tgid, so an entry of a tgid seen
// in no slot is final.

// retireEvery is how many process exits trigger a sweep.
const retireEvery = 1024

type retireState struct {
	exited  map[uint32]bool                   // exited tgids not yet retired
	retired map[sensorCountKey]sensorCountVal // counts moved out of the map
	cursor  ebpf.MapBatchCursor
}

// noteEvent is called by Read for every event: it tracks exits and pid
// reuse and sweeps every retireEvery exits.
func (s *Sensor) noteEvent(ev *Event) error {
	r := &s.ret
	switch ev.Kind {
	case KindExit:
		if r.exited == nil {
			r.exited = map[uint32]bool{}
		}
		r.exited[ev.Pid] = true
		if len(r.exited) >= retireEvery {
			return s.retire()
		}
	case KindFork:
		// A tgid reused before its sweep: its entries now belong to a live
		// process too; leave them in the map (counted at the end).
		delete(r.exited, ev.Child)
	}
	return nil
}

// retire moves the map entries of exited processes to r.retired.
func (s *Sensor) retire() error {
	r := &s.ret
	var perCPU [][nrTable]sensorCountSlot
	if err := s.objs.Pcounts.Lookup(uint32(0), &perCPU); err != nil {
		return fmt.Errorf("bpf: read cached syscall counts: %w", err)
	}
	cached := map[uint32]bool{}
	for _, slots := range perCPU {
		for _, sl := range slots {
			if sl.Count > 0 {
				cached[sl.Pid] = true
			}
		}
	}
	dead := map[uint32]bool{}
	for pid := range r.exited {
		if !cached[pid] { // else: next sweep
			dead[pid] = true
			delete(r.exited, pid)
		}
	}
	if len(dead) == 0 {
		return nil
	}

	const chunk = 4096
	keys := make([]sensorCountKey, chunk)
	vals := make([]sensorCountVal, chunk)
	var del []sensorCountKey
	r.cursor = ebpf.MapBatchCursor{}
	for {
		n, err := s.objs.Counts.BatchLookup(&r.cursor, keys, vals, nil)
		for i := 0; i < n; i++ {
			if dead[keys[i].Pid] {
				del = append(del, keys[i])
				v := r.retired[keys[i]]
				v.Count += vals[i].Count
				v.Errors += vals[i].Errors
				if r.retired == nil {
					r.retired = map[sensorCountKey]sensorCountVal{}
				}
				r.retired[keys[i]] = v
			}
		}
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			break
		}
		if err != nil {
			return fmt.Errorf("bpf: read syscall counts: %w", err)
		}
	}
	for len(del) > 0 {
		k := min(len(del), chunk)
		if _, err := s.objs.Counts.BatchDelete(del[:k], nil); err != nil {
			return fmt.Errorf("bpf: retire syscall counts: %w", err)
		}
		del = del[k:]
	}
	return nil
}
