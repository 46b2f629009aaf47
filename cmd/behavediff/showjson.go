package main

import (
	"fmt"
	"io"

	"github.com/behavediff/behavediff/internal/linux"
	"github.com/behavediff/behavediff/store"
)

// showJSONVersion versions the `show --format json` document (docs/schema.md,
// "show --format json"). Field names and values are those of the SQL views.
const showJSONVersion = 1

// runTimeFormat is the runs view's time format: RFC 3339 UTC, milliseconds.
const runTimeFormat = "2006-01-02T15:04:05.000Z07:00"

type showDoc struct {
	SchemaVersion int           `json:"schema_version"`
	Run           showRun       `json:"run"`
	Processes     []showProc    `json:"processes"`
	FileEvents    []showFile    `json:"file_events"`
	NetEvents     []showNet     `json:"net_events"`
	PrivEvents    []showPriv    `json:"priv_events"`
	Syscalls      []showSyscall `json:"syscalls"`
	FSChanges     []showChange  `json:"fs_changes"`
}

type showRun struct {
	ID          int64            `json:"id"`
	Name        string           `json:"name,omitempty"`
	Command     []string         `json:"command"`
	Workspace   string           `json:"workspace"`
	Status      string           `json:"status"`
	ExitCode    int              `json:"exit_code"`
	StartedAt   string           `json:"started_at"`
	EndedAt     string           `json:"ended_at,omitempty"`
	DurationMS  int64            `json:"duration_ms"`
	LostEvents  int64            `json:"lost_events"`
	LostByClass map[string]int64 `json:"lost_by_class,omitempty"`
	ReplayOf    int64            `json:"replay_of,omitempty"`
	ToolVersion string           `json:"tool_version,omitempty"`
	Error       string           `json:"error,omitempty"`
	Stdout      string           `json:"stdout,omitempty"`
	Stderr      string           `json:"stderr,omitempty"`
	StdoutTrunc bool             `json:"stdout_trunc,omitempty"`
	StderrTrunc bool             `json:"stderr_trunc,omitempty"`
}

type showProc struct {
	Idx        int32    `json:"idx"`
	ParentIdx  int32    `json:"parent_idx"`
	Pid        int32    `json:"pid"`
	Ppid       int32    `json:"ppid"`
	Exe        string   `json:"exe"`
	Argv       []string `json:"argv"`
	Cwd        string   `json:"cwd,omitempty"`
	UID        uint32   `json:"uid"`
	Chain      string   `json:"chain"`
	StartedAt  int64    `json:"started_at"`
	ExitedAt   *int64   `json:"exited_at"`
	ExitCode   *int32   `json:"exit_code"`
	ExitSignal int32    `json:"exit_signal,omitempty"`
}

type showFile struct {
	ProcIdx int32  `json:"proc_idx"`
	Exe     string `json:"exe"`
	Op      string `json:"op"`
	Access  string `json:"access"`
	Path    string `json:"path"`
	Path2   string `json:"path2,omitempty"`
	Flags   uint32 `json:"flags"`
	Mode    uint32 `json:"mode,omitempty"`
	Result  int64  `json:"result"`
	Error   string `json:"error,omitempty"`
	TS      int64  `json:"ts"`
}

type showNet struct {
	ProcIdx  int32  `json:"proc_idx"`
	Exe      string `json:"exe"`
	Op       string `json:"op"`
	Family   string `json:"family"`
	SockType string `json:"sock_type,omitempty"`
	Address  string `json:"address,omitempty"`
	Port     uint16 `json:"port"`
	Domain   string `json:"domain,omitempty"`
	QType    string `json:"qtype,omitempty"`
	Result   int64  `json:"result"`
	Error    string `json:"error,omitempty"`
	TS       int64  `json:"ts"`
}

type showPriv struct {
	ProcIdx int32  `json:"proc_idx"`
	Exe     string `json:"exe"`
	Syscall string `json:"syscall"`
	Args    string `json:"args,omitempty"`
	Result  int64  `json:"result"`
	Error   string `json:"error,omitempty"`
	TS      int64  `json:"ts"`
}

type showSyscall struct {
	ProcIdx int32  `json:"proc_idx"`
	Exe     string `json:"exe"`
	Name    string `json:"name"`
	Count   uint64 `json:"count"`
	Errors  uint64 `json:"errors"`
}

type showChange struct {
	Path   string `json:"path"`
	Change string `json:"change"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"`
	IsDir  bool   `json:"is_dir"`
}

// writeShowJSON renders a trace as the documented JSON document.
func writeShowJSON(w io.Writer, tr *store.Trace) error {
	r := tr.Run
	doc := showDoc{SchemaVersion: showJSONVersion, Run: showRun{
		ID: r.ID, Name: r.Name, Command: r.Command, Workspace: r.Workspace, Status: r.Status,
		ExitCode: r.ExitCode, StartedAt: r.StartedAt.UTC().Format(runTimeFormat),
		DurationMS: runDuration(r).Milliseconds(), LostEvents: r.LostEvents, LostByClass: r.LostByClass,
		ReplayOf: r.ReplayOf, ToolVersion: r.ToolVersion, Error: r.Error,
		Stdout: string(r.Stdout), Stderr: string(r.Stderr), StdoutTrunc: r.StdoutTrunc, StderrTrunc: r.StderrTrunc,
	}}
	if !r.EndedAt.IsZero() {
		doc.Run.EndedAt = r.EndedAt.UTC().Format(runTimeFormat)
	}
	exe := func(idx int32) string {
		if idx >= 0 && int(idx) < len(tr.Processes) {
			return tr.Processes[idx].Exe
		}
		return ""
	}
	errName := func(res int64) string {
		if res >= 0 {
			return ""
		}
		return errnoText(res)
	}
	doc.Processes = make([]showProc, 0, len(tr.Processes))
	for _, p := range tr.Processes {
		sp := showProc{Idx: p.Idx, ParentIdx: p.ParentIdx, Pid: p.Pid, Ppid: p.Ppid, Exe: p.Exe, Argv: p.Argv,
			Cwd: p.Cwd, UID: p.UID, Chain: p.Chain, StartedAt: p.StartedAt, ExitSignal: p.ExitSignal}
		if p.Exited {
			at, code := p.ExitedAt, p.ExitCode
			sp.ExitedAt, sp.ExitCode = &at, &code
		}
		doc.Processes = append(doc.Processes, sp)
	}
	doc.FileEvents = make([]showFile, 0, len(tr.Files))
	for _, e := range tr.Files {
		doc.FileEvents = append(doc.FileEvents, showFile{ProcIdx: e.Proc, Exe: exe(e.Proc), Op: store.FileOpNames[e.Op],
			Access: fileAccess(e), Path: e.Path, Path2: e.Path2, Flags: e.Flags, Mode: e.Mode,
			Result: e.Result, Error: errName(e.Result), TS: e.TS})
	}
	doc.NetEvents = make([]showNet, 0, len(tr.Net))
	for _, e := range tr.Net {
		sn := showNet{ProcIdx: e.Proc, Exe: exe(e.Proc), Op: store.NetOpNames[e.Op], Family: familyName(e.Family),
			SockType: sockTypeName(e.SockType), Address: e.Address, Port: e.Port, Domain: e.Domain,
			Result: e.Result, Error: errName(e.Result), TS: e.TS}
		if e.Op == store.NetDNS || e.Op == store.NetDNSAnswer {
			sn.QType = qtypeName(e.QType)
		}
		doc.NetEvents = append(doc.NetEvents, sn)
	}
	doc.PrivEvents = make([]showPriv, 0, len(tr.Priv))
	for _, e := range tr.Priv {
		doc.PrivEvents = append(doc.PrivEvents, showPriv{ProcIdx: e.Proc, Exe: exe(e.Proc), Syscall: e.Syscall, Args: e.Args,
			Result: e.Result, Error: errName(e.Result), TS: e.TS})
	}
	doc.Syscalls = make([]showSyscall, 0, len(tr.Syscalls))
	for _, s := range tr.Syscalls {
		doc.Syscalls = append(doc.Syscalls, showSyscall{ProcIdx: s.Proc, Exe: exe(s.Proc), Name: s.Name, Count: s.Count, Errors: s.Errors})
	}
	doc.FSChanges = make([]showChange, 0, len(tr.Changes))
	for _, c := range tr.Changes {
		doc.FSChanges = append(doc.FSChanges, showChange{Path: c.Path, Change: c.Change, Size: c.Size, SHA256: c.SHA256, IsDir: c.IsDir})
	}
	return writeJSON(w, doc)
}

// fileAccess is file_events.access (store/migrations/004_file_access.sql).
func fileAccess(e store.FileEvent) string {
	switch e.Op {
	case store.FileOpen:
		switch {
		case e.Flags&linux.O_CREAT != 0:
			return "create"
		case e.Flags&linux.O_ACCMODE != 0 || e.Flags&linux.O_TRUNC != 0:
			return "write"
		}
		return "read"
	case store.FileMkdir, store.FileMknod, store.FileLink, store.FileSymlink, store.FileMemfd:
		return "create"
	case store.FileUnlink, store.FileRmdir, store.FileRename, store.FileChmod, store.FileChown, store.FileTruncate, store.FileUtimes:
		return "write"
	case store.FileExec:
		return "exec"
	}
	return "read"
}

func familyName(f uint16) string {
	switch f {
	case 1:
		return "unix"
	case 2:
		return "inet"
	case 10:
		return "inet6"
	case 16:
		return "netlink"
	case 17:
		return "packet"
	}
	return fmt.Sprintf("af%d", f)
}

func sockTypeName(t uint16) string {
	switch t {
	case 0:
		return ""
	case 1:
		return "stream"
	case 2:
		return "dgram"
	case 3:
		return "raw"
	case 5:
		return "seqpacket"
	}
	return fmt.Sprintf("type%d", t)
}
