package htmlreport

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/behavediff/behavediff/store"
)

// Caps bound what one report holds; each one that applies is stated in the
// report's limits.
type Caps struct {
	Processes int // process images
	Events    int // distinct behaviours (process, kind, op, target, error)
	PerProc   int // distinct behaviours per process
	Changes   int // workspace changes
	Evidence  int // evidence rows per finding
	Output    int // bytes of stdout / stderr
	Buckets   int // timeline buckets per process
}

// DefaultCaps keep a report of any run under ~3 MB.
var DefaultCaps = Caps{Processes: 5000, Events: 20000, PerProc: 500, Changes: 5000, Evidence: 20, Output: 64 << 10, Buckets: 60}

// Data is everything the page shows (embedded as JSON).
type Data struct {
	Tool      string    `json:"tool"`
	Run       RunInfo   `json:"run"`
	Limits    []string  `json:"limits"`
	Processes []Proc    `json:"processes"`
	Events    []Event   `json:"events"`
	Findings  []Finding `json:"findings"`
	Check     string    `json:"check,omitempty"` // the check the findings come from
	Changes   [][]any   `json:"changes"`         // path, change, size, sha256, is_dir
	Syscalls  [][]any   `json:"syscalls"`        // name, count, errors
	Buckets   int       `json:"buckets"`
	Lost      [][]any   `json:"lost"` // class, count
}

// RunInfo is the run's metadata.
type RunInfo struct {
	ID          int64  `json:"id"`
	Name        string `json:"name"`
	Command     string `json:"command"`
	Workspace   string `json:"workspace"`
	StartedAt   string `json:"started_at"`
	EndedAt     string `json:"ended_at"`
	DurationMS  int64  `json:"duration_ms"`
	Status      string `json:"status"`
	ExitCode    int64  `json:"exit_code"`
	Error       string `json:"error"`
	LostEvents  int64  `json:"lost_events"`
	FileEvents  int64  `json:"file_events"`
	NetEvents   int64  `json:"net_events"`
	PrivEvents  int64  `json:"priv_events"`
	ReplayOf    int64  `json:"replay_of"`
	Stdout      string `json:"stdout"`
	Stderr      string `json:"stderr"`
	ToolVersion string `json:"tool_version"`
}

// Proc is one process image with its event counts and timeline.
type Proc struct {
	Idx      int64    `json:"idx"`
	Parent   int64    `json:"parent"` // -1: the first process
	Pid      int64    `json:"pid"`
	Exe      string   `json:"exe"`
	Argv     string   `json:"argv"` // JSON array text
	Start    int64    `json:"start"`
	Exit     int64    `json:"exit"` // -1 when not seen
	Code     *int64   `json:"code"`
	Signal   *int64   `json:"signal"`
	Counts   [3]int64 `json:"counts"` // file, net, priv events
	Timeline [][]int  `json:"timeline,omitempty"`
}

// Event is one distinct behaviour of a process: kind (exec, file, net,
// priv), operation, target, error, how often and when first.
type Event struct {
	P     int64  `json:"p"`
	Kind  string `json:"k"`
	Op    string `json:"o"`
	What  string `json:"w"`
	Err   string `json:"e,omitempty"`
	N     int64  `json:"n"`
	First int64  `json:"t"`
}

// Finding is a stored finding with the rows behind it.
type Finding struct {
	Level    string   `json:"level"`
	RuleID   string   `json:"rule_id"`
	Kind     string   `json:"kind"`
	Change   string   `json:"change"`
	Section  string   `json:"section"`
	Subject  string   `json:"subject"`
	Reason   string   `json:"reason"`
	Process  string   `json:"process"`
	Query    string   `json:"query"`
	Columns  []string `json:"columns,omitempty"`
	Evidence [][]any  `json:"evidence,omitempty"`
	More     bool     `json:"more,omitempty"`
}

type gatherer struct {
	ctx  context.Context
	db   *store.DB
	run  int64
	caps Caps
	d    *Data
}

func (g *gatherer) each(q string, fn func(row []any) error, args ...any) error {
	return g.db.QueryEach(g.ctx, q, append([]any{g.run}, args...), func(_ []string, row []any) error { return fn(row) })
}

// Gather reads what the report shows about run id.
func Gather(ctx context.Context, db *store.DB, id int64, caps Caps, tool string) (*Data, error) {
	g := &gatherer{ctx: ctx, db: db, run: id, caps: caps, d: &Data{Tool: tool, Buckets: caps.Buckets}}
	for _, step := range []struct {
		what string
		f    func() error
	}{
		{"run", g.runInfo}, {"processes", g.processes}, {"events", g.events}, {"timeline", g.timeline},
		{"findings", g.findings}, {"changes", g.changes}, {"syscalls", g.syscalls},
	} {
		if err := step.f(); err != nil {
			return nil, fmt.Errorf("report of run %d: %s: %w", id, step.what, err)
		}
	}
	return g.d, nil
}

func str(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

func num(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case float64:
		return int64(x)
	}
	return 0
}

func (g *gatherer) clip(b any, trunc any) string {
	s := str(b)
	if len(s) > g.caps.Output {
		s = s[:g.caps.Output]
		trunc = int64(1)
	}
	if num(trunc) != 0 {
		s += "\n[… truncated]"
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

func (g *gatherer) runInfo() error {
	found := false
	err := g.each(`SELECT id, name, command, workspace, started_at, ended_at, duration_ms, status, exit_code, error, lost_events,
		file_event_count, net_event_count, priv_event_count, replay_of, stdout, stderr, stdout_trunc, stderr_trunc, tool_version
		FROM runs WHERE id = ?`, func(r []any) error {
		found = true
		g.d.Run = RunInfo{ID: num(r[0]), Name: str(r[1]), Command: str(r[2]), Workspace: str(r[3]), StartedAt: str(r[4]),
			EndedAt: str(r[5]), DurationMS: num(r[6]), Status: str(r[7]), ExitCode: num(r[8]), Error: str(r[9]),
			LostEvents: num(r[10]), FileEvents: num(r[11]), NetEvents: num(r[12]), PrivEvents: num(r[13]), ReplayOf: num(r[14]),
			Stdout: g.clip(r[15], r[17]), Stderr: g.clip(r[16], r[18]), ToolVersion: str(r[19])}
		return nil
	})
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("no run %d (see behavediff runs)", g.run)
	}
	return g.each("SELECT class, count FROM lost_events WHERE run_id = ? ORDER BY class", func(r []any) error {
		g.d.Lost = append(g.d.Lost, []any{str(r[0]), num(r[1])})
		return nil
	})
}

func (g *gatherer) processes() error {
	total := 0
	err := g.each(`SELECT idx, coalesce(parent_idx, -1), pid, exe, argv, started_at, coalesce(exited_at, -1), exit_code, exit_signal
		FROM processes WHERE run_id = ? ORDER BY idx`, func(r []any) error {
		total++
		if len(g.d.Processes) >= g.caps.Processes {
			return nil
		}
		p := Proc{Idx: num(r[0]), Parent: num(r[1]), Pid: num(r[2]), Exe: str(r[3]), Argv: str(r[4]), Start: num(r[5]), Exit: num(r[6])}
		if r[7] != nil {
			c := num(r[7])
			p.Code = &c
		}
		if r[8] != nil {
			s := num(r[8])
			p.Signal = &s
		}
		g.d.Processes = append(g.d.Processes, p)
		return nil
	})
	if total > g.caps.Processes {
		g.limit("processes: %d recorded, the first %d shown", total, g.caps.Processes)
	}
	return err
}

func (g *gatherer) limit(format string, args ...any) {
	g.d.Limits = append(g.d.Limits, fmt.Sprintf(format, args...))
}

// procIndex maps a process idx to its position in Processes (-1: not shown).
func (g *gatherer) procIndex() map[int64]int {
	m := make(map[int64]int, len(g.d.Processes))
	for i, p := range g.d.Processes {
		m[p.Idx] = i
	}
	return m
}

// events collects distinct behaviours per process, in recording order of
// their first occurrence, under the per-process and total caps.
func (g *gatherer) events() error {
	idx := g.procIndex()
	perProc := map[int64]int{}
	distinct := 0
	add := func(e Event, count int64, kind int) {
		if i, ok := idx[e.P]; ok {
			g.d.Processes[i].Counts[kind] += count
		}
		distinct++
		if perProc[e.P] >= g.caps.PerProc || len(g.d.Events) >= g.caps.Events {
			return
		}
		perProc[e.P]++
		g.d.Events = append(g.d.Events, e)
	}
	qs := []struct {
		kind int
		q    string
		f    func(r []any) Event
	}{
		{0, `SELECT proc_idx, op, path, path2, error, count(*), min(ts), min(seq) FROM file_events WHERE run_id = ?
			GROUP BY proc_idx, op, path, path2, error ORDER BY 8`, func(r []any) Event {
			k, what := "file", str(r[2])
			if str(r[1]) == "exec" {
				k = "exec"
			}
			if r[3] != nil {
				what += " → " + str(r[3])
			}
			return Event{P: num(r[0]), Kind: k, Op: str(r[1]), What: what, Err: str(r[4]), N: num(r[5]), First: num(r[6])}
		}},
		{1, `SELECT proc_idx, op, family, address, port, domain, qtype, error, count(*), min(ts), min(seq) FROM net_events WHERE run_id = ?
			GROUP BY proc_idx, op, family, address, port, domain, qtype, error ORDER BY 11`, func(r []any) Event {
			what := str(r[3])
			if r[4] != nil {
				what += ":" + strconv.FormatInt(num(r[4]), 10)
			}
			if r[5] != nil {
				what = strings.TrimSpace(str(r[5]) + " " + str(r[6]) + " " + what)
			}
			if what == "" {
				what = str(r[2])
			}
			return Event{P: num(r[0]), Kind: "net", Op: str(r[1]), What: what, Err: str(r[7]), N: num(r[8]), First: num(r[9])}
		}},
		{2, `SELECT proc_idx, syscall, args, error, count(*), min(ts), min(seq) FROM priv_events WHERE run_id = ?
			GROUP BY proc_idx, syscall, args, error ORDER BY 7`, func(r []any) Event {
			return Event{P: num(r[0]), Kind: "priv", Op: str(r[1]), What: str(r[2]), Err: str(r[3]), N: num(r[4]), First: num(r[5])}
		}},
	}
	for _, q := range qs {
		if err := g.each(q.q, func(r []any) error {
			e := q.f(r)
			add(e, e.N, q.kind)
			return nil
		}); err != nil {
			return err
		}
	}
	if distinct > len(g.d.Events) {
		g.limit("events: %d distinct behaviours (process, operation, target, error), %d shown (at most %d per process, %d in all); counts and the timeline include every event",
			distinct, len(g.d.Events), g.caps.PerProc, g.caps.Events)
	}
	return nil
}

// timeline counts each process's events in Buckets equal time slices of
// the run, by kind (0 exec, 1 file, 2 net, 3 priv).
func (g *gatherer) timeline() error {
	dur := g.d.Run.DurationMS * 1_000_000
	for _, p := range g.d.Processes {
		dur = max(dur, p.Exit, p.Start)
	}
	dur = max(dur, 1)
	idx := g.procIndex()
	b := int64(g.caps.Buckets)
	bucket := fmt.Sprintf("min(%d, ts * %d / %d)", b-1, b, dur)
	qs := []string{
		"SELECT proc_idx, CASE WHEN op = 'exec' THEN 0 ELSE 1 END, " + bucket + ", count(*) FROM file_events WHERE run_id = ? GROUP BY 1, 2, 3",
		"SELECT proc_idx, 2, " + bucket + ", count(*) FROM net_events WHERE run_id = ? GROUP BY 1, 3",
		"SELECT proc_idx, 3, " + bucket + ", count(*) FROM priv_events WHERE run_id = ? GROUP BY 1, 3",
	}
	for _, q := range qs {
		if err := g.each(q, func(r []any) error {
			i, ok := idx[num(r[0])]
			if !ok {
				return nil
			}
			p := &g.d.Processes[i]
			if p.Timeline == nil {
				p.Timeline = make([][]int, 4)
				for k := range p.Timeline {
					p.Timeline[k] = make([]int, b)
				}
			}
			k, bk := num(r[1]), max(0, min(num(r[2]), b-1))
			p.Timeline[k][bk] += int(num(r[3]))
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// findings reads the newest check of the run and runs each finding's query
// for its evidence.
func (g *gatherer) findings() error {
	var check int64
	err := g.each("SELECT id, status, fail_on, checked_at FROM checks WHERE run_id = ? ORDER BY id DESC LIMIT 1", func(r []any) error {
		check = num(r[0])
		g.d.Check = fmt.Sprintf("check %d at %s: %s (fails on %s)", check, str(r[3]), str(r[1]), str(r[2]))
		return nil
	})
	if err != nil || check == 0 {
		return err
	}
	err = g.db.QueryEach(g.ctx, `SELECT level, rule_id, kind, change, section, subject, reason, process, query
		FROM findings WHERE check_id = ? ORDER BY idx`, []any{check}, func(_ []string, r []any) error {
		g.d.Findings = append(g.d.Findings, Finding{Level: str(r[0]), RuleID: str(r[1]), Kind: str(r[2]), Change: str(r[3]),
			Section: str(r[4]), Subject: str(r[5]), Reason: str(r[6]), Process: str(r[7]), Query: str(r[8])})
		return nil
	})
	if err != nil {
		return err
	}
	for i := range g.d.Findings {
		g.evidence(&g.d.Findings[i])
	}
	return nil
}

// evidence runs the SQL inside a finding's "behavediff query" hint (read
// only, like behavediff query) and keeps its first rows. A query that does
// not run is left without evidence: the hint is still shown.
func (g *gatherer) evidence(f *Finding) {
	q := sqlOfHint(f.Query)
	if q == "" {
		return
	}
	_ = g.db.QueryEach(g.ctx, q, nil, func(cols []string, r []any) error {
		if f.Columns == nil {
			f.Columns = append([]string(nil), cols...)
		}
		if len(f.Evidence) >= g.caps.Evidence {
			f.More = true
			return errStop
		}
		row := make([]any, len(r))
		for i, v := range r {
			if b, ok := v.([]byte); ok {
				v = string(b)
			}
			row[i] = v
		}
		f.Evidence = append(f.Evidence, row)
		return nil
	})
}

var errStop = fmt.Errorf("enough rows")

// sqlOfHint extracts SQL from `behavediff query "SQL"`.
func sqlOfHint(h string) string {
	const p = `behavediff query "`
	if !strings.HasPrefix(h, p) || !strings.HasSuffix(h, `"`) {
		return ""
	}
	q := h[len(p) : len(h)-1]
	// The inverse of diff's shell quoting (one pass, left to right).
	return strings.NewReplacer(`\\`, `\`, `\"`, `"`, `\$`, `$`, "\\`", "`").Replace(q)
}

func (g *gatherer) changes() error {
	total := 0
	err := g.each("SELECT path, change, size, sha256, is_dir FROM fs_changes WHERE run_id = ? ORDER BY path", func(r []any) error {
		total++
		if len(g.d.Changes) < g.caps.Changes {
			g.d.Changes = append(g.d.Changes, []any{str(r[0]), str(r[1]), r[2], r[3], num(r[4])})
		}
		return nil
	})
	if total > g.caps.Changes {
		g.limit("workspace changes: %d, the first %d by path shown", total, g.caps.Changes)
	}
	return err
}

func (g *gatherer) syscalls() error {
	return g.each("SELECT name, sum(count), sum(errors) FROM syscalls WHERE run_id = ? GROUP BY name ORDER BY 2 DESC, 1", func(r []any) error {
		g.d.Syscalls = append(g.d.Syscalls, []any{str(r[0]), num(r[1]), num(r[2])})
		return nil
	})
}
