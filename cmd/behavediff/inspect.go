package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/net/dns/dnsmessage"
	"golang.org/x/sys/unix"

	"github.com/behavediff/behavediff/internal/errwriter"
	"github.com/behavediff/behavediff/internal/linux"
	"github.com/behavediff/behavediff/recorder/sandbox"
	"github.com/behavediff/behavediff/store"
)

// resolveDB turns the --db flag into a path: empty means the project's
// .behavediff/traces.db, so every command finds the same database from any
// subdirectory of the project.
func resolveDB(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	p, err := project()
	if err != nil {
		return "", err
	}
	return filepath.Join(p.Dir(), "traces.db"), nil
}

func (a *app) runs(ctx context.Context, args []string) (int, error) {
	fs := a.newFlags("runs", "[--db FILE] [--format table|json]", "Lists recorded runs, newest first.")
	dbFlag := fs.String("db", "", "trace database `file` (default .behavediff/traces.db in the project)")
	format := fs.String("format", "table", "output `format`: table or json")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return exitUsage, err
	}
	if len(pos) > 0 {
		return exitUsage, usageError("runs takes no arguments (got %q)", pos)
	}
	db, err := openRO(ctx, *dbFlag)
	if err != nil {
		return exitUsage, err
	}
	defer db.Close()
	runs, err := db.Runs(ctx)
	if err != nil {
		return exitUsage, err
	}
	switch *format {
	case "json":
		type jr struct {
			ID         int64    `json:"id"`
			Name       string   `json:"name,omitempty"`
			Command    []string `json:"command"`
			Status     string   `json:"status"`
			ExitCode   int      `json:"exit_code"`
			StartedAt  string   `json:"started_at"`
			DurationMS int64    `json:"duration_ms"`
			LostEvents int64    `json:"lost_events"`
			ReplayOf   int64    `json:"replay_of,omitempty"`
		}
		out := make([]jr, 0, len(runs))
		for _, r := range runs {
			out = append(out, jr{r.ID, r.Name, r.Command, r.Status, r.ExitCode, r.StartedAt.Format(time.RFC3339), runDuration(r).Milliseconds(), r.LostEvents, r.ReplayOf})
		}
		return exitOK, writeJSON(a.stdout, out)
	case "table":
	default:
		return exitUsage, usageError("unknown --format %q (want table or json)", *format)
	}
	if len(runs) == 0 {
		fmt.Fprintln(a.stderr, "no runs yet: record one with: behavediff record -- CMD")
		return exitOK, nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tSTATUS\tEXIT\tSTARTED\tDURATION\tCOMMAND")
	for _, r := range runs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\n", r.ID, dash(r.Name), r.Status, r.ExitCode,
			r.StartedAt.Local().Format("2006-01-02 15:04:05"), runDuration(r).Round(time.Millisecond), shellJoin(r.Command))
	}
	return exitOK, tw.Flush()
}

func runDuration(r store.Run) time.Duration {
	if r.EndedAt.IsZero() {
		return 0
	}
	return r.EndedAt.Sub(r.StartedAt)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// openRW opens (creating if needed) the trace database for recording. The
// project's default database is kept out of version control: specs and
// baselines in .behavediff/ are meant to be committed, traces are not.
func openRW(ctx context.Context, flagValue string) (*store.DB, error) {
	path, err := resolveDB(flagValue)
	if err != nil {
		return nil, err
	}
	if flagValue == "" {
		p, err := project()
		if err != nil {
			return nil, err
		}
		if err := p.Ensure(); err != nil {
			return nil, err
		}
	}
	return store.Open(ctx, path)
}

// openRO opens the trace database for reading only.
func openRO(ctx context.Context, flagValue string) (*store.DB, error) {
	path, err := resolveDB(flagValue)
	if err != nil {
		return nil, err
	}
	return store.OpenReadOnly(ctx, path)
}

// openRun opens the database read-only and resolves REF (an id, a name or
// "last") to a run; the caller closes the database.
func openRun(ctx context.Context, dbFlag, ref string) (*store.DB, int64, error) {
	db, err := openRO(ctx, dbFlag)
	if err != nil {
		return nil, 0, err
	}
	id, err := db.ResolveRun(ctx, ref)
	if err != nil {
		db.Close()
		return nil, 0, err
	}
	return db, id, nil
}

const showAbout = `
Summarises one run: the process tree, files touched outside and inside the
workspace, network attempts and DNS names, privilege events, failed attempts,
workspace changes and the busiest syscalls. RUN is a run id, a spec name
(its newest run) or "last". --format json prints the whole trace in the
documented schema (docs/schema.md, "show --format json"): the views' column
names and values.`

func (a *app) show(ctx context.Context, args []string) (int, error) {
	fs := a.newFlags("show", "[--db FILE] [--format text|json] RUN", showAbout)
	dbFlag := fs.String("db", "", "trace database `file` (default .behavediff/traces.db in the project)")
	format := fs.String("format", "text", "output `format`: text or json")
	limit := fs.Int("limit", 25, "show at most this many `rows` per section")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return exitUsage, err
	}
	if len(pos) != 1 {
		return exitUsage, usageError("show wants one RUN (an id, a name or \"last\")")
	}
	if *format != "text" && *format != "json" {
		return exitUsage, usageError("unknown --format %q (want text or json)", *format)
	}
	db, id, err := openRun(ctx, *dbFlag, pos[0])
	if err != nil {
		return exitUsage, err
	}
	defer db.Close()
	tr, err := db.LoadTrace(ctx, id)
	if err != nil {
		return exitUsage, err
	}
	if *format == "json" {
		return exitOK, writeShowJSON(a.stdout, tr)
	}
	return exitOK, writeShow(a.stdout, tr, *limit)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // "sh > curl", not "sh \u003e curl"
	return enc.Encode(v)
}

// errnoText renders a syscall result: "ok", or the errno name of a failure.
func errnoText(res int64) string {
	if res >= 0 {
		return "ok"
	}
	if n := unix.ErrnoName(unix.Errno(-res)); n != "" {
		return n
	}
	return fmt.Sprintf("errno %d", -res)
}

func shellJoin(args []string) string {
	out := make([]string, len(args))
	for i, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\n'\"$`\\|&;<>()*?[]{}") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}

// fileClass names what a file event did, for humans: read, write, create,
// delete, ... Open flags decide between read and write.
func fileClass(e store.FileEvent) string {
	if e.Op == store.FileOpen {
		switch {
		case e.Flags&linux.O_CREAT != 0:
			return "create/write"
		case e.Flags&linux.O_ACCMODE != 0 || e.Flags&linux.O_TRUNC != 0:
			return "write"
		}
		return "read"
	}
	return store.FileOpNames[e.Op]
}

func writeShow(w io.Writer, tr *store.Trace, limit int) error {
	r := tr.Run
	bw := errwriter.New(w)
	bw.Printf("Run %d  %s  exit %d  %s", r.ID, r.Status, r.ExitCode, runDuration(r).Round(time.Millisecond))
	if r.Name != "" {
		bw.Printf("  name %s", r.Name)
	}
	if r.ReplayOf != 0 {
		bw.Printf("  replay of %d", r.ReplayOf)
	}
	bw.Printf("\nCommand:   %s\nWorkspace: %s\nStarted:   %s\n", shellJoin(r.Command), r.Workspace, r.StartedAt.UTC().Format(time.RFC3339))
	if l := r.Limits; l != (store.Limits{}) {
		cpus := "CPU no cap (low weight)"
		if l.CPUs > 0 {
			cpus = fmt.Sprintf("%g CPUs", l.CPUs)
		}
		bw.Printf("Limits:    memory %s, %d processes, disk %s, /tmp %s, %s\n",
			sandbox.FormatBytes(l.MemoryBytes), l.Pids, sandbox.FormatBytes(l.DiskBytes), sandbox.FormatBytes(l.TmpfsBytes), cpus)
	}
	for _, h := range r.LimitsHit {
		bw.Printf("LIMIT REACHED: %s\n", h)
	}
	if r.LostEvents > 0 {
		bw.Printf("LOST EVENTS: %d %v — this trace is incomplete\n", r.LostEvents, r.LostByClass)
	}
	if len(r.Malformed) > 0 {
		bw.Printf("Malformed inputs (counted in malformed_inputs): %v\n", r.Malformed)
	}

	bw.Printf("\nProcesses (%d):\n", len(tr.Processes))
	children := map[int32][]int{}
	for i, p := range tr.Processes {
		children[p.ParentIdx] = append(children[p.ParentIdx], i)
	}
	shown := 0
	var walk func(parent int32, indent string)
	walk = func(parent int32, indent string) {
		for _, i := range children[parent] {
			p := tr.Processes[i]
			if shown >= limit*4 {
				return
			}
			shown++
			status := "running"
			switch {
			case p.ExitSignal != 0:
				status = fmt.Sprintf("signal %d", p.ExitSignal)
			case p.Exited:
				status = fmt.Sprintf("exit %d", p.ExitCode)
			}
			bw.Printf("  %s%s  [pid %d, %s]\n", indent, truncate(shellJoin(p.Argv), 100), p.Pid, status)
			walk(p.Idx, indent+"  ")
		}
	}
	walk(-1, "")
	if shown < len(tr.Processes) {
		bw.Printf("  … %d more (behavediff query \"SELECT * FROM processes WHERE run_id = %d\")\n", len(tr.Processes)-shown, r.ID)
	}

	inWS := func(p string) bool {
		return r.Workspace != "" && (p == r.Workspace || strings.HasPrefix(p, r.Workspace+"/"))
	}
	type fkey struct{ class, path, result string }
	agg := func(keep func(store.FileEvent) bool) ([]fkey, map[fkey]int) {
		counts := map[fkey]int{}
		var keys []fkey
		for _, e := range tr.Files {
			if !keep(e) {
				continue
			}
			k := fkey{fileClass(e), e.Path, errnoText(e.Result)}
			if counts[k] == 0 {
				keys = append(keys, k)
			}
			counts[k]++
		}
		sort.Slice(keys, func(i, j int) bool {
			if keys[i].path != keys[j].path {
				return keys[i].path < keys[j].path
			}
			return keys[i].class < keys[j].class
		})
		return keys, counts
	}
	section := func(title string, keep func(store.FileEvent) bool, where string) {
		keys, counts := agg(keep)
		bw.Printf("\n%s (%d distinct):\n", title, len(keys))
		for i, k := range keys {
			if i == limit {
				bw.Printf("  … %d more (behavediff query \"SELECT op, path, error FROM file_events WHERE run_id = %d AND %s\")\n", len(keys)-limit, r.ID, where)
				break
			}
			n := ""
			if counts[k] > 1 {
				n = fmt.Sprintf(" ×%d", counts[k])
			}
			res := ""
			if k.result != "ok" {
				res = "  → " + k.result
			}
			bw.Printf("  %-12s %s%s%s\n", k.class, k.path, n, res)
		}
	}
	section("Files outside the workspace", func(e store.FileEvent) bool { return !inWS(e.Path) && e.Result >= 0 },
		fmt.Sprintf("path NOT LIKE '%s/%%'", r.Workspace))
	section("Files inside the workspace", func(e store.FileEvent) bool { return inWS(e.Path) && e.Result >= 0 },
		fmt.Sprintf("path LIKE '%s/%%'", r.Workspace))

	bw.Printf("\nNetwork (%d events):\n", len(tr.Net))
	seen := map[string]bool{}
	n := 0
	for _, e := range tr.Net {
		var line string
		switch e.Op {
		case store.NetSocket:
			continue
		case store.NetDNS:
			line = fmt.Sprintf("dns      %s %s via %s:%d", e.Domain, qtypeName(e.QType), e.Address, e.Port)
		default:
			line = fmt.Sprintf("%-8s %s", store.NetOpNames[e.Op], hostPort(e))
		}
		if e.Result < 0 {
			line += "  → " + errnoText(e.Result)
		}
		line += "  (" + procChain(tr, e.Proc) + ")"
		if seen[line] {
			continue
		}
		seen[line] = true
		if n == limit {
			bw.Printf("  … more (behavediff query \"SELECT * FROM net_events WHERE run_id = %d\")\n", r.ID)
			break
		}
		n++
		bw.Printf("  %s\n", line)
	}

	writeProxy(bw, tr, limit)

	if len(tr.Priv) > 0 {
		bw.Printf("\nPrivilege events (%d):\n", len(tr.Priv))
		for i, e := range tr.Priv {
			if i == limit {
				bw.Printf("  … %d more (behavediff query \"SELECT * FROM priv_events WHERE run_id = %d\")\n", len(tr.Priv)-limit, r.ID)
				break
			}
			bw.Printf("  %-16s %s  → %s  (%s)\n", e.Syscall, e.Args, errnoText(e.Result), procChain(tr, e.Proc))
		}
	}

	section("Failed file attempts", func(e store.FileEvent) bool { return e.Result < 0 }, "result < 0")

	bw.Printf("\nWorkspace changes (%d):\n", len(tr.Changes))
	for i, c := range tr.Changes {
		if i == limit {
			bw.Printf("  … %d more (behavediff query \"SELECT * FROM fs_changes WHERE run_id = %d\")\n", len(tr.Changes)-limit, r.ID)
			break
		}
		detail := ""
		if c.SHA256 != "" {
			detail = fmt.Sprintf("  (%d bytes, sha256 %.12s)", c.Size, c.SHA256)
		}
		bw.Printf("  %-9s %s%s\n", c.Change, c.Path, detail)
	}

	type sc struct {
		name          string
		count, errors uint64
	}
	tot := map[string]*sc{}
	for _, s := range tr.Syscalls {
		if tot[s.Name] == nil {
			tot[s.Name] = &sc{name: s.Name}
		}
		tot[s.Name].count += s.Count
		tot[s.Name].errors += s.Errors
	}
	list := make([]*sc, 0, len(tot))
	var all uint64
	for _, v := range tot {
		list = append(list, v)
		all += v.count
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].count != list[j].count {
			return list[i].count > list[j].count
		}
		return list[i].name < list[j].name
	})
	bw.Printf("\nSyscalls (%d calls, %d distinct; top %d):\n", all, len(list), min(10, len(list)))
	for i, s := range list {
		if i == 10 {
			break
		}
		bw.Printf("  %-20s %10d  errors %d\n", s.name, s.count, s.errors)
	}
	bw.Printf("\nNext:\n")
	if r.Name != "" {
		bw.Printf("  approve:  behavediff approve %d --name %s   (compare: behavediff diff --baseline %s %d)\n", r.ID, r.Name, r.Name, r.ID)
	} else {
		bw.Printf("  approve:  behavediff approve %d --name NAME\n", r.ID)
	}
	bw.Printf("  query:    behavediff query \"SELECT access, path, error FROM file_events WHERE run_id = %d\"\n", r.ID)
	return bw.Err()
}

// qtypeName names a DNS query type the way dig does: dnsmessage's name
// without its "Type" prefix (ANY for ALL), TYPEnnn for numbers it lacks.
func qtypeName(t uint16) string {
	if n, ok := strings.CutPrefix(dnsmessage.Type(t).String(), "Type"); ok {
		if n == "ALL" {
			return "ANY"
		}
		return n
	}
	return fmt.Sprintf("TYPE%d", t)
}

func hostPort(e store.NetEvent) string {
	switch {
	case e.Family == linux.AF_UNIX:
		return "unix:" + e.Address
	case strings.Contains(e.Address, ":"):
		return fmt.Sprintf("[%s]:%d", e.Address, e.Port)
	}
	return fmt.Sprintf("%s:%d", e.Address, e.Port)
}

func procChain(tr *store.Trace, idx int32) string {
	if idx >= 0 && int(idx) < len(tr.Processes) {
		return tr.Processes[idx].Chain
	}
	return "?"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
