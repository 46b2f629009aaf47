package sandbox

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Options describe one sandboxed run.
type Options struct {
	ID        string        // unique container id (caller passes e.g. "bd-<runid>-<random>")
	Args      []string      // argv; Args[0] is looked up in Env's PATH by runc
	Env       []string      // full environment of the process (nothing is added)
	Workspace string        // absolute host dir; mounted at the same path copy-on-write (overlay), and the cwd
	Rootfs    string        // "" = read-only host root (bind of /); else a directory used read-only as rootfs
	Timeout   time.Duration // 0 = none
	Stdin     io.Reader     // nil = no stdin (/dev/null)
	Stdout    io.Writer     // nil = discarded
	Stderr    io.Writer     // nil = discarded

	MemoryBytes int64 // 0 = DefaultMemoryBytes
	PidsLimit   int64 // 0 = DefaultPidsLimit
	// Network false (the default) gives the sandbox a new network namespace
	// with only loopback, up. true shares the host's network namespace.
	Network bool
	// Seccomp, when set, replaces containerd's default seccomp profile
	// (record --enforce: the approved baseline's syscalls).
	Seccomp *specs.LinuxSeccomp
	// ResolvConf, if non-empty, is bind-mounted read-only as /etc/resolv.conf.
	// The recorder sets "nameserver 127.0.0.53" so that DNS lookups in the
	// no-network sandbox are really sent (to loopback) and so get recorded.
	ResolvConf string
	// HideHostSecrets masks every place of the secret table
	// (internal/secrets: credential files and directories of /root and every
	// /home/*, host keys, password hashes, cluster tokens) with empty
	// read-only stand-ins. Opening them still succeeds or fails visibly, so
	// the attempt is recorded; only the content is withheld.
	HideHostSecrets bool
	// Protect lists host paths (the trace database and its journal files,
	// the project's .behavediff) that are hidden inside the sandbox and that
	// ApplyChanges never writes. Every .behavediff directory in or above the
	// workspace is protected without being listed.
	Protect []string

	// DiskBytes sizes the filesystem holding the workspace's copy-on-write
	// layer: writes beyond it fail with ENOSPC. 0 = DefaultDiskBytes.
	DiskBytes int64
	// TmpfsBytes sizes /tmp. 0 = DefaultTmpfsBytes.
	TmpfsBytes int64
	// CPUs is a hard cap on CPU bandwidth (cgroup cpu.max) in CPUs. 0 = no
	// cap: the sandbox uses idle CPUs and yields to the host's tasks under
	// contention (CPUWeight, cpu.go).
	CPUs float64
	// User is the uid[:gid] the command runs as inside the sandbox; "" =
	// the owner of the workspace (so behaviour and baselines do not depend
	// on the user namespace). With the user namespace it must be 0-65535.
	User string
	// NoUserNamespace runs the command with host ids (no user namespace):
	// uid 0 inside is root on the host, without capabilities. Only for
	// hosts that cannot have the namespace (a workspace on a filesystem
	// without idmapped mounts, an account in the HostIDBase range).
	NoUserNamespace bool
}

// Result is how the sandboxed process ended.
type Result struct {
	// ExitCode is the exit status containerd reports: the process's own exit
	// code, or 128+signal when a signal killed it.
	ExitCode int
	// Signal is the killing signal when ExitCode is above 128 (as a shell
	// would report it), 0 otherwise.
	Signal      int
	TimedOut    bool // killed because Options.Timeout passed
	Interrupted bool // killed because the Wait context was cancelled (Ctrl-C)
	Duration    time.Duration
	// LimitsHit names each bound the run reached, e.g.
	// "memory limit 4 GiB reached: OOM-killed"; filled by Wait.
	LimitsHit []string
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)

// Sandbox is one created container with its task.
type Sandbox struct {
	c         *Client
	opts      Options
	workspace string // symlink-resolved workspace path (mount point and cwd)
	dir       string // per-run state: /var/lib/behavediff/runs/<ID>
	upper     string
	work      string
	lower     string   // idmapped clone of the workspace (the overlay's lower layer)
	merged    string   // the workspace overlay, mounted on the host and bound in
	userns    bool     // the container has the user namespace: upper holds shifted ids
	diskMnt   string   // mount point of the size-limited upper filesystem
	protected []string // symlink-resolved host paths never shown nor written
	watchdog  *watchdog
	cgroupDir string // v2 cgroup directory of the task
	ownCgroup bool   // we made cgroupDir ourselves (runc did not join v2)
	cgroupID  uint64
	v1        map[string]string // hybrid host: v1 controller → the task's dir
	pid       uint32

	container client.Container
	task      client.Task

	stdinEOF chan struct{} // closed when Options.Stdin reached EOF
	closing  chan struct{} // closed by Close

	mu         sync.Mutex // guards the fields below
	waitMu     sync.Mutex // serialises Wait
	statusC    <-chan client.ExitStatus
	waitCancel context.CancelFunc
	started    time.Time
	result     *Result
	closed     bool
}

// Create makes the container and its task. The task is left in the CREATED
// state (runc init is waiting, the user's command has not run), so the caller
// can attach eBPF to CgroupID() before Start lets the first instruction run.
func (c *Client) Create(ctx context.Context, o Options) (_ *Sandbox, retErr error) {
	if c == nil || c.cd == nil {
		return nil, errors.New("sandbox: client is closed")
	}
	if !idPattern.MatchString(o.ID) {
		return nil, fmt.Errorf("sandbox: invalid container id %q (letters, digits, _ . - only)", o.ID)
	}
	if len(o.Args) == 0 {
		return nil, errors.New("sandbox: no command given")
	}
	if !filepath.IsAbs(o.Workspace) {
		return nil, fmt.Errorf("sandbox: workspace %q is not an absolute path", o.Workspace)
	}
	ws, err := filepath.EvalSymlinks(o.Workspace)
	if err != nil {
		return nil, fmt.Errorf("sandbox: workspace: %w", err)
	}
	if st, err := os.Stat(ws); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("sandbox: workspace %s is not a directory", o.Workspace)
	}
	if strings.ContainsAny(ws, ",:\\") || ws == "/" {
		// overlayfs mount options cannot carry these characters unescaped,
		// and / cannot be both lower layer and parent of the upper layer.
		return nil, fmt.Errorf("sandbox: workspace %s cannot be used as an overlay lower dir (it is / or contains , : or \\)", ws)
	}
	o = o.WithDefaults()
	if o.MemoryBytes < 0 || o.PidsLimit < 0 || o.DiskBytes < 0 || o.TmpfsBytes < 0 || o.CPUs < 0 {
		return nil, errors.New("sandbox: negative resource limit")
	}
	if o.Stdout == nil {
		o.Stdout = io.Discard
	}
	if o.Stderr == nil {
		o.Stderr = io.Discard
	}

	uid, gid, err := resolveUser(o.User, ws)
	if err != nil {
		return nil, err
	}
	var userns *os.File
	if !o.NoUserNamespace {
		if uid >= IDRange || gid >= IDRange {
			return nil, fmt.Errorf("sandbox: %w: %d:%d (the workspace owner's unless --user says otherwise)", ErrUserOutOfRange, uid, gid)
		}
		if err := checkIDRange(); err != nil {
			return nil, err
		}
		if userns, err = c.usernsFD(); err != nil {
			return nil, err
		}
	}

	var rootfs string
	if o.Rootfs == "" {
		if rootfs, err = ensureHostRoot(ctx); err != nil {
			return nil, err
		}
	} else {
		if rootfs, err = filepath.Abs(o.Rootfs); err != nil {
			return nil, fmt.Errorf("sandbox: rootfs: %w", err)
		}
		if st, err := os.Stat(rootfs); err != nil || !st.IsDir() {
			return nil, fmt.Errorf("sandbox: rootfs %s is not a directory", o.Rootfs)
		}
	}

	s := &Sandbox{
		stdinEOF:  make(chan struct{}),
		closing:   make(chan struct{}),
		c:         c,
		opts:      o,
		workspace: ws,
		dir:       filepath.Join(runsDir, o.ID),
		userns:    userns != nil,
	}
	s.diskMnt = filepath.Join(s.dir, "disk")
	s.lower = filepath.Join(s.dir, "lower")
	s.merged = filepath.Join(s.dir, "merged")
	s.upper = filepath.Join(s.diskMnt, "upper")
	s.work = filepath.Join(s.diskMnt, "work")
	if err := os.MkdirAll(runsDir, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox: create %s: %w", runsDir, err)
	}
	if err := os.Mkdir(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox: run dir for id %s: %w", o.ID, err)
	}
	defer func() {
		if retErr != nil {
			_ = s.Close(context.WithoutCancel(ctx))
		}
	}()
	if userns != nil && o.Rootfs != "" {
		// runc, root of the user namespace, must reach the rootfs (a 0700
		// temporary or cache directory would refuse it), and the image's
		// own root-owned files should belong to root inside: use an
		// idmapped clone of it under the traversable runDir.
		view := filepath.Join(rootsDir, o.ID)
		if err := os.MkdirAll(rootsDir, 0o711); err != nil {
			return nil, fmt.Errorf("sandbox: create %s: %w", rootsDir, err)
		}
		// The run dir, made above, is older than the view: Sweep judges
		// a view's age by it (the view's own mtime is its image's), and
		// Close releases the view with the run dir.
		if err := idmapClone(rootfs, view, userns, false); err != nil {
			_ = os.Remove(view)
			return nil, err
		}
		rootfs = view
	}

	mounts, err := s.prepareMounts(rootfs, userns)
	if err != nil {
		return nil, err
	}

	if _, err := SandboxCPUGroup(); err != nil {
		return nil, err
	}
	cgroupPath := cgroupParent + "/" + o.ID
	specOpts := []oci.SpecOpts{
		oci.WithRootFSPath(rootfs),
		oci.WithRootFSReadonly(),
		oci.WithProcessArgs(o.Args...),
		oci.WithProcessCwd(ws),
		oci.WithHostname("behavediff"),
		oci.WithCgroup(cgroupPath),
		oci.WithMemoryLimit(uint64(o.MemoryBytes)),
		oci.WithPidsLimit(o.PidsLimit),
		withCPUs(o.CPUs),
		oci.WithNoNewPrivileges,
		func(_ context.Context, _ oci.Client, _ *containers.Container, sp *oci.Spec) error {
			sp.Process.User = specs.User{UID: uid, GID: gid}
			sp.Process.Env = append([]string{}, o.Env...)
			sp.Process.Terminal = false
			// Every capability set empty: uid 0 inside, but powerless.
			sp.Process.Capabilities = &specs.LinuxCapabilities{
				Bounding: []string{}, Effective: []string{}, Permitted: []string{},
				Inheritable: []string{}, Ambient: []string{},
			}
			sp.Mounts = append(sp.Mounts, mounts...)
			return nil
		},
		// After the capabilities: the default profile allows syscalls by caps.
		seccomp.WithDefaultProfile(),
		withNativeABIOnly, // compat ABIs refused: see seccomp.go
	}
	if o.Network {
		specOpts = append(specOpts, oci.WithHostNamespace(specs.NetworkNamespace))
	}
	if s.userns {
		specOpts = append(specOpts, oci.WithUserNamespace(idMappings(), idMappings()))
		if o.Network {
			specOpts = append(specOpts, withHostSysfs)
		}
	}
	if o.Seccomp != nil {
		specOpts = append(specOpts, func(_ context.Context, _ oci.Client, _ *containers.Container, sp *oci.Spec) error {
			sp.Linux.Seccomp = o.Seccomp
			return nil
		})
	}
	cont, err := c.cd.NewContainer(ctx, o.ID, client.WithNewSpec(specOpts...), client.WithContainerLabels(ownerLabels()))
	if err != nil {
		return nil, fmt.Errorf("sandbox: create container %s: %w", o.ID, err)
	}
	s.container = cont

	if err := os.MkdirAll(fifoDir, 0o700); err != nil {
		return nil, fmt.Errorf("sandbox: create %s: %w", fifoDir, err)
	}
	var stdin io.Reader
	if o.Stdin != nil {
		stdin = &eofReader{r: o.Stdin, eof: s.stdinEOF}
	}
	task, err := cont.NewTask(ctx, cio.NewCreator(cio.WithStreams(stdin, o.Stdout, o.Stderr), cio.WithFIFODir(fifoDir)))
	if err != nil {
		if execNotFound(err, o.Args[0]) {
			return nil, fmt.Errorf("sandbox: create task %s: %w: %s: %w", o.ID, ErrExecutableNotFound, o.Args[0], err)
		}
		return nil, fmt.Errorf("sandbox: create task %s: %w", o.ID, err)
	}
	s.task = task
	s.pid = task.Pid()
	if o.Stdin != nil {
		go s.closeStdinAtEOF(task)
	}
	if err := s.findCgroup(cgroupPath); err != nil {
		return nil, err
	}
	// From here on the sandbox dies with this process: the watchdog kills
	// its cgroup when we exit (even by SIGKILL) or the deadline passes.
	if s.watchdog, err = startWatchdog(s.cgroupDir, o.Timeout); err != nil {
		return nil, err
	}
	return s, nil
}

// findCgroup locates the task's cgroup v2 directory and its id (the
// directory's inode, which is what bpf_get_current_cgroup_id returns).
//
// On a pure v2 host runc puts the task there itself. On a hybrid v1+v2 host
// runc may or may not also join the unified hierarchy; when the task is not
// in cgroupPath on v2 we create that directory and move runc init into it
// (it is the only process and forks nothing before Start), so every process
// of the command inherits it.
func (s *Sandbox) findCgroup(cgroupPath string) error {
	mnt, err := cgroup2Mount()
	if err != nil {
		return err
	}
	rel, err := procCgroupV2(s.pid)
	if err != nil {
		return err
	}
	if rel != cgroupPath {
		dir := filepath.Join(mnt, cgroupPath)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("sandbox: create v2 cgroup %s: %w", dir, err)
		}
		s.ownCgroup = true
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), fmt.Appendf(nil, "%d", s.pid), 0o644); err != nil {
			return fmt.Errorf("sandbox: move task %d into v2 cgroup %s: %w", s.pid, dir, err)
		}
		if rel, err = procCgroupV2(s.pid); err != nil {
			return err
		}
		if rel != cgroupPath {
			return fmt.Errorf("sandbox: task %d is in v2 cgroup %q, want %q", s.pid, rel, cgroupPath)
		}
	}
	s.cgroupDir = filepath.Join(mnt, rel)
	var st unix.Stat_t
	if err := unix.Stat(s.cgroupDir, &st); err != nil {
		return fmt.Errorf("sandbox: stat cgroup %s: %w", s.cgroupDir, err)
	}
	if st.Ino == 0 {
		return fmt.Errorf("sandbox: cgroup %s has inode 0", s.cgroupDir)
	}
	s.cgroupID = st.Ino
	s.v1 = v1Dirs(s.pid)
	return nil
}

// cgroup2Mount returns where the cgroup2 hierarchy is mounted: /sys/fs/cgroup
// on a pure v2 host, /sys/fs/cgroup/unified on a hybrid one.
func cgroup2Mount() (string, error) {
	mounts, err := readMountInfo()
	if err != nil {
		return "", err
	}
	for _, m := range mounts {
		if m.FSType == "cgroup2" && m.Root == "/" {
			return m.MountPoint, nil
		}
	}
	return "", errors.New("sandbox: no cgroup2 filesystem mounted (behavediff needs cgroup v2, alone or in hybrid mode, for its eBPF filter)")
}

// procCgroupV2 returns the "0::" path of pid from /proc/<pid>/cgroup.
func procCgroupV2(pid uint32) (string, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return "", fmt.Errorf("sandbox: read cgroup of task %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "0::"); ok {
			return p, nil
		}
	}
	return "", fmt.Errorf("sandbox: task %d has no cgroup v2 entry", pid)
}

// CgroupID is the v2 cgroup id of the created task: the only cgroup the eBPF
// sensor traces.
func (s *Sandbox) CgroupID() uint64 { return s.cgroupID }

// Pid is the host pid of the task's init process.
func (s *Sandbox) Pid() uint32 { return s.pid }

// Start runs the command. The exit status channel is set up first so that a
// command that exits at once is never missed.
func (s *Sandbox) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.task == nil || s.closed {
		return errors.New("sandbox: start: no task (closed or failed create)")
	}
	if s.statusC != nil {
		return errors.New("sandbox: already started")
	}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	statusC, err := s.task.Wait(wctx)
	if err != nil {
		cancel()
		return fmt.Errorf("sandbox: wait on task %s: %w", s.opts.ID, err)
	}
	// The deadline must run before the first instruction of the command.
	if err := s.watchdog.started(); err != nil {
		cancel()
		return err
	}
	if err := s.task.Start(ctx); err != nil {
		cancel()
		return fmt.Errorf("sandbox: start task %s: %w", s.opts.ID, err)
	}
	s.started = time.Now()
	s.statusC, s.waitCancel = statusC, cancel
	return nil
}

// Wait blocks until the command exits. When Options.Timeout passes, or ctx
// is cancelled (Ctrl-C), every process of the sandbox is SIGKILLed and the
// result says why. All output has been copied to Stdout/Stderr on return.
func (s *Sandbox) Wait(ctx context.Context) (Result, error) {
	// waitMu serialises Waits; mu is not held while blocking so that Close
	// (which kills the task and so ends this Wait) is never stuck behind it.
	s.waitMu.Lock()
	defer s.waitMu.Unlock()
	s.mu.Lock()
	if s.result != nil {
		res := *s.result
		s.mu.Unlock()
		return res, nil
	}
	statusC, task, started := s.statusC, s.task, s.started
	s.mu.Unlock()
	if statusC == nil || task == nil {
		return Result{}, errors.New("sandbox: wait before start (or after close)")
	}
	var timeout <-chan time.Time
	if s.opts.Timeout > 0 {
		t := time.NewTimer(time.Until(started.Add(s.opts.Timeout)))
		defer t.Stop()
		timeout = t.C
	}
	var res Result
	var st client.ExitStatus
	select {
	case st = <-statusC:
	case <-timeout:
		res.TimedOut = true
	case <-ctx.Done():
		res.Interrupted = true
	}
	if res.TimedOut || res.Interrupted {
		kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := task.Kill(kctx, unix.SIGKILL, client.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
			return Result{}, fmt.Errorf("sandbox: kill task %s: %w", s.opts.ID, err)
		}
		select {
		case st = <-statusC:
		case <-kctx.Done():
			return Result{}, fmt.Errorf("sandbox: task %s did not exit after SIGKILL: %w", s.opts.ID, kctx.Err())
		}
	}
	res.Duration = time.Since(started)
	res.LimitsHit = s.limitsHit()
	code, _, err := st.Result()
	if err != nil {
		return Result{}, fmt.Errorf("sandbox: exit status of %s: %w", s.opts.ID, err)
	}
	res.ExitCode = int(code)
	if code > 128 && code < 128+65 {
		res.Signal = int(code) - 128
	}
	// The init process is gone, so the kernel killed the rest of the pid
	// namespace and the FIFOs reach EOF; bound the wait anyway.
	if pio := task.IO(); pio != nil {
		done := make(chan struct{})
		go func() { pio.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}
	s.mu.Lock()
	s.result = &res
	s.mu.Unlock()
	return res, nil
}

// eofReader reports when the caller's stdin is exhausted.
type eofReader struct {
	r    io.Reader
	eof  chan struct{}
	once sync.Once
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.once.Do(func() { close(e.eof) })
	}
	return n, err
}

// closeStdinAtEOF tells the shim to close the process's stdin once the
// caller's reader is exhausted. The shim keeps its own write end of the
// stdin FIFO open, so without this a command reading stdin (cat) would
// never see EOF.
func (s *Sandbox) closeStdinAtEOF(task client.Task) {
	select {
	case <-s.stdinEOF:
	case <-s.closing:
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = task.CloseIO(ctx, client.WithStdinCloser)
}
