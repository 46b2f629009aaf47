package diff

import (
	"fmt"
	"sort"
	"strings"

	"github.com/behavediff/behavediff/baseline"
)

// Grouping keeps a report readable: a find over / or a new dependency
// directory gives one finding per directory tree, not hundreds, and a run's
// new syscalls are one finding. Levels never change: a group has the level
// of its members (they are grouped only with findings of the same level,
// kind, change and section), and its query lists every member's events.

// MinCollapse is how many path findings of one kind under one directory
// collapse into one.
const MinCollapse = 5

// maxExamples is how many members a collapsed finding shows.
const maxExamples = 3

// groupSyscalls folds all added (and all removed) syscall findings into one
// finding each.
func groupSyscalls(fs []Finding, cur, base *baseline.Baseline, ctx Context) []Finding {
	var added, removed []Finding
	out := fs[:0:0]
	for _, f := range fs {
		switch {
		case f.Section == "syscalls" && f.Change == Added && f.Rule == "BD-SYSCALL":
			added = append(added, f)
		case f.Section == "syscalls" && f.Change == Removed:
			removed = append(removed, f)
		default:
			out = append(out, f)
		}
	}
	for _, g := range []struct {
		fs  []Finding
		b   *baseline.Baseline
		run int64
	}{{added, cur, ctx.RunID}, {removed, base, ctx.BaseRunID}} {
		if len(g.fs) < 2 {
			out = append(out, g.fs...)
			continue
		}
		var subj, names []string
		for _, f := range g.fs {
			subj = append(subj, f.Subject)
			n, _, _ := strings.Cut(f.Subject, " ")
			names = append(names, "'"+strings.ReplaceAll(n, "'", "''")+"'")
		}
		f := g.fs[0]
		f.Level = Worst(g.fs)
		f.Subject = strings.Join(subj, ", ")
		f.Count = len(g.fs)
		switch {
		case f.Change == Added && g.b.Counts:
			f.Reason = fmt.Sprintf("makes %d new kinds of syscall, or known ones an order of magnitude more or less often", len(g.fs))
		case f.Change == Added:
			f.Reason = fmt.Sprintf("makes %d new kinds of syscall", len(g.fs))
		default:
			f.Reason = fmt.Sprintf("no longer makes %d kinds of syscall", len(g.fs))
		}
		f.Process = mergedProcess(g.fs)
		f.Query = ""
		if g.run != 0 {
			f.Query = "behavediff query " + shellQuote(fmt.Sprintf("SELECT exe, name, count, errors FROM syscalls WHERE run_id = %d AND name IN (%s)", g.run, strings.Join(names, ", ")))
		}
		out = append(out, f)
	}
	return out
}

// mergedProcess is the members' process chain, or the first one's "(and
// others)" when they differ.
func mergedProcess(g []Finding) string {
	for _, o := range g[1:] {
		if o.Process != g[0].Process {
			return g[0].Process + " (and others)"
		}
	}
	return g[0].Process
}

// isPathFinding reports whether f's subject is a plain path that can be
// collapsed with others under a directory.
func isPathFinding(f Finding) bool {
	if !strings.HasPrefix(f.Section, "files.") && !strings.HasPrefix(f.Section, "changes.") {
		return false
	}
	if f.Section == "files.other" || f.Section == "files.rename" || f.Section == "files.chmod" {
		return false
	}
	return strings.HasPrefix(f.Subject, "/") || strings.HasPrefix(f.Subject, "$")
}

// collapseDirs replaces MinCollapse or more path findings of the same
// level, kind, change and section below one directory by one finding.
func collapseDirs(fs []Finding, cur, base *baseline.Baseline, ctx Context) []Finding {
	groups := map[string][]Finding{}
	var order []string
	var out []Finding
	for _, f := range fs {
		if !isPathFinding(f) {
			out = append(out, f)
			continue
		}
		k := fmt.Sprintf("%d\x00%s\x00%s\x00%s", f.Level, f.Kind, f.Change, f.Section)
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], f)
	}
	for _, k := range order {
		g := groups[k]
		b, run := cur, ctx.RunID
		if g[0].Change == Removed {
			b, run = base, ctx.BaseRunID
		}
		out = append(out, collapse(g, b, run)...)
	}
	return out
}

// collapse splits a group by the first directory below the members' common
// directory: each part of MinCollapse or more becomes one finding, and the
// small parts left over become one more when there are enough of them.
func collapse(g []Finding, b *baseline.Baseline, run int64) []Finding {
	if len(g) < MinCollapse {
		return g
	}
	root := commonDir(g)
	parts := map[string][]Finding{}
	var names []string
	for _, f := range g {
		rest := strings.TrimSuffix(f.Subject, "/")
		if root != "" {
			rest = strings.TrimPrefix(strings.TrimPrefix(rest, strings.TrimSuffix(root, "/")), "/")
		}
		first, _, _ := strings.Cut(rest, "/")
		if parts[first] == nil {
			names = append(names, first)
		}
		parts[first] = append(parts[first], f)
	}
	var out, left []Finding
	for _, n := range names {
		if p := parts[n]; len(p) >= MinCollapse {
			out = append(out, merged(p, b, run))
		} else {
			left = append(left, p...)
		}
	}
	if len(left) >= MinCollapse {
		out = append(out, merged(left, b, run))
	} else {
		out = append(out, left...)
	}
	return out
}

// commonDir is the longest directory that is or holds every member's
// subject ("" when they share none: "$HOME/x" and "/var/y").
func commonDir(g []Finding) string {
	parts := strings.Split(strings.TrimSuffix(g[0].Subject, "/"), "/")
	n := len(parts)
	if len(g) == 1 {
		n-- // a lone file's directory
	}
	for _, f := range g[1:] {
		q := strings.Split(strings.TrimSuffix(f.Subject, "/"), "/")
		k := 0
		for k < n && k < len(q) && q[k] == parts[k] {
			k++
		}
		n = k
	}
	if n == 1 && parts[0] == "" {
		return "/"
	}
	return strings.Join(parts[:n], "/")
}

func merged(p []Finding, b *baseline.Baseline, run int64) Finding {
	dir := commonDir(p)
	subs := make([]string, len(p))
	for i, f := range p {
		subs[i] = f.Subject
	}
	sort.Strings(subs)
	f := p[0]
	glob := strings.TrimSuffix(dir, "/") + "/**"
	if dir == "" {
		glob = "**"
		dir = "different directories"
	}
	f.Subject = glob
	f.Count = len(p)
	f.Examples = subs[:min(maxExamples, len(subs))]
	f.Reason = fmt.Sprintf("%s (%d paths below %s; the query lists them all)", f.Reason, len(p), dir)
	f.Query = query(b, run, f.Section, baseline.Entry{Value: glob})
	f.Process = mergedProcess(p)
	return f
}
