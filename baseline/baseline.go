package baseline

import (
	"fmt"
	"sort"
	"strings"
)

// FormatVersion is the baseline file format this package writes and the
// newest it reads.
const FormatVersion = 1

// Baseline is the normalised behaviour of one spec: sets of entries per
// section, sorted, without anything machine- or run-specific.
type Baseline struct {
	Version int      // file format version (FormatVersion)
	Name    string   // spec name; from the file name, not stored in the file
	Command []string // the spec's command, normalised
	Runs    int      // how many approved runs were merged into this baseline
	Counts  bool     // syscalls carry order-of-magnitude counts ("read 1e3")
	// Exit is the command's approved exit code (128+signal when killed);
	// nil when unknown (an older file, or approved runs that disagreed).
	Exit *int

	Processes  []Process
	Env        []Entry // environment variable names per program: "EXE NAME" (never values)
	Files      Files
	Network    Network
	Privileged []Entry // "syscall decoded-args", e.g. "unshare flags=CLONE_NEWUSER"
	Syscalls   []Entry // syscall names, or "name 1e3" with Counts
	Changes    Changes // workspace changes (paths only, no hashes)

	// User-owned sections, kept by approve.
	Allow  map[string][]string // section name ("files.write", "network", ...) → globs always OK
	Redact []Redaction         // applied to every normalised string, in order

	// Where the normalised values came from; set by FromTrace, used for
	// query hints. Never serialised.
	workspace, home string
}

// Files groups file events by what they did.
type Files struct {
	Read   []Entry // opened read-only
	Write  []Entry // opened for writing (or O_CREAT of a file that existed)
	Create []Entry // created (O_CREAT|O_EXCL, or shown created in the workspace changes)
	Delete []Entry // unlink, rmdir
	Chmod  []Entry // Value = path, Mode = octal mode
	Rename []Entry // Value = old path, To = new path
	Exec   []Entry // execve'd programs (successful or attempted)
	Other  []Entry // Op = mkdir, link, symlink, chown, truncate, utimes, mknod, memfd
}

// Network groups network events.
type Network struct {
	Egress []Entry // "name:port" or "address:port", "/udp" suffix for datagrams
	Listen []Entry // "address:port" listened on (ephemeral ports → *)
	DNS    []Entry // names queried
	Unix   []Entry // unix socket paths connected to, bound or sent to
	Socket []Entry // unusual sockets created: "FAMILY TYPE", e.g. "packet raw", "netlink raw"
}

// Changes are the paths the run changed in its copy-on-write workspace.
// Directories end in "/".
type Changes struct {
	Created  []Entry
	Modified []Entry
	Deleted  []Entry
}

// Entry is one normalised behaviour in a section. Two entries are the same
// behaviour when their Key is equal; Failed and Optional are annotations.
type Entry struct {
	Value string // path, "host:port", DNS name, "syscall args" or syscall name
	Op    string // files.other only: mkdir, link, symlink, chown, truncate, utimes, mknod, memfd
	To    string // rename: new path; link/symlink: the target
	Mode  string // chmod: octal mode, e.g. "0755", "4755"

	Failed   bool // every recorded attempt failed (a failed read of a secret still counts)
	Optional bool // seen in only some of the approved runs: missing is fine

	proc string // process chain that first did it (FromTrace only; never serialised)
}

// Key identifies the behaviour an entry stands for (annotations excluded).
func (e Entry) Key() string {
	if e.Op == "" && e.To == "" && e.Mode == "" {
		return e.Value
	}
	return e.Op + "\x00" + e.Value + "\x00" + e.To + "\x00" + e.Mode
}

// Process returns the process chain that did this entry's behaviour first in
// the trace it came from ("" for entries read from a file).
func (e Entry) Process() string { return e.proc }

// String renders an entry for humans: "path", "mkdir path", "a -> b",
// "path (mode 4755)".
func (e Entry) String() string {
	s := e.Value
	if e.Op != "" {
		s = e.Op + " " + s
	}
	if e.To != "" {
		s += " -> " + e.To
	}
	if e.Mode != "" {
		s += " (mode " + e.Mode + ")"
	}
	return s
}

// Process is one distinct program identity: its executable, its normalised
// argv and the chain of ancestor executables (ending with Exe). Pids are not
// part of it, so any number of identical workers is one Process.
type Process struct {
	Exe      string
	Argv     []string
	Chain    string // "/bin/sh > /usr/bin/python3 > /usr/bin/curl"
	Optional bool
}

// Key identifies a process identity.
func (p Process) Key() string {
	return p.Chain + "\x00" + strings.Join(p.Argv, "\x00")
}

// Parent returns the executable of the process's parent ("" for the root).
func (p Process) Parent() string {
	parts := strings.Split(p.Chain, " > ")
	if len(parts) < 2 {
		return ""
	}
	return parts[len(parts)-2]
}

// Section is one entry list of a baseline, addressed by its public name.
type Section struct {
	Name    string // "files.read", "network.egress", "privileged", ...
	Entries *[]Entry
}

// SectionNames lists every entry section in file order. Processes are
// separate (they are not Entries) and named "processes".
var SectionNames = []string{
	"env", "files.read", "files.write", "files.create", "files.delete", "files.chmod",
	"files.rename", "files.exec", "files.other",
	"network.egress", "network.listen", "network.dns", "network.unix", "network.socket",
	"privileged", "syscalls",
	"changes.created", "changes.modified", "changes.deleted",
}

// Sections returns the entry sections of b in file order, as pointers so
// callers can read or fill them generically.
func (b *Baseline) Sections() []Section {
	return []Section{
		{"env", &b.Env},
		{"files.read", &b.Files.Read}, {"files.write", &b.Files.Write},
		{"files.create", &b.Files.Create}, {"files.delete", &b.Files.Delete},
		{"files.chmod", &b.Files.Chmod}, {"files.rename", &b.Files.Rename},
		{"files.exec", &b.Files.Exec}, {"files.other", &b.Files.Other},
		{"network.egress", &b.Network.Egress}, {"network.listen", &b.Network.Listen},
		{"network.dns", &b.Network.DNS}, {"network.unix", &b.Network.Unix},
		{"network.socket", &b.Network.Socket},
		{"privileged", &b.Privileged}, {"syscalls", &b.Syscalls},
		{"changes.created", &b.Changes.Created}, {"changes.modified", &b.Changes.Modified},
		{"changes.deleted", &b.Changes.Deleted},
	}
}

// Section returns the entries of the named section (nil for an unknown name).
func (b *Baseline) Section(name string) []Entry {
	for _, s := range b.Sections() {
		if s.Name == name {
			return *s.Entries
		}
	}
	return nil
}

// allowSections are the names valid as keys of allow: the sections, the
// groups that cover several of them, and processes.
func validAllowSection(name string) bool {
	switch name {
	case "processes", "files", "network", "changes":
		return true
	}
	for _, n := range SectionNames {
		if n == name {
			return true
		}
	}
	return false
}

// Allowed reports whether value in section is covered by one of the
// baseline's allow globs (given for the section itself or its group).
func (b *Baseline) Allowed(section, value string) bool {
	return anyAllowed(b.Allow, section, func(g string) bool { return Match(g, value) })
}

// anyAllowed reports whether match holds for a glob of one of the allow:
// lists (keyed as Baseline.Allow) that apply to section.
func anyAllowed[G any](lists map[string][]G, section string, match func(G) bool) bool {
	if len(lists) == 0 {
		return false
	}
	for _, k := range allowKeys(section) {
		for _, g := range lists[k] {
			if match(g) {
				return true
			}
		}
	}
	return false
}

// allowKeys are the allow: lists that apply to a section: its own and its
// group's ("files.read" → "files.read", "files").
func allowKeys(section string) []string {
	if i := strings.IndexByte(section, '.'); i > 0 {
		return []string{section, section[:i]}
	}
	return []string{section}
}

// AllowList is the baseline's allow: globs compiled, for matching many
// values (a diff tries every new entry); it does not follow later changes
// to Allow.
type AllowList struct {
	globs map[string][]*Glob
}

// AllowList compiles the allow: globs.
func (b *Baseline) AllowList() *AllowList {
	a := &AllowList{globs: make(map[string][]*Glob, len(b.Allow))}
	for k, gs := range b.Allow {
		for _, g := range gs {
			a.globs[k] = append(a.globs[k], CompileGlob(g))
		}
	}
	return a
}

// Allowed is Baseline.Allowed on the compiled globs.
func (a *AllowList) Allowed(section, value string) bool {
	return anyAllowed(a.globs, section, func(g *Glob) bool { return g.Match(value) })
}

// KeepUserSections copies the user-owned sections (allow, redact) from an
// older baseline, as approve does when it rewrites a file.
func (b *Baseline) KeepUserSections(old *Baseline) {
	if old == nil {
		return
	}
	b.Allow = cloneAllow(old.Allow)
	b.Redact = append([]Redaction(nil), old.Redact...)
}

// NormaliseOptions returns the options a new trace must be normalised with
// to be comparable with b (its redactions and counts setting), for the given
// workspace and home.
func (b *Baseline) NormaliseOptions(workspace, home string) Options {
	return Options{Workspace: workspace, Home: home, Counts: b.Counts, Redactions: append([]Redaction(nil), b.Redact...)}
}

// LikePattern turns a normalised value into an SQL LIKE pattern for the raw
// events it may have come from: placeholders become %, $WORKSPACE and $HOME
// the paths they stood for (when known), quotes are doubled.
func (b *Baseline) LikePattern(v string) string {
	if b.workspace != "" {
		v = strings.ReplaceAll(v, "$WORKSPACE", b.workspace)
	} else {
		v = strings.ReplaceAll(v, "$WORKSPACE", "*")
	}
	if b.home != "" {
		v = strings.ReplaceAll(v, "$HOME", b.home)
	} else {
		v = strings.ReplaceAll(v, "$HOME", "*")
	}
	v = strings.ReplaceAll(v, "$PID", "*")
	v = strings.ReplaceAll(v, "$TID", "*")
	v = strings.ReplaceAll(v, "**", "*")
	v = strings.ReplaceAll(v, "*", "%")
	return strings.ReplaceAll(v, "'", "''")
}

func cloneAllow(a map[string][]string) map[string][]string {
	if a == nil {
		return nil
	}
	out := make(map[string][]string, len(a))
	for k, v := range a {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// sortEntries sorts by value, then op/to/mode, and drops duplicates
// (merging annotations: failed only if all failed, optional only if all are).
func sortEntries(es []Entry) []Entry {
	sort.Slice(es, func(i, j int) bool { return es[i].Less(es[j]) })
	out := es[:0]
	for _, e := range es {
		if n := len(out); n > 0 && out[n-1].Key() == e.Key() {
			out[n-1].Failed = out[n-1].Failed && e.Failed
			out[n-1].Optional = out[n-1].Optional && e.Optional
			continue
		}
		out = append(out, e)
	}
	return out
}

// Less is the order of entries in a baseline file: by value, then op, to
// and mode.
func (a Entry) Less(b Entry) bool {
	if a.Value != b.Value {
		return a.Value < b.Value
	}
	if a.Op != b.Op {
		return a.Op < b.Op
	}
	if a.To != b.To {
		return a.To < b.To
	}
	return a.Mode < b.Mode
}

func sortProcesses(ps []Process) []Process {
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Chain != ps[j].Chain {
			return ps[i].Chain < ps[j].Chain
		}
		return strings.Join(ps[i].Argv, "\x00") < strings.Join(ps[j].Argv, "\x00")
	})
	out := ps[:0]
	for _, p := range ps {
		if n := len(out); n > 0 && out[n-1].Key() == p.Key() {
			out[n-1].Optional = out[n-1].Optional && p.Optional
			continue
		}
		out = append(out, p)
	}
	return out
}

// Union merges several baselines of the same spec (several approved runs)
// into one: an entry present in all of them is required, one present in
// only some is marked Optional. User sections come from the first.
func Union(bs ...*Baseline) *Baseline {
	var in []*Baseline
	for _, b := range bs {
		if b != nil {
			in = append(in, b)
		}
	}
	out := &Baseline{Version: FormatVersion}
	if len(in) == 0 {
		return out
	}
	first := in[0]
	out.Name, out.Command, out.Counts = first.Name, append([]string(nil), first.Command...), first.Counts
	out.workspace, out.home = first.workspace, first.home
	out.KeepUserSections(first)
	out.Exit = sameExit(in)
	for _, b := range in {
		r := b.Runs
		if r < 1 {
			r = 1
		}
		out.Runs += r
	}

	// Processes.
	type pcount struct {
		p      Process
		n      int
		optAny bool
	}
	pm := map[string]*pcount{}
	var pkeys []string
	for _, b := range in {
		seen := map[string]bool{}
		for _, p := range b.Processes {
			k := p.Key()
			if seen[k] {
				continue
			}
			seen[k] = true
			c := pm[k]
			if c == nil {
				c = &pcount{p: p}
				pm[k] = c
				pkeys = append(pkeys, k)
			}
			c.n++
			c.optAny = c.optAny || p.Optional
		}
	}
	for _, k := range pkeys {
		c := pm[k]
		p := c.p
		p.Argv = append([]string(nil), p.Argv...)
		p.Optional = c.optAny || c.n < len(in)
		out.Processes = append(out.Processes, p)
	}
	out.Processes = sortProcesses(out.Processes)

	// Entry sections.
	outSecs := out.Sections()
	for si := range outSecs {
		type ecount struct {
			e       Entry
			n       int
			optAny  bool
			allFail bool
		}
		m := map[string]*ecount{}
		var keys []string
		for _, b := range in {
			seen := map[string]bool{}
			for _, e := range *b.Sections()[si].Entries {
				k := e.Key()
				if seen[k] {
					continue
				}
				seen[k] = true
				c := m[k]
				if c == nil {
					c = &ecount{e: e, allFail: true}
					m[k] = c
					keys = append(keys, k)
				}
				c.n++
				c.optAny = c.optAny || e.Optional
				c.allFail = c.allFail && e.Failed
			}
		}
		var es []Entry
		for _, k := range keys {
			c := m[k]
			e := c.e
			e.Failed = c.allFail
			e.Optional = c.optAny || c.n < len(in)
			es = append(es, e)
		}
		*outSecs[si].Entries = sortEntries(es)
	}
	return out
}

// sameExit is the exit code every baseline agrees on, nil otherwise.
func sameExit(bs []*Baseline) *int {
	for _, b := range bs {
		if b.Exit == nil || *b.Exit != *bs[0].Exit {
			return nil
		}
	}
	v := *bs[0].Exit
	return &v
}

func (b *Baseline) String() string {
	return fmt.Sprintf("baseline %q", b.Name)
}
