package diff

import (
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/behavediff/behavediff/baseline"
)

// Finding is one difference between a baseline and a run.
type Finding struct {
	Level   Level  `json:"level"`
	Kind    string `json:"kind"`    // secret-read, egress, exec, write-outside, priv, listen, ...
	Change  string `json:"change"`  // "added" or "removed"
	Section string `json:"section"` // baseline section: files.read, network.egress, processes, ...
	Subject string `json:"subject"` // the normalised entry
	Reason  string `json:"reason"`
	Process string `json:"process,omitempty"` // process chain that did it, when known
	Query   string `json:"query,omitempty"`   // behavediff query command that finds its events
	// Rule is the stable id of the risk table row that rated it
	// (BD-SECRET-READ, ...; "BD-REMOVED" for removed behaviour).
	Rule string `json:"rule,omitempty"`
	// Peers are the corresponding rules of other tools, "falco:RULE NAME"
	// or "tracee:TRC-N", when there are any.
	Peers []string `json:"peers,omitempty"`
	// Count is how many entries a collapsed finding stands for (0: one);
	// Examples shows a few of them and Query lists all.
	Count    int      `json:"count,omitempty"`
	Examples []string `json:"examples,omitempty"`
}

// RemovedRule is the rule id of removed behaviour.
const RemovedRule = "BD-REMOVED"

// Change values.
const (
	Added   = "added"
	Removed = "removed"
)

// Context carries what Compare needs beyond the two baselines.
type Context struct {
	RunID     int64 // the run cur came from: query hints for new behaviour (0: none)
	BaseRunID int64 // the run base came from, when known: query hints for removed behaviour
	TimedOut  bool  // cur's run was killed after its timeout (its exit code says so only as 137)
}

// view indexes one baseline for set logic and for the rules' conditions.
type view struct {
	b            *baseline.Baseline
	keys         map[string]map[string]bool // section → entry keys
	globs        map[string][]globEntry     // section → entries with wildcards
	procKeys     map[string]bool
	exes         map[string]bool   // programs run (files.exec and process exes)
	pairs        map[string]bool   // "parent-exe > exe"
	interpParent map[string]string // exe → an interpreter that started it
	written      map[string]bool   // paths this run put in place
	// secret is a secret this run read ("" if none), found on first use
	// (readSecret): only a new egress or DNS entry asks, and finding it
	// matches every path the run read.
	secret     string
	secretDone bool
}

func newView(b *baseline.Baseline) *view {
	v := &view{
		b: b, keys: map[string]map[string]bool{}, globs: map[string][]globEntry{},
		procKeys: map[string]bool{}, exes: map[string]bool{}, pairs: map[string]bool{},
		interpParent: map[string]string{}, written: map[string]bool{},
	}
	for _, s := range b.Sections() {
		m := make(map[string]bool, len(*s.Entries))
		for _, e := range *s.Entries {
			m[e.Key()] = true
			if baseline.IsGlob(e.Value) || baseline.IsGlob(e.To) {
				v.globs[s.Name] = append(v.globs[s.Name], globEntry{e: e})
			}
		}
		v.keys[s.Name] = m
	}
	for _, p := range b.Processes {
		v.procKeys[p.Key()] = true
		v.exes[p.Exe] = true
		if par := p.Parent(); par != "" {
			v.pairs[par+" > "+p.Exe] = true
			if isInterpreter(path.Base(par)) {
				v.interpParent[p.Exe] = par
			}
		}
	}
	for _, e := range b.Files.Exec {
		v.exes[e.Value] = true
	}
	for _, sec := range [][]baseline.Entry{b.Files.Write, b.Files.Create, b.Changes.Created, b.Changes.Modified} {
		for _, e := range sec {
			if !e.Failed {
				v.written[e.Value] = true
			}
		}
	}
	for _, e := range b.Files.Rename {
		if !e.Failed {
			v.written[e.To] = true
		}
	}
	for _, e := range b.Files.Other {
		if !e.Failed && (e.Op == "link" || e.Op == "symlink") {
			v.written[e.Value] = true
		}
	}
	return v
}

// readSecret returns the first secret, in baseline order, the view's run
// read ("" if none).
func (v *view) readSecret() string {
	if !v.secretDone {
		v.secretDone = true
		for _, e := range v.b.Files.Read {
			if ok, what := isSecret(&fact{section: "files.read", entry: e}); ok {
				v.secret = e.Value + " (" + what + ")"
				break
			}
		}
	}
	return v.secret
}

// has reports whether the view's section has entry e: the same key, or an
// entry with wildcards that matches it.
func (v *view) has(section string, e baseline.Entry) bool {
	if v.keys[section][e.Key()] {
		return true
	}
	gs := v.globs[section]
	for i := range gs {
		if gs[i].covers(e) {
			return true
		}
	}
	return false
}

// globEntry is an entry read as a glob, its patterns compiled on first
// use: every new entry of a run is tried against every glob entry of the
// baseline's section.
type globEntry struct {
	e         baseline.Entry
	value, to *baseline.Glob
}

// covers reports whether entry g, read as a glob, matches entry e.
func (g *globEntry) covers(e baseline.Entry) bool {
	if g.e.Op != e.Op || g.e.Mode != e.Mode {
		return false
	}
	if g.value == nil {
		g.value, g.to = baseline.CompileGlob(g.e.Value), baseline.CompileGlob(g.e.To)
	}
	return g.value.Match(e.Value) && g.to.Match(e.To)
}

// hasMatch reports whether some entry of the section is matched by glob
// entry g (used for removed behaviour).
func (v *view) hasMatch(section string, g baseline.Entry) bool {
	if !baseline.IsGlob(g.Value) && !baseline.IsGlob(g.To) {
		// A literal baseline entry the run now normalises to a glob (a
		// baseline approved before libssl.so.3 became libssl.so.*) is
		// still there.
		return v.has(section, g)
	}
	if v.keys[section][g.Key()] {
		return true
	}
	ge := globEntry{e: g}
	for _, e := range *sectionOf(v.b, section) {
		if ge.covers(e) {
			return true
		}
	}
	return false
}

func sectionOf(b *baseline.Baseline, name string) *[]baseline.Entry {
	for _, s := range b.Sections() {
		if s.Name == name {
			return s.Entries
		}
	}
	return new([]baseline.Entry)
}

func allowed(al *baseline.AllowList, section string, e baseline.Entry) bool {
	if al.Allowed(section, e.Value) {
		return true
	}
	return e.To != "" && al.Allowed(section, e.To)
}

// procAllowed reports whether an allow: glob covers the process's program
// or its chain.
func procAllowed(al *baseline.AllowList, p baseline.Process) bool {
	return al.Allowed("processes", p.Exe) || al.Allowed("processes", p.Chain)
}

// Compare lists what cur does that base does not (rated by the risk table)
// and what base has that cur no longer does (low). Entries matching base's
// allow: globs are never findings; optional base entries may be missing.
// Findings come sorted by level (worst first), then kind and subject.
// LevelNone findings are included; filter them with AtLeast for display.
func Compare(base, cur *baseline.Baseline, ctx Context) []Finding {
	if base == nil {
		base = &baseline.Baseline{}
	}
	if cur == nil {
		cur = &baseline.Baseline{}
	}
	bv, cv := newView(base), newView(cur)
	al := base.AllowList()
	out := compareOutcome(base, cur, ctx)

	// Processes: identities the baseline does not have. A process whose
	// program is itself new is reported once, as the exec of that program.
	for _, p := range cur.Processes {
		if bv.procKeys[p.Key()] || procAllowed(al, p) {
			continue
		}
		f := &fact{section: "processes", proc: p, cur: cv, base: bv}
		r, detail, ok := classify(f)
		if !ok {
			continue
		}
		// A new program is reported once, as its exec; rows about what a
		// process does (piped code, reverse shells, key searches) stand
		// even when the program itself is new.
		if (r.Kind == "process" || r.Kind == "shell") && !bv.exes[p.Exe] && cv.keys["files.exec"][p.Exe] {
			continue
		}
		out = append(out, Finding{
			Level: r.Level, Kind: r.Kind, Change: Added, Section: "processes",
			Subject: ProcessSubject(p), Reason: reason(r.Reason, detail, false),
			Process: p.Chain, Query: query(cur, ctx.RunID, "processes", baseline.Entry{Value: p.Exe}),
			Rule: r.ID, Peers: r.Peers,
		})
	}
	for _, p := range base.Processes {
		if p.Optional || cv.procKeys[p.Key()] || procAllowed(al, p) {
			continue
		}
		out = append(out, Finding{
			Level: RemovedLevel, Kind: "removed", Change: Removed, Section: "processes",
			Subject: ProcessSubject(p), Reason: "no longer runs (processes)", Process: p.Chain,
			Query: query(base, ctx.BaseRunID, "processes", baseline.Entry{Value: p.Exe}), Rule: RemovedRule,
		})
	}

	for _, name := range baseline.SectionNames {
		for _, e := range *sectionOf(cur, name) {
			if bv.has(name, e) || allowed(al, name, e) {
				continue
			}
			f := &fact{section: name, entry: e, cur: cv, base: bv}
			r, detail, ok := classify(f)
			if !ok {
				r = Rule{ID: "BD-OTHER", Kind: "other", Level: None, Reason: "new behaviour"}
			}
			if name == "syscalls" && base.Counts {
				if old := countChange(base, e.Value); old != "" {
					detail = "was " + old
				}
			}
			out = append(out, Finding{
				Level: r.Level, Kind: r.Kind, Change: Added, Section: name,
				Subject: e.String(), Reason: reason(r.Reason, detail, e.Failed),
				Process: e.Process(), Query: query(cur, ctx.RunID, name, e),
				Rule: r.ID, Peers: r.Peers,
			})
		}
		for _, e := range *sectionOf(base, name) {
			if e.Optional || cv.hasMatch(name, e) || allowed(al, name, e) {
				continue
			}
			if exe, _ := envName(e.Value); name == "env" && !cv.exes[exe] {
				continue // the program is gone: its removal is the finding, not each variable's
			}
			out = append(out, Finding{
				Level: RemovedLevel, Kind: "removed", Change: Removed, Section: name,
				Subject: e.String(), Reason: "no longer seen (" + name + ")",
				Query: query(base, ctx.BaseRunID, name, e), Rule: RemovedRule,
			})
		}
	}
	out = sortDedupe(out)
	out = groupSyscalls(out, cur, base, ctx)
	out = collapseDirs(out, cur, base, ctx)
	return sortDedupe(out) // a create and a workspace change may collapse to the same DIR/**
}

// ProcessSubject is the Subject of a finding about process p: its program
// and arguments.
func ProcessSubject(p baseline.Process) string {
	return p.Exe + " [" + strings.Join(p.Argv, " ") + "]"
}

func reason(r, detail string, failed bool) string {
	if detail != "" {
		r += ": " + detail
	}
	if failed {
		r += " (attempted and failed: the attempt is the finding)"
	}
	return r
}

// countChange returns the old count bucket of a syscall whose bucket
// changed ("" when the syscall is new).
func countChange(base *baseline.Baseline, v string) string {
	name, _, _ := strings.Cut(v, " ")
	for _, e := range base.Syscalls {
		if n, c, _ := strings.Cut(e.Value, " "); n == name {
			return c
		}
	}
	return ""
}

// sortDedupe sorts worst first and keeps one finding per kind, change and
// subject (the worst): a file both created and shown as a workspace change
// is one finding.
func sortDedupe(fs []Finding) []Finding {
	sort.SliceStable(fs, func(i, j int) bool { return less(fs[i], fs[j]) })
	seen := map[string]bool{}
	out := fs[:0]
	for _, f := range fs {
		k := f.Kind + "\x00" + f.Change + "\x00" + f.Subject
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, f)
	}
	return out
}

func less(a, b Finding) bool {
	if a.Level != b.Level {
		return a.Level > b.Level
	}
	if a.Kind != b.Kind {
		return a.Kind < b.Kind
	}
	if a.Subject != b.Subject {
		return a.Subject < b.Subject
	}
	if a.Change != b.Change {
		return a.Change < b.Change
	}
	return a.Section < b.Section
}

// AtLeast returns the findings at or above min, in order.
func AtLeast(fs []Finding, min Level) []Finding {
	var out []Finding
	for _, f := range fs {
		if f.Level >= min {
			out = append(out, f)
		}
	}
	return out
}

// Worst returns the highest level among the findings (None when empty).
func Worst(fs []Finding) Level {
	w := None
	for _, f := range fs {
		if f.Level > w {
			w = f.Level
		}
	}
	return w
}

// StatusFor is "fail" when a finding is at or above failOn, else "pass".
// A failOn of None fails on any finding, informational ones included.
func StatusFor(fs []Finding, failOn Level) string {
	if len(AtLeast(fs, failOn)) > 0 {
		return StatusFail
	}
	return StatusPass
}

// query builds the behavediff query command that lists the raw events
// behind a normalised entry of section in run id.
func query(b *baseline.Baseline, id int64, section string, e baseline.Entry) string {
	if id == 0 {
		return ""
	}
	like := func(v string) string { return "'" + b.LikePattern(v) + "'" }
	var sql string
	switch {
	case section == "processes":
		sql = fmt.Sprintf("SELECT pid, exe, argv, chain FROM processes WHERE run_id = %d AND exe LIKE %s", id, like(e.Value))
	case strings.HasPrefix(section, "files."):
		// a raced/late mark is the event's path_state, not part of its path
		v, mark := baseline.CutPathMark(e.Value)
		to, _ := baseline.CutPathMark(e.To)
		cond := "path LIKE " + like(v)
		var op string
		switch section {
		case "files.read", "files.write", "files.create":
			op = "op = 'open'"
		case "files.delete":
			op = "op IN ('unlink', 'rmdir')"
		case "files.chmod":
			op = "op = 'chmod'"
		case "files.rename":
			op = "op = 'rename'"
			cond += " AND path2 LIKE " + like(to)
		case "files.exec":
			op = "op = 'exec'"
		case "files.other":
			switch e.Op {
			case "memfd":
				op = "op = 'memfd_create'"
			case "link", "symlink":
				op = "op = '" + e.Op + "'"
				cond = "path2 LIKE " + like(v)
			default:
				op = "op = '" + e.Op + "'"
			}
		}
		if mark != "" {
			cond += " AND path_state = '" + mark + "'"
		}
		sql = fmt.Sprintf("SELECT exe, op, path, path2, flags, error FROM file_events WHERE run_id = %d AND %s AND %s", id, op, cond)
	case section == "network.egress", section == "network.listen":
		host, port := splitHostPort(e.Value)
		ops := "op IN ('connect', 'send')"
		if section == "network.listen" {
			ops = "op IN ('bind', 'listen')"
		}
		var conds []string
		switch {
		case host == "*" || host == "":
		case isAddr(host):
			conds = append(conds, "address LIKE "+like(strings.Trim(host, "[]")))
		default:
			// Keyed by the name looked up before the connect: show the
			// lookups of that name and the same program's connects.
			c := "op IN ('connect', 'send')"
			if port != "*" && port != "" {
				c += " AND port = " + port
			}
			if exe := lastExe(e.Process()); exe != "" {
				c += " AND exe LIKE " + like(exe)
			}
			sql = fmt.Sprintf("SELECT exe, op, address, port, domain, error FROM net_events WHERE run_id = %d AND ((op = 'dns' AND domain LIKE %s) OR (%s))", id, like(host), c)
			// A --net proxy run asked its egress proxy by name: those
			// requests (with their decision) are in proxy_requests.
			pc := ""
			if port != "*" && port != "" {
				pc = " AND port = " + port
			}
			sql += fmt.Sprintf(" UNION ALL SELECT exe, protocol, host, port, sni, reason FROM proxy_requests WHERE run_id = %d AND protocol <> 'dns' AND host LIKE %s%s", id, like(host), pc)
			return "behavediff query " + shellQuote(sql)
		}
		if port != "*" && port != "" {
			conds = append(conds, "port = "+port)
		}
		sql = fmt.Sprintf("SELECT exe, op, address, port, domain, error FROM net_events WHERE run_id = %d AND %s", id, ops)
		for _, c := range conds {
			sql += " AND " + c
		}
	case section == "network.dns":
		sql = fmt.Sprintf("SELECT exe, domain, qtype, error FROM net_events WHERE run_id = %d AND op = 'dns' AND domain LIKE %s", id, like(e.Value))
	case section == "network.unix":
		sql = fmt.Sprintf("SELECT exe, op, address, error FROM net_events WHERE run_id = %d AND family = 'unix' AND address LIKE %s", id, like(e.Value))
	case section == "env":
		exe, _ := envName(e.Value)
		sql = fmt.Sprintf("SELECT pid, exe, argv, chain FROM processes WHERE run_id = %d AND exe LIKE %s", id, like(exe))
	case section == "network.socket":
		fam, typ, _ := strings.Cut(e.Value, " ")
		sql = fmt.Sprintf("SELECT exe, family, sock_type, result, error FROM net_events WHERE run_id = %d AND op = 'socket' AND family = '%s' AND sock_type = '%s'", id, sqlText(fam), sqlText(typ))
	case section == "privileged":
		name, _, _ := strings.Cut(e.Value, " ")
		sql = fmt.Sprintf("SELECT exe, syscall, args, error FROM priv_events WHERE run_id = %d AND syscall = '%s'", id, name)
	case section == "syscalls":
		name, _, _ := strings.Cut(e.Value, " ")
		sql = fmt.Sprintf("SELECT exe, name, count, errors FROM syscalls WHERE run_id = %d AND name = '%s'", id, name)
	case strings.HasPrefix(section, "changes."):
		sql = fmt.Sprintf("SELECT path, change, size, sha256 FROM fs_changes WHERE run_id = %d AND path LIKE %s", id, like(strings.TrimSuffix(e.Value, "/")))
	default:
		return ""
	}
	return "behavediff query " + shellQuote(sql)
}

func sqlText(s string) string { return strings.ReplaceAll(s, "'", "''") }

// lastExe is the last program of a process chain.
func lastExe(chain string) string {
	if i := strings.LastIndex(chain, " > "); i >= 0 {
		return chain[i+3:]
	}
	return chain
}

// splitHostPort splits "host:port[/udp]".
func splitHostPort(v string) (host, port string) {
	v = strings.TrimSuffix(v, "/udp")
	i := strings.LastIndex(v, ":")
	if i < 0 {
		return v, ""
	}
	return v[:i], v[i+1:]
}

func isAddr(h string) bool {
	h = strings.Trim(h, "[]")
	if strings.Contains(h, ":") {
		return true
	}
	for _, c := range h {
		if (c < '0' || c > '9') && c != '.' && c != '*' {
			return false
		}
	}
	return true
}

// shellQuote wraps s in double quotes for a POSIX shell.
func shellQuote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`, "`", "\\`")
	return `"` + r.Replace(s) + `"`
}
