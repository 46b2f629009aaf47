package recorder

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/behavediff/behavediff/bpf"
	"github.com/behavediff/behavediff/recorder/egress"
	"github.com/behavediff/behavediff/recorder/sandbox"
	"github.com/behavediff/behavediff/store"
)

// Options configure one recording. Spec is what gets replayed; the rest is
// how this particular invocation talks to the user and the machine.
type Options struct {
	Spec        Spec
	Address     string // containerd socket; "" = behavediff's private daemon
	Stdin       io.Reader
	Stdout      io.Writer
	Stderr      io.Writer
	Progress    io.Writer // one-line status messages (stderr in the CLI)
	KeepChanges bool
	ReplayOf    int64
	ToolVersion string
	// RingBufBytes sizes the sensor's ring buffer; 0 = the sensor's default.
	// Tests shrink it to prove that loss is counted, never silent.
	RingBufBytes int
	OutputCap    int // 0 = DefaultOutputCap
	// Protect lists host paths the command must neither see nor change (the
	// trace database and its journal files, the project's .behavediff).
	Protect []string
	// Enforce, when set, gives the policy of an approved baseline for the
	// spec (--enforce), applied to this run; the stored spec is unchanged.
	Enforce func(Spec) (*Enforcement, error)
}

// Result summarises a finished recording.
type Result struct {
	RunID    int64
	Status   string // a store.Status* value
	ExitCode int    // the command's exit code; 128+signal when it was killed
	Signal   int
	TimedOut bool
	Lost     int64
	Changes  int
	Duration time.Duration
	// LimitsHit names each sandbox bound the run reached ("disk limit 4 GiB
	// reached", "memory limit 4 GiB reached: OOM-killed").
	LimitsHit []string
	// Refused lists the workspace changes --keep-changes did not apply
	// (writes to .behavediff or the trace database, setuid bits, ...).
	Refused []sandbox.Refusal
	// Tampered lists behavediff's own files (.behavediff, the trace
	// database) that the command tried to change; check rates it critical.
	Tampered []string

	// Malformed counts inputs that did not parse (DNS payloads to or from
	// port 53), by store.Malformed* kind; stored in malformed_inputs.
	Malformed map[string]int64
}

// ErrCommandNotFound means the command does not exist inside the sandbox.
var ErrCommandNotFound = errors.New("command not found")

// Record runs o.Spec in a fresh sandbox, traces it and stores the run in db.
// An error means behavediff itself failed; the run (if one was begun) is
// then kept with status "error" and the cause. A command that exits non-zero
// is not an error: its code is in Result.ExitCode.
func Record(ctx context.Context, db *store.DB, o Options) (Result, error) {
	if err := o.Spec.Validate(); err != nil {
		return Result{}, err
	}
	if o.Spec.Version == 0 {
		o.Spec.Version = SpecVersion
	}
	if o.Spec.Timeout == 0 {
		o.Spec.Timeout = Duration(DefaultTimeout)
	}
	progress := o.Progress
	if progress == nil {
		progress = io.Discard
	}
	cleanupCtx := context.WithoutCancel(ctx)
	var enforce *Enforcement
	if o.Enforce != nil {
		var err error
		if enforce, err = o.Enforce(o.Spec); err != nil {
			return Result{}, err
		}
	}
	net, err := planNet(o.Spec, enforce)
	if err != nil {
		return Result{}, err
	}

	client, err := sandbox.Connect(ctx, o.Address, progress)
	if err != nil {
		return Result{}, err
	}
	defer client.Close()

	rootfs := o.Spec.Rootfs
	if sandbox.IsImageRef(o.Spec.Image) {
		if rootfs, err = client.PullRootfs(ctx, o.Spec.Image, o.Spec.InsecureRegistries, ImageCacheDir, progress); err != nil {
			return Result{}, err
		}
	} else if o.Spec.Image != "" {
		if rootfs, err = imageRootfs(ctx, o.Spec.Image, progress); err != nil {
			return Result{}, err
		}
	}

	outCap := o.OutputCap
	if outCap == 0 {
		outCap = DefaultOutputCap
	}
	stdout, stderr := newCapture(o.Stdout, outCap), newCapture(o.Stderr, outCap)
	var stdin *stdinTee
	if o.Stdin != nil {
		stdin = &stdinTee{r: o.Stdin, cap: outCap}
	}
	sbOpts := sandbox.Options{
		ID:              "bd-" + randomID(),
		Args:            o.Spec.Args,
		Env:             net.env(o.Spec.Env),
		Workspace:       o.Spec.Workspace,
		Rootfs:          rootfs,
		Timeout:         time.Duration(o.Spec.Timeout),
		Stdout:          stdout,
		Stderr:          stderr,
		MemoryBytes:     o.Spec.MemoryBytes,
		PidsLimit:       o.Spec.PidsLimit,
		DiskBytes:       o.Spec.DiskBytes,
		TmpfsBytes:      o.Spec.TmpfsBytes,
		CPUs:            o.Spec.CPUs,
		User:            o.Spec.User,
		Network:         net.mode == NetHost,
		HideHostSecrets: true,
		Protect:         append(o.Protect, dbFiles(db.Path())...),
	}
	if enforce != nil {
		sbOpts.Seccomp = enforce.Seccomp
	}
	if stdin != nil {
		sbOpts.Stdin = stdin
	}
	if net.mode != NetHost {
		// Point the resolver at loopback so a lookup is really sent (and
		// seen): in proxy mode behavediff's resolver answers there, in none
		// mode nothing does.
		sbOpts.ResolvConf = egress.ResolvConf
	}
	sb, err := client.Create(ctx, sbOpts)
	if err != nil {
		// Say a missing program plainly (the CLI exits 127 for it, like a
		// shell).
		if errors.Is(err, sandbox.ErrExecutableNotFound) {
			return Result{}, fmt.Errorf("%w: %s (inside the sandbox, PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)", ErrCommandNotFound, o.Spec.Args[0])
		}
		return Result{}, fmt.Errorf("create sandbox: %w", err)
	}
	defer sb.Close(cleanupCtx)

	// The proxy's sockets are opened in the sandbox's namespace now, while
	// runc init waits: nothing of the command can have taken the ports.
	proxy, err := net.start(ctx, sb.Pid())
	if err != nil {
		return Result{}, err
	}
	if proxy != nil {
		defer proxy.Close()
	}

	sensor, err := bpf.Load(bpf.Config{CgroupID: sb.CgroupID(), RingBufBytes: o.RingBufBytes, UnixAllow: unixAllow(o.Spec.Workspace)})
	if err != nil {
		return Result{}, fmt.Errorf("load eBPF sensor: %w", err)
	}
	defer sensor.Close()

	specJSON, err := MarshalSpec(o.Spec.Redacted())
	if err != nil {
		return Result{}, fmt.Errorf("encode run spec: %w", err)
	}
	started := time.Now()
	w, err := db.BeginRun(ctx, store.Run{
		Name:        o.Spec.Name,
		Command:     o.Spec.Args,
		Workspace:   o.Spec.Workspace,
		StartedAt:   started,
		ExitCode:    -1,
		Spec:        specJSON,
		ReplayOf:    o.ReplayOf,
		StdoutCap:   int64(outCap),
		StderrCap:   int64(outCap),
		ToolVersion: o.ToolVersion,
		Limits:      limitsOf(sbOpts),
	})
	if err != nil {
		return Result{}, err
	}
	res := Result{RunID: w.ID()}
	base := monotonicNow()
	tr := newTracker(w, base)
	// fail keeps a failed run with its cause and, since every call comes
	// after the ingest finished, with the process table its events refer to.
	fail := func(cause error) (Result, error) {
		res.Status = store.StatusError
		outB, outT := stdout.result()
		errB, errT := stderr.result()
		procs := tr.processes()
		rows, _ := proxyRows(proxy, base, procs)
		ferr := w.Finish(cleanupCtx, store.Final{
			Processes: procs, Proxy: rows, ExitCode: -1, Status: store.StatusError, Error: cause.Error(),
			Stdout: outB, Stderr: errB, StdoutTrunc: outT, StderrTrunc: errT,
		})
		if ferr != nil {
			if aerr := w.Abort(cleanupCtx, store.StatusError, cause); aerr != nil {
				cause = fmt.Errorf("%w (and marking run %d failed: %v)", cause, res.RunID, aerr)
			}
		}
		return res, cause
	}

	ing := startIngest(sensor, tr)

	if err := sb.Start(ctx); err != nil {
		sensor.Stop()
		ing.wait()
		return fail(fmt.Errorf("start command %q: %w", o.Spec.Args[0], err))
	}
	sr, werr := sb.Wait(ctx)
	// The command is gone: detach and drain what the kernel still holds.
	if err := sensor.Stop(); err != nil && werr == nil {
		werr = fmt.Errorf("stop sensor: %w", err)
	}
	ingErr := ing.wait()
	if werr != nil {
		return fail(fmt.Errorf("wait for command: %w", werr))
	}
	if ingErr != nil {
		return fail(fmt.Errorf("store events: %w", ingErr))
	}

	counts, err := sensor.SyscallCounts()
	if err != nil {
		return fail(fmt.Errorf("read syscall counts: %w", err))
	}
	lost, err := sensor.Lost()
	if err != nil {
		return fail(fmt.Errorf("read loss counters: %w", err))
	}
	changes, err := sb.Changes()
	if err != nil {
		return fail(fmt.Errorf("read workspace changes: %w", err))
	}
	if o.KeepChanges {
		refused, err := sb.ApplyChanges()
		for _, r := range refused {
			fmt.Fprintf(progress, "behavediff: --keep-changes: not applied: %s: %s\n", r.Path, r.Reason)
		}
		res.Refused = refused
		if err != nil {
			return fail(fmt.Errorf("apply workspace changes: %w", err))
		}
	}

	syscalls := tr.counts(counts) // may add orphan images: before processes()
	procs := tr.processes()
	proxyReqs, proxyLost := proxyRows(proxy, base, procs)

	lostBy := map[string]int64{}
	for k, v := range lost {
		if v > 0 {
			lostBy[k] = int64(v)
			res.Lost += int64(v)
		}
	}
	if proxyLost > 0 {
		lostBy["proxy"] = proxyLost
		res.Lost += proxyLost
	}
	res.Signal, res.TimedOut, res.Duration, res.Changes = sr.Signal, sr.TimedOut, sr.Duration, len(changes)
	res.Malformed = tr.malformed
	res.ExitCode = sr.ExitCode
	res.LimitsHit = sr.LimitsHit
	for _, l := range sr.LimitsHit {
		fmt.Fprintf(progress, "behavediff: %s\n", l)
	}
	if sr.Signal != 0 {
		res.ExitCode = 128 + sr.Signal
	}
	switch {
	case sr.Interrupted || ctx.Err() != nil:
		res.Status = store.StatusInterrupted
	case sr.TimedOut:
		res.Status = store.StatusTimeout
	case res.Lost > 0:
		res.Status = store.StatusIncomplete
	default:
		res.Status = store.StatusOK
	}
	outB, outT := stdout.result()
	errB, errT := stderr.result()
	if stdin != nil {
		o.Spec.Stdin = stdin.captured()
		if b, err := MarshalSpec(o.Spec.Redacted()); err == nil {
			specJSON = b
		}
	}
	err = w.Finish(cleanupCtx, store.Final{
		Processes:   procs,
		Proxy:       proxyReqs,
		Syscalls:    syscalls,
		Changes:     fsChanges(changes),
		ExitCode:    res.ExitCode,
		Status:      res.Status,
		LostByClass: lostBy,
		Malformed:   tr.malformed,
		Stdout:      outB,
		Stderr:      errB,
		StdoutTrunc: outT,
		StderrTrunc: errT,
		EndedAt:     time.Now(),
		Spec:        specJSON,
		LimitsHit:   sr.LimitsHit,
	})
	if err != nil {
		return fail(fmt.Errorf("finish run %d: %w", res.RunID, err))
	}
	if res.Tampered, err = projectTamper(cleanupCtx, db, res.RunID); err != nil {
		// The run is stored; only the warning could not be computed.
		fmt.Fprintf(progress, "behavediff: WARNING: %v\n", err)
	}
	for _, p := range res.Tampered {
		fmt.Fprintf(progress, "behavediff: WARNING: the command tried to change behavediff's own file %s (refused; check rates this critical)\n", p)
	}
	return res, nil
}

// ingest moves events from the sensor through the tracker into the store on
// two goroutines: reading never waits for SQLite, and the channel between
// them applies back-pressure to the kernel ring buffer (where any overflow is
// counted), never drops in user space.
type ingest struct {
	done chan struct{}
	err  error
}

func startIngest(s *bpf.Sensor, tr *tracker) *ingest {
	in := &ingest{done: make(chan struct{})}
	ch := make(chan []bpf.Event, 64)
	var readErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(ch)
		batch := make([]bpf.Event, 0, 256)
		for {
			ev, err := s.Read()
			if err != nil {
				if len(batch) > 0 {
					ch <- batch
				}
				if !errors.Is(err, bpf.ErrDrained) {
					readErr = err
				}
				return
			}
			batch = append(batch, ev)
			if len(batch) == cap(batch) {
				ch <- batch
				batch = make([]bpf.Event, 0, 256)
			}
		}
	}()
	go func() {
		defer close(in.done)
		var err error
		for batch := range ch {
			for i := range batch {
				if err == nil {
					err = tr.handle(&batch[i])
				}
			}
		}
		wg.Wait()
		if err == nil {
			err = readErr
		}
		in.err = err
	}()
	return in
}

func (in *ingest) wait() error {
	<-in.done
	return in.err
}

// stdinTee forwards the user's stdin into the sandbox and keeps a capped
// copy so the spec can replay it.
type stdinTee struct {
	mu  sync.Mutex
	r   io.Reader
	buf []byte
	cap int
}

func (s *stdinTee) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	s.mu.Lock()
	if room := s.cap - len(s.buf); room > 0 {
		s.buf = append(s.buf, p[:min(n, room)]...)
	}
	s.mu.Unlock()
	return n, err
}

func (s *stdinTee) captured() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.buf...)
}

// limitsOf is what the run row records: the limits the sandbox really has.
func limitsOf(o sandbox.Options) store.Limits {
	o = o.WithDefaults()
	return store.Limits{MemoryBytes: o.MemoryBytes, Pids: o.PidsLimit, DiskBytes: o.DiskBytes, TmpfsBytes: o.TmpfsBytes, CPUs: o.CPUs}
}

// dbFiles are the trace database and its journal files: the recorder holds
// them open, so a run must never see or replace them.
func dbFiles(p string) []string {
	if a, err := filepath.Abs(p); err == nil {
		p = a
	}
	return []string{p, p + "-wal", p + "-shm", p + "-journal"}
}

func monotonicNow() uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return uint64(ts.Nano())
}

func randomID() string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		return fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano())
	}
	return hex.EncodeToString(b)
}

// ImageCacheDir holds root filesystems unpacked from image tarballs, one per
// tarball content digest, so a replay reuses the unpacked tree.
const ImageCacheDir = "/var/lib/behavediff/images"

// imageRootfs returns the unpacked root filesystem of an image tarball,
// unpacking it (offline) on first use. Unpacking goes to a temporary
// directory renamed into place, so an interrupted import is never used.
func imageRootfs(ctx context.Context, tarball string, progress io.Writer) (string, error) {
	f, err := os.Open(tarball)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", tarball, err)
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		return "", fmt.Errorf("image %s: %w", tarball, err)
	}
	dir := filepath.Join(ImageCacheDir, hex.EncodeToString(h.Sum(nil)))
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return dir, nil
	}
	if err := os.MkdirAll(ImageCacheDir, 0o700); err != nil {
		return "", fmt.Errorf("image cache: %w", err)
	}
	tmp, err := os.MkdirTemp(ImageCacheDir, ".import-")
	if err != nil {
		return "", fmt.Errorf("image cache: %w", err)
	}
	fmt.Fprintf(progress, "behavediff: unpacking image %s (once; cached in %s)\n", tarball, dir)
	if err := sandbox.ImportRootfs(ctx, tarball, tmp); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("import image %s: %w", tarball, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		if st, serr := os.Stat(dir); serr == nil && st.IsDir() {
			return dir, nil // another record unpacked it at the same time
		}
		return "", fmt.Errorf("image cache: %w", err)
	}
	return dir, nil
}

// fsChanges stores the sandbox's view of the workspace changes.
func fsChanges(cs []sandbox.Change) []store.FSChange {
	out := make([]store.FSChange, len(cs))
	for i, c := range cs {
		out[i] = store.FSChange{Path: c.Path, Change: c.Change, Size: c.Size, SHA256: c.SHA256, IsDir: c.IsDir}
	}
	return out
}
