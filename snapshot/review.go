package snapshot

import (
	"fmt"
	"sort"
	"strings"

	"github.com/behavediff/behavediff/baseline"
	"github.com/behavediff/behavediff/diff"
)

// Change is one reviewable difference between a baseline and its pending
// version: a finding and the baseline entries behind it (a file created in
// the workspace is one finding but two entries, files.create and
// changes.created; a new program is one finding for its exec and its
// processes). Informational differences are grouped into one Change.
type Change struct {
	Finding diff.Finding
	Argv    []string // for a process or an exec finding: the command lines
	Entries int      // baseline entries it adds or removes
	items   []item
}

// item is one entry-level difference.
type item struct {
	section string // "processes", "exit" or an entry section
	added   bool
	entry   baseline.Entry
	proc    baseline.Process
	exit    *int
}

func (it item) key() string {
	switch it.section {
	case "processes":
		return "processes\x00" + it.proc.Key()
	case "exit":
		return "exit"
	}
	return it.section + "\x00" + it.entry.Key()
}

// Decision is what a reviewer does with a Change.
type Decision int

const (
	Skip   Decision = iota // keep it pending
	Accept                 // write it into the baseline
	Reject                 // drop it
)

// Changes lists the reviewable differences from old (nil: no baseline yet)
// to pending, worst first, one per finding; differences below low are
// grouped into one informational Change at the end. findings are
// diff.Compare(old, pending, ...) as computed by the caller (with the run
// behind pending, when known, for process chains and queries).
func Changes(old, pending *baseline.Baseline, findings []diff.Finding) []Change {
	if old == nil {
		old = &baseline.Baseline{}
	}
	items := entryDiff(old, pending)
	used := make([]bool, len(items))
	var out []Change
	var info Change
	info.Finding = diff.Finding{Level: diff.None, Kind: "other", Change: diff.Added, Section: "various"}
	for _, f := range findings {
		c := Change{Finding: f}
		for i, it := range items {
			if !used[i] && matches(f, it) {
				used[i] = true
				c.items = append(c.items, it)
			}
		}
		// A new program's processes are reported as its exec.
		if f.Section == "files.exec" && f.Change == diff.Added {
			for i, it := range items {
				if !used[i] && it.section == "processes" && it.added && it.proc.Exe == f.Subject {
					used[i] = true
					c.items = append(c.items, it)
					c.Argv = append(c.Argv, strings.Join(it.proc.Argv, " "))
				}
			}
		}
		if f.Section == "processes" {
			for _, it := range c.items {
				c.Argv = append(c.Argv, strings.Join(it.proc.Argv, " "))
			}
		}
		if len(c.items) == 0 {
			continue
		}
		if f.Level < diff.Low {
			info.items = append(info.items, c.items...)
			continue
		}
		c.Entries = len(c.items)
		out = append(out, c)
	}
	for i, it := range items {
		if !used[i] {
			info.items = append(info.items, it)
		}
	}
	if n := len(info.items); n > 0 {
		info.Entries = n
		secs := map[string]bool{}
		var names []string
		for _, it := range info.items {
			if !secs[it.section] {
				secs[it.section] = true
				names = append(names, it.section)
			}
		}
		sort.Strings(names)
		info.Finding.Subject = fmt.Sprintf("%d informational entries (%s)", n, strings.Join(names, ", "))
		info.Finding.Reason = "below low: syscalls, reads of system files, allowed or optional entries"
		out = append(out, info)
	}
	return out
}

// matches links a finding to an entry-level difference: same section and
// subject, or (diff reports one finding per subject) the same subject in
// another section.
func matches(f diff.Finding, it item) bool {
	if (f.Change == diff.Added) != it.added {
		return false
	}
	switch it.section {
	case "exit":
		return f.Section == "exit"
	case "processes":
		return f.Section == "processes" && f.Subject == diff.ProcessSubject(it.proc)
	}
	return f.Subject == it.entry.String() && (f.Section == it.section || f.Section != "processes" && f.Section != "exit")
}

// entryDiff lists every entry, process and exit code that differs.
func entryDiff(old, cur *baseline.Baseline) []item {
	var out []item
	if cur.Exit != nil && (old.Exit == nil || *old.Exit != *cur.Exit) {
		out = append(out, item{section: "exit", added: true, exit: cur.Exit})
	}
	pk := func(ps []baseline.Process) map[string]bool {
		m := map[string]bool{}
		for _, p := range ps {
			m[p.Key()] = true
		}
		return m
	}
	op, cp := pk(old.Processes), pk(cur.Processes)
	for _, p := range cur.Processes {
		if !op[p.Key()] {
			out = append(out, item{section: "processes", added: true, proc: p})
		}
	}
	for _, p := range old.Processes {
		if !cp[p.Key()] {
			out = append(out, item{section: "processes", proc: p})
		}
	}
	oldSecs, curSecs := old.Sections(), cur.Sections()
	for i, s := range curSecs {
		ok, ck := map[string]bool{}, map[string]bool{}
		for _, e := range *oldSecs[i].Entries {
			ok[e.Key()] = true
		}
		for _, e := range *s.Entries {
			ck[e.Key()] = true
			if !ok[e.Key()] {
				out = append(out, item{section: s.Name, added: true, entry: e})
			}
		}
		for _, e := range *oldSecs[i].Entries {
			if !ck[e.Key()] {
				out = append(out, item{section: s.Name, entry: e})
			}
		}
	}
	return out
}

// Apply returns old with the changes whose decision is Accept applied
// (decisions[i] is for changes[i]). When every change is accepted the
// result is pending itself: its annotations and run count come along.
func Apply(old, pending *baseline.Baseline, changes []Change, decisions []Decision) (*baseline.Baseline, error) {
	if allAccepted(decisions) {
		return clone(pending)
	}
	base := old
	if base == nil {
		base = &baseline.Baseline{Version: baseline.FormatVersion, Name: pending.Name, Command: pending.Command, Counts: pending.Counts}
		base.KeepUserSections(pending)
	}
	out, err := clone(base)
	if err != nil {
		return nil, err
	}
	add, del := map[string]item{}, map[string]bool{}
	for i, c := range changes {
		if decisions[i] != Accept {
			continue
		}
		for _, it := range c.items {
			if it.added {
				add[it.key()] = it
			} else {
				del[it.key()] = true
			}
		}
	}
	if it, ok := add["exit"]; ok {
		v := *it.exit
		out.Exit = &v
	}
	var procs []baseline.Process
	for _, p := range out.Processes {
		if !del["processes\x00"+p.Key()] {
			procs = append(procs, p)
		}
	}
	for _, it := range add {
		if it.section == "processes" {
			procs = append(procs, it.proc)
		}
	}
	sort.SliceStable(procs, func(i, j int) bool { return procs[i].Key() < procs[j].Key() })
	out.Processes = procs
	for _, s := range out.Sections() {
		var es []baseline.Entry
		for _, e := range *s.Entries {
			if !del[s.Name+"\x00"+e.Key()] {
				es = append(es, e)
			}
		}
		for _, it := range add {
			if it.section == s.Name {
				es = append(es, it.entry)
			}
		}
		sort.SliceStable(es, func(i, j int) bool { return es[i].Less(es[j]) })
		*s.Entries = es
	}
	return clone(out)
}

func allAccepted(ds []Decision) bool {
	for _, d := range ds {
		if d != Accept {
			return false
		}
	}
	return true
}

// clone copies a baseline through its file form, which is also what it will
// be written as (and so normalises order the way the file does).
func clone(b *baseline.Baseline) (*baseline.Baseline, error) {
	data, err := b.Marshal()
	if err != nil {
		return nil, err
	}
	c, err := baseline.Parse(data, b.Name+".yaml")
	if err != nil {
		return nil, fmt.Errorf("copy baseline %s: %w", b.Name, err)
	}
	return c, nil
}
