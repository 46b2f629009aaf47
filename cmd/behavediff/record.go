package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/behavediff/behavediff/policy"
	"github.com/behavediff/behavediff/recorder"
	"github.com/behavediff/behavediff/recorder/sandbox"
	"github.com/behavediff/behavediff/snapshot"
	"github.com/behavediff/behavediff/store"
)

// stringList is a repeatable string flag (--env K=V --env K2=V2).
type stringList []string

func (s *stringList) String() string     { return fmt.Sprint(*s) }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

const recordAbout = `
Runs CMD in a fresh containerd sandbox and records its behaviour with eBPF
into the trace database: the process tree, every syscall (counts and errors),
files opened/written/created/deleted/renamed, network attempts (connect, bind,
listen, sends, DNS names) and privilege or namespace syscalls.

The sandbox is safe by default: the host's root filesystem read-only, the
workspace copy-on-write (the program may write; your files stay untouched
unless --keep-changes), the command running as the workspace's owner, a
private /tmp, no capabilities, no-new-privileges, containerd's seccomp
profile, no network (only loopback), limits on memory, processes and disk
(named on stderr when reached), a low CPU weight (every idle CPU is the
sandbox's, but it yields to the host's own processes; --cpus adds a hard
cap), a timeout that holds even if behavediff is killed, and a minimal
environment (PATH, HOME, LANG, TERM plus --env).
Host secrets (~/.ssh, ~/.aws, ~/.kube, ...) and the project's .behavediff
are masked empty; an attempt to read them is still recorded. --keep-changes
never writes .behavediff or the trace database, never writes through a
symlink, and drops setuid/setgid bits. See docs/sandbox.md.

Without --address, behavediff starts (once) and reuses a private containerd.
The command's exit code becomes behavediff's; 124 means timed out, 130
interrupted, 127 that the command does not exist in the sandbox, 125 that
behavediff itself failed. The run id is printed on
stderr at the end.

Network (--net): none (default) is loopback only. proxy keeps the sandbox
without a route out and serves an egress proxy and a DNS resolver inside it
(HTTP_PROXY, HTTPS_PROXY, ALL_PROXY are set; HTTP CONNECT, plain HTTP and
SOCKS5): only the --allow endpoints are dialled, from the host, and every
request and query is recorded (query proxy_requests). host shares the
host's network (--network is the same). --enforce applies the approved
baseline of --name: its egress endpoints become the allow-list.

Examples:
  behavediff record -- ./install.sh
  behavediff record --allow pypi.org:443 --allow files.pythonhosted.org:443 -- pip download requests
  behavediff record --allow api.internal:8443 --add-host api.internal:10.0.0.7 -- ./agent
  behavediff record --name build --timeout 5m -- make
  behavediff record --env API_URL=http://localhost -i -- python3 agent.py < task.txt`

type recordFlags struct {
	db, address, workspace, name, rootfs, image string
	timeout                                     time.Duration
	env                                         stringList
	stdin, keep, allowLoss, network             bool
	net                                         string
	allow, addHosts                             stringList
	enforce                                     bool
	insecure                                    stringList
	memory, pids                                int64
	disk, tmpfsSize, user, userns               string
	cpus                                        float64
	ringBuf                                     int
}

func (a *app) recordFlagSet(f *recordFlags) *flag.FlagSet {
	fs := a.newFlags("record", "[flags] -- CMD [ARGS...]", recordAbout)
	fs.StringVar(&f.db, "db", "", "trace database `file`, created if missing (default .behavediff/traces.db in the project)")
	fs.StringVar(&f.address, "address", "", "containerd socket `path`; empty = behavediff's private daemon")
	fs.StringVar(&f.workspace, "workspace", "", "workspace `dir` mounted copy-on-write and used as cwd (default: current directory)")
	fs.StringVar(&f.name, "name", "", "spec `name`: stores the spec in .behavediff/specs/NAME.yaml for replay and check")
	fs.StringVar(&f.rootfs, "rootfs", "", "root filesystem `dir` (default: the host's, read-only)")
	fs.StringVar(&f.image, "image", "", "root filesystem from a local OCI-layout or docker-save tarball (unpacked offline once, cached), or an image `REF` pulled from its registry through containerd (cached by digest)")
	fs.Var(&f.insecure, "insecure-registry", "registry `HOST:PORT` to pull --image REF from over plain HTTP (repeatable)")
	fs.DurationVar(&f.timeout, "timeout", recorder.DefaultTimeout, "kill the command after this `duration` and mark the run timed out")
	fs.Var(&f.env, "env", "extra environment `NAME=VALUE` (repeatable); secret-looking values are stored redacted")
	fs.BoolVar(&f.stdin, "i", false, "forward stdin to the command (and store it, capped, for replay)")
	fs.BoolVar(&f.keep, "keep-changes", false, "copy the command's workspace changes back into the real workspace")
	fs.BoolVar(&f.allowLoss, "allow-loss", false, "exit with the command's code even if events were lost (run stays 'incomplete')")
	fs.BoolVar(&f.network, "network", false, "give the sandbox the host's network (same as --net host)")
	fs.StringVar(&f.net, "net", "", "network `mode`: none (loopback only, the default), proxy (egress only to --allow, through a recording proxy) or host")
	fs.Var(&f.allow, "allow", "in proxy mode, allow egress to `ENDPOINT`: name:port, *.name:port, ip:port or cidr:port (repeatable; implies --net proxy)")
	fs.Var(&f.addHosts, "add-host", "pin `NAME:IP` for the proxy and the sandbox's resolver (repeatable; does not allow it by itself)")
	fs.BoolVar(&f.enforce, "enforce", false, "enforce the approved baseline of --name: egress only to its endpoints (proxy mode); blocked attempts are recorded denied")
	fs.Int64Var(&f.memory, "memory", 0, "memory limit in `bytes` (default 4 GiB)")
	fs.Int64Var(&f.pids, "pids", 0, "maximum number of processes (default 4096)")
	fs.StringVar(&f.disk, "disk", "4G", "`size` of the filesystem holding the workspace's changes (e.g. 512M, 10G); writes beyond it fail with ENOSPC")
	fs.StringVar(&f.tmpfsSize, "tmpfs-size", "1G", "`size` of the sandbox's /tmp (also counted against --memory)")
	fs.Float64Var(&f.cpus, "cpus", 0, "hard cap on CPU bandwidth in `CPUs` (cgroup cpu.max, e.g. 0.5, 2); default no cap: the sandbox uses every idle CPU and yields to the host's own processes when they want the CPU (it weighs as much as one process under nice 10, however many it forks)")
	fs.StringVar(&f.user, "user", "", "run the command as `UID[:GID]` inside the sandbox, 0-65535 (default: the workspace's owner; the user namespace makes it 1879048192+UID on the host, so host files private to root stay unreadable even as uid 0)")
	fs.StringVar(&f.userns, "userns", "on", "user namespace: `on` (ids 0-65535 inside are 1879048192+ on the host) or off (host ids: only for a workspace on a filesystem without idmapped mounts, such as overlayfs or NFS)")
	fs.IntVar(&f.ringBuf, "ring-buffer-bytes", 0, "eBPF ring buffer size (testing knob; default 64 MiB)")
	return fs
}

func (a *app) record(ctx context.Context, args []string) (int, error) {
	var f recordFlags
	fs := a.recordFlagSet(&f)
	if err := fs.Parse(args); err != nil {
		return exitUsage, err
	}
	if err := a.recordDefaults(fs, &f); err != nil {
		return exitUsage, err
	}
	cmd := fs.Args()
	if len(cmd) > 0 && cmd[0] == "--" {
		cmd = cmd[1:]
	}
	if len(cmd) == 0 {
		return exitUsage, usageError("no command given: usage: behavediff record [flags] -- CMD [ARGS...]")
	}
	ws := f.workspace
	if ws == "" {
		wd, err := os.Getwd()
		if err != nil {
			return exitUsage, fmt.Errorf("current directory: %w", err)
		}
		ws = wd
	}
	ws, err := filepath.Abs(ws)
	if err != nil {
		return exitUsage, fmt.Errorf("workspace %s: %w", f.workspace, err)
	}
	// The kernel reports paths with symlinks resolved; so must the workspace.
	if real, err := filepath.EvalSymlinks(ws); err == nil {
		ws = real
	}
	disk, err := sandbox.ParseBytes(f.disk)
	if err != nil {
		return exitUsage, fmt.Errorf("--disk: %w", err)
	}
	tmpfsSize, err := sandbox.ParseBytes(f.tmpfsSize)
	if err != nil {
		return exitUsage, fmt.Errorf("--tmpfs-size: %w", err)
	}
	if disk < 64<<20 {
		return exitUsage, fmt.Errorf("--disk %s is below the 64 MiB minimum", f.disk)
	}
	if f.userns != "on" && f.userns != "off" {
		return exitUsage, fmt.Errorf("bad --userns %q: want on or off", f.userns)
	}
	if err := sandbox.ValidUser(f.user, f.userns == "on"); err != nil {
		return exitUsage, fmt.Errorf("--user: %w", err)
	}
	if f.cpus < 0 {
		return exitUsage, fmt.Errorf("--cpus %g is negative", f.cpus)
	}
	spec := recorder.Spec{
		Version:            recorder.SpecVersion,
		Name:               f.name,
		Args:               cmd,
		Workspace:          ws,
		Env:                f.env,
		Rootfs:             absOrEmpty(f.rootfs),
		Image:              imageArg(f.image),
		InsecureRegistries: f.insecure,
		Timeout:            recorder.Duration(f.timeout),
		Network:            f.network,
		Net:                f.net,
		Allow:              f.allow,
		AddHosts:           f.addHosts,
		MemoryBytes:        f.memory,
		PidsLimit:          f.pids,
		DiskBytes:          disk,
		TmpfsBytes:         tmpfsSize,
		CPUs:               f.cpus,
		User:               f.user,
		UserNS:             userNSArg(f.userns),
	}
	if err := spec.Validate(); err != nil {
		return exitUsage, err
	}
	if f.name != "" {
		if err := snapshot.ValidName(f.name); err != nil {
			return exitUsage, err
		}
	}
	if f.enforce && f.name == "" {
		return exitUsage, usageError("--enforce needs --name NAME: it enforces that spec's approved baseline")
	}
	if f.enforce {
		// Refuse before anything (the spec file, the run) is written.
		p, err := project()
		if err != nil {
			return exitUsage, err
		}
		if _, err := policy.FromBaselines(p.BaselinePath, nil)(spec); err != nil {
			return exitUsage, err
		}
	}
	var stdin io.Reader
	if f.stdin {
		stdin = a.stdin
	}
	return a.recordSpec(ctx, f.db, spec, recordRun{
		address: f.address, stdin: stdin, keep: f.keep, allowLoss: f.allowLoss, ringBuf: f.ringBuf, enforce: f.enforce,
	})
}

type recordRun struct {
	address   string
	stdin     io.Reader
	keep      bool
	allowLoss bool
	ringBuf   int
	replayOf  int64
	enforce   bool
}

// recordSpec records one spec and maps the outcome to an exit code; shared
// by record and replay so both report the same way.
func (a *app) recordSpec(ctx context.Context, dbPath string, spec recorder.Spec, r recordRun) (int, error) {
	res, err := a.recordOnce(ctx, dbPath, spec, r)
	if errors.Is(err, recorder.ErrCommandNotFound) {
		return exitNotFound, err
	}
	if err != nil {
		return exitUsage, err
	}
	return a.recordExit(res, r.allowLoss), nil
}

func (a *app) recordOnce(ctx context.Context, dbPath string, spec recorder.Spec, r recordRun) (recorder.Result, error) {
	// BEHAVEDIFF_TIMINGS=1 prints where the recording's time went (a
	// developer's aid for start-up latency; the lines are not a stable format).
	var timings io.Writer
	if a.getenv != nil && a.getenv("BEHAVEDIFF_TIMINGS") != "" {
		timings = a.stderr
	}
	tuneGC(a.getenv)
	opened := time.Now()
	db, err := openRW(ctx, dbPath)
	if err != nil {
		return recorder.Result{}, err
	}
	if timings != nil {
		fmt.Fprintf(timings, "behavediff: timing: open database %.1f ms\n", float64(time.Since(opened))/float64(time.Millisecond))
	}
	defer db.Close()
	if spec.Name != "" {
		if err := saveSpecFile(spec); err != nil {
			return recorder.Result{}, err
		}
	}
	var enforce func(recorder.Spec) (*recorder.Enforcement, error)
	if r.enforce {
		p, err := project()
		if err != nil {
			return recorder.Result{}, err
		}
		enforce = policy.FromBaselines(p.BaselinePath, a.stderr)
	}
	res, err := recorder.Record(ctx, db, recorder.Options{
		Enforce:      enforce,
		Spec:         spec,
		Address:      r.address,
		Stdin:        r.stdin,
		Stdout:       a.stdout,
		Stderr:       a.stderr,
		Progress:     a.stderr,
		KeepChanges:  r.keep,
		ReplayOf:     r.replayOf,
		ToolVersion:  versionString(),
		RingBufBytes: r.ringBuf,
		Protect:      protectedDirs(spec.Workspace),
		Timings:      timings,
	})
	if err != nil {
		if res.RunID != 0 {
			err = fmt.Errorf("%w (run %d kept with status error)", err, res.RunID)
		}
		return res, err
	}
	return res, nil
}

// recordGCPercent and recordMemLimit tune the collector for a recording:
// the ingest allocates per event (decoded strings, rows) and its live heap
// stays small, so at the default GOGC=100 the collector runs often and
// competes on the same cores with the command being traced. A larger
// GOGC collects less often; the soft limit keeps a flood from growing the
// heap past it (the ring buffer's mapping is not Go memory and not in it).
// GOGC or GOMEMLIMIT in the environment win.
const (
	recordGCPercent = 400
	recordMemLimit  = 128 << 20
)

func tuneGC(getenv func(string) string) {
	if getenv == nil || getenv("GOGC") != "" || getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(recordGCPercent)
	debug.SetMemoryLimit(recordMemLimit)
}

func (a *app) recordExit(res recorder.Result, allowLoss bool) int {
	msg := fmt.Sprintf("behavediff: run %d %s", res.RunID, res.Status)
	switch {
	case res.TimedOut:
		msg += " (killed after the timeout)"
	case res.Signal != 0:
		msg += fmt.Sprintf(" (killed by signal %d)", res.Signal)
	default:
		msg += fmt.Sprintf(" (exit %d)", res.ExitCode)
	}
	if len(res.LimitsHit) > 0 {
		msg += ": " + strings.Join(res.LimitsHit, "; ")
	}
	if res.Changes > 0 {
		msg += fmt.Sprintf(", %d workspace changes", res.Changes)
	}
	fmt.Fprintf(a.stderr, "%s in %s; see: behavediff show %d\n", msg, res.Duration.Round(time.Millisecond), res.RunID)
	switch res.Status {
	case store.StatusTimeout:
		return 124
	case store.StatusInterrupted:
		return 130
	case store.StatusIncomplete:
		fmt.Fprintf(a.stderr, "behavediff: trace incomplete: %d events lost (the run is kept as 'incomplete'; --allow-loss accepts this)\n", res.Lost)
		if !allowLoss {
			return exitUsage
		}
	}
	return res.ExitCode
}

// project finds the .behavediff project around the current directory.
func project() (snapshot.Project, error) {
	wd, err := os.Getwd()
	if err != nil {
		return snapshot.Project{}, fmt.Errorf("current directory: %w", err)
	}
	return snapshot.FindProject(wd)
}

func saveSpecFile(spec recorder.Spec) error {
	p, err := project()
	if err != nil {
		return err
	}
	return p.SaveSpec(spec)
}

// protectedDirs are the .behavediff directories of the project around the
// current directory and of the workspace's project: the sandbox hides them
// and --keep-changes never writes them.
func protectedDirs(workspace string) []string {
	var out []string
	if p, err := project(); err == nil {
		out = append(out, p.Dir())
	}
	if p, err := snapshot.FindProject(workspace); err == nil {
		out = append(out, p.Dir())
	}
	return out
}

// imageArg makes an existing tarball path absolute and keeps anything else
// as given (a registry reference, or a missing file Validate reports).
func imageArg(p string) string {
	if _, err := os.Stat(p); err != nil && recorder.IsImageRef(p) {
		return p
	}
	return absOrEmpty(p)
}

func absOrEmpty(p string) string {
	if p == "" {
		return ""
	}
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// userNSArg stores only the exception: the default ("on") is left out of
// the spec, so specs stay as they were.
func userNSArg(v string) string {
	if v == "on" {
		return ""
	}
	return v
}
