// The types in this file are the in-memory form of a trace. The recorder
// produces them, the store writes and reads them, and baseline/diff consume
// them; nothing in this package knows about eBPF or containerd.

package store

import "time"

// Run statuses. A run is written as StatusRunning first and only moves to a
// final status when the recorder finished it, so a crashed recorder can never
// leave a run that looks complete.
const (
	StatusRunning     = "running"     // recorder still working (or died: see Open's repair)
	StatusOK          = "ok"          // command ran to completion, every event stored
	StatusTimeout     = "timeout"     // killed after --timeout
	StatusInterrupted = "interrupted" // behavediff was interrupted (signal, crash)
	StatusIncomplete  = "incomplete"  // completed but events were lost
	StatusError       = "error"       // behavediff itself failed (sandbox, eBPF, ...)
)

// Kinds of malformed input counted per run (malformed_inputs.kind). The
// traced code controls these bytes, so one that does not parse is counted,
// not an error: the run stays ok.
const (
	MalformedDNSQuery  = "dns_query"  // sent to port 53, not a DNS query (still recorded as a send)
	MalformedDNSAnswer = "dns_answer" // received from port 53, not a DNS response
)

// Run is one recorded execution. ExitCode is -1 while unknown.
type Run struct {
	ID         int64
	Name       string   // spec name (record --name), may be empty
	Command    []string // argv as given by the user
	Workspace  string   // absolute host path
	StartedAt  time.Time
	EndedAt    time.Time // zero while running
	ExitCode   int
	Status     string
	LostEvents int64
	// LostByClass breaks LostEvents down by event class (exec, file, net, ...).
	LostByClass map[string]int64
	// Malformed counts inputs of the run that did not parse, by kind
	// (MalformedDNSQuery, MalformedDNSAnswer): see malformed_inputs.
	Malformed map[string]int64
	// Spec is the JSON run specification used to replay the run.
	Spec []byte
	// ReplayOf links a replayed run to its original; 0 when not a replay.
	ReplayOf                 int64
	Stdout, Stderr           []byte
	StdoutCap, StderrCap     int64 // the cap in force
	StdoutTrunc, StderrTrunc bool  // true when output exceeded the cap
	ToolVersion              string
	// Error is why the run failed (the cause given to RunWriter.Abort, or
	// the repair note for a run whose recorder died); empty otherwise.
	Error string
	// Limits are the sandbox's bounds; zero values when not recorded.
	Limits Limits
	// LimitsHit names the bounds the run reached, e.g.
	// "disk limit 4 GiB reached".
	LimitsHit []string
}

// Limits are the resource bounds a run's sandbox had.
type Limits struct {
	MemoryBytes int64
	Pids        int64
	DiskBytes   int64
	TmpfsBytes  int64
	CPUs        float64
}

// Process is one process image: a fork creates one, and so does an exec by a
// process that had already exec'd (a forked child's first exec updates its
// row in place, so `sh -c cat` shows sh → cat). Idx is unique within a run and
// is what events refer to; Pid is the host pid and may repeat across images.
type Process struct {
	Idx       int32
	Pid       int32
	Ppid      int32
	ParentIdx int32  // -1 for the container's first process
	Exe       string // the file the kernel ran (symlinks resolved)
	Argv      []string
	// Env is the environment at exec, "NAME=VALUE" each; the recorder
	// redacts the values of secret-looking names to "NAME=<redacted>".
	Env []string
	Cwd string
	UID uint32
	// ArgvTruncated, EnvTruncated: the sensor kept only the first 32 KiB of
	// argv / 16 KiB of the environment.
	ArgvTruncated, EnvTruncated bool
	// Replaced: the image ended by exec'ing another program; it never
	// exited, so it has no exit code (Exited and ExitedAt say when it ended).
	Replaced bool
	// Chain is the ancestor exe chain up to the first process, e.g.
	// "/bin/sh > /usr/bin/python3 > /usr/bin/curl" (includes Exe itself).
	Chain      string
	StartedAt  int64 // ns since run start
	ExitedAt   int64 // ns since run start; 0 when not seen
	Exited     bool
	ExitCode   int32 // valid when Exited and ExitSignal == 0
	ExitSignal int32
}

// FileOp names a file operation. Stored as an integer; views expose the name.
type FileOp uint8

const (
	FileOpen FileOp = iota + 1 // open/openat/openat2/creat; Flags has O_* flags
	FileUnlink
	FileRename // Path -> Path2
	FileMkdir
	FileRmdir
	FileLink    // hard link Path2 -> Path (Path2 is the new name)
	FileSymlink // Path2 is the new link, Path its target text
	FileChmod   // Mode set; setuid/setgid visible in Mode
	FileChown
	FileTruncate
	FileUtimes
	FileMknod
	FileExec  // execve of Path
	FileMemfd // memfd_create, Path is "memfd:NAME"
	FileChdir
	FileStat // stat/access/readlink family (only when recorded)
)

// FileOpNames maps FileOp values to their public names used in views.
var FileOpNames = map[FileOp]string{
	FileOpen: "open", FileUnlink: "unlink", FileRename: "rename", FileMkdir: "mkdir",
	FileRmdir: "rmdir", FileLink: "link", FileSymlink: "symlink", FileChmod: "chmod",
	FileChown: "chown", FileTruncate: "truncate", FileUtimes: "utimes", FileMknod: "mknod",
	FileExec: "exec", FileMemfd: "memfd_create", FileChdir: "chdir", FileStat: "stat",
}

// FileEvent is one file syscall. Result is the syscall's return value: >= 0 on
// success, -errno on failure (a failed attempt is still an event).
type FileEvent struct {
	Proc  int32 // Process.Idx
	Op    FileOp
	Path  string // absolute; see PathState
	Path2 string // second path for rename/link/symlink
	// PathState says how far Path and Path2 can be trusted (PathKernel: as
	// the kernel resolved it, or an absolute string without '..').
	PathState PathState
	Flags     uint32 // open flags
	Mode      uint32 // mode for open(O_CREAT)/chmod/mkdir/mknod
	Result    int64
	TS        int64 // ns since run start
}

// PathState is how a FileEvent's path is known.
type PathState uint8

const (
	PathKernel PathState = iota
	// PathUnresolved: the caller's string kept as written ('..' after a
	// component that may be a symlink, or relative without a known base). It
	// need not name the file the kernel used.
	PathUnresolved
	// PathTruncated: the kernel path was deeper than the sensor walks; the
	// path starts with "..." and holds only the tail.
	PathTruncated
	// PathLate: no copy the sensor can vouch for: the caller's string as
	// read when the call returned (the page was not resident at entry and
	// the kernel's copy was not caught), or a path over 4000 bytes, which
	// getname() keeps where the sensor does not read it. Like
	// PathUnresolved, it need not name the file the kernel used.
	PathLate
	// PathRaced: the caller's string changed while the kernel was using it
	// (a racing writer; honest code never does this). Path is the kernel's
	// copy where the sensor caught it, else the copy from syscall entry.
	PathRaced
)

// NetOp names a network operation.
type NetOp uint8

const (
	NetSocket NetOp = iota + 1
	NetConnect
	NetBind
	NetListen
	NetAccept
	NetSend // sendto/sendmsg/sendmmsg with an explicit or connected destination
	NetDNS  // a DNS query parsed from a send to port 53; Domain and QType set
	// NetDNSAnswer is one address in a DNS answer received from port 53:
	// Address is the answered IP, Domain the name that was asked for, QType
	// the record type (A, AAAA). Recorded once per (name, address) per run.
	NetDNSAnswer
)

// NetOpNames maps NetOp values to their public names used in views.
var NetOpNames = map[NetOp]string{
	NetSocket: "socket", NetConnect: "connect", NetBind: "bind", NetListen: "listen",
	NetAccept: "accept", NetSend: "send", NetDNS: "dns", NetDNSAnswer: "dns_answer",
}

// NetEvent is one network syscall. Family is AF_INET=2, AF_INET6=10, AF_UNIX=1.
type NetEvent struct {
	Proc     int32
	Op       NetOp
	Family   uint16
	SockType uint16 // SOCK_STREAM=1, SOCK_DGRAM=2, ... (0 when unknown)
	Address  string // IP text, or unix socket path ("@name" for abstract)
	Port     uint16
	Domain   string // DNS name queried (NetDNS), or answered with Address (NetDNSAnswer)
	QType    uint16 // DNS query type (1=A, 28=AAAA, ...)
	Result   int64
	TS       int64
	// Verdict is the kernel-side network policy's decision on this address
	// (the cgroup sock_addr hooks): NetAllowed unless it refused the call
	// or killed its caller.
	Verdict NetVerdict
}

// NetVerdict is a network policy decision.
type NetVerdict uint8

const (
	NetAllowed NetVerdict = iota // no objection (or no policy for the address)
	NetDenied                    // refused: the call failed with EPERM
	NetKilled                    // too late to refuse: the caller was killed at the call's return
)

// PrivEvent is a privilege or namespace related syscall with decoded args.
type PrivEvent struct {
	Proc    int32
	Syscall string
	Args    string // human readable decoded arguments, e.g. "flags=CLONE_NEWUSER|CLONE_NEWNET"
	Result  int64
	TS      int64
}

// SyscallCount is how often one process image made one syscall.
type SyscallCount struct {
	Proc   int32
	Name   string
	Count  uint64
	Errors uint64
}

// FSChange is one path the run changed in its copy-on-write workspace.
type FSChange struct {
	Path   string // absolute path inside the workspace
	Change string // "created", "modified", "deleted"
	Size   int64  // -1 for deletions and directories
	SHA256 string // hex, empty for deletions and directories
	IsDir  bool
}

// Trace is a whole run loaded back from the store.
type Trace struct {
	Run       Run
	Processes []Process
	Files     []FileEvent
	Net       []NetEvent
	Priv      []PrivEvent
	Syscalls  []SyscallCount
	Changes   []FSChange
	Proxy     []ProxyRequest // --net proxy runs: requests and DNS queries, in arrival order
}
