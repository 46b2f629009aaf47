package recorder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/behavediff/behavediff/bpf"
	"github.com/behavediff/behavediff/recorder/egress"
	"github.com/behavediff/behavediff/recorder/sandbox"
	"github.com/behavediff/behavediff/store"
)

// recording is one Record call, phase by phase: prepare (spec, policy,
// network plan, daemon, root filesystem, sandbox options), create (the
// sandbox with runc init waiting, the proxy in its namespace, the sensor
// on its cgroup), begin (the run row and the tracker), execute (start,
// wait, drain) and finish (everything the run row keeps). close releases
// what create made, in reverse order.
type recording struct {
	o          Options
	db         *store.DB
	progress   io.Writer
	t          *timings
	cleanupCtx context.Context // outlives a cancelled ctx: the run is still stored

	net    netPlan
	client *sandbox.Client
	outCap int
	stdout *capture
	stderr *capture
	stdin  *stdinTee
	sbOpts sandbox.Options

	sb     *sandbox.Sandbox
	proxy  *egress.Server
	sensor *bpf.Sensor
	bg     sync.WaitGroup // teardown's closes
	// sensorWait returns the sensor loading since prepare (loadSensor).
	sensorWait func() (*bpf.Sensor, error)

	specJSON []byte
	w        *store.RunWriter
	res      Result
	base     uint64
	tr       *tracker
}

// prepare checks the spec and decides everything the sandbox needs before
// any of it exists.
func prepare(ctx context.Context, db *store.DB, o Options, t *timings) (*recording, error) {
	if err := o.Spec.Validate(); err != nil {
		return nil, err
	}
	if o.Spec.Version == 0 {
		o.Spec.Version = SpecVersion
	}
	if o.Spec.Timeout == 0 {
		o.Spec.Timeout = Duration(DefaultTimeout)
	}
	r := &recording{o: o, db: db, progress: o.Progress, t: t, cleanupCtx: context.WithoutCancel(ctx)}
	if r.progress == nil {
		r.progress = io.Discard
	}
	var enforce *Enforcement
	if o.Enforce != nil {
		var err error
		if enforce, err = o.Enforce(o.Spec); err != nil {
			return nil, err
		}
	}
	var err error
	if r.net, err = planNet(o.Spec, enforce); err != nil {
		return nil, err
	}
	// From here on everything is start-up latency: the sensor loads while
	// the daemon is reached and the sandbox is created.
	r.loadSensor()

	end := t.begin("connect to containerd")
	r.client, err = sandbox.Connect(ctx, o.Address, r.progress)
	end()
	if err != nil {
		r.close()
		return nil, err
	}
	rootfs := o.Spec.Rootfs
	if sandbox.IsImageRef(o.Spec.Image) {
		rootfs, err = r.client.PullRootfs(ctx, o.Spec.Image, o.Spec.InsecureRegistries, ImageCacheDir, r.progress)
	} else if o.Spec.Image != "" {
		rootfs, err = imageRootfs(ctx, o.Spec.Image, r.progress)
	}
	if err != nil {
		r.close()
		return nil, err
	}

	r.outCap = o.OutputCap
	if r.outCap == 0 {
		r.outCap = DefaultOutputCap
	}
	r.stdout, r.stderr = newCapture(o.Stdout, r.outCap), newCapture(o.Stderr, r.outCap)
	if o.Stdin != nil {
		r.stdin = &stdinTee{r: o.Stdin, cap: r.outCap}
	}
	r.sbOpts = sandbox.Options{
		ID:              "bd-" + randomID(),
		Args:            o.Spec.Args,
		Env:             r.net.env(o.Spec.Env),
		Workspace:       o.Spec.Workspace,
		Rootfs:          rootfs,
		Timeout:         time.Duration(o.Spec.Timeout),
		Stdout:          r.stdout,
		Stderr:          r.stderr,
		MemoryBytes:     o.Spec.MemoryBytes,
		PidsLimit:       o.Spec.PidsLimit,
		DiskBytes:       o.Spec.DiskBytes,
		TmpfsBytes:      o.Spec.TmpfsBytes,
		CPUs:            o.Spec.CPUs,
		User:            o.Spec.User,
		NoUserNamespace: o.Spec.UserNSOff(),
		Network:         r.net.mode == NetHost,
		HideHostSecrets: true,
		Protect:         append(o.Protect, dbFiles(db.Path())...),
	}
	if enforce != nil {
		r.sbOpts.Seccomp = enforce.Seccomp
	}
	if r.stdin != nil {
		r.sbOpts.Stdin = r.stdin
	}
	if r.net.mode != NetHost {
		// Point the resolver at loopback so a lookup is really sent (and
		// seen): in proxy mode behavediff's resolver answers there, in none
		// mode nothing does.
		r.sbOpts.ResolvConf = egress.ResolvConf
	}
	return r, nil
}

// create makes the sandbox (runc init waits in its new cgroup), serves the
// proxy in its network namespace and points the sensor at its cgroup. The
// sensor loads meanwhile (loading is independent of the cgroup, and as slow
// as creating the sandbox); it watches the cgroup before create returns, so
// before the command's first instruction.
func (r *recording) create(ctx context.Context) error {
	end := r.t.begin("create sandbox")
	sb, err := r.client.Create(ctx, r.sbOpts)
	end()
	r.sb = sb
	sensor, serr := r.waitSensor()
	r.sensor = sensor // close releases whichever exists
	if err != nil {
		// Say a missing program plainly (the CLI exits 127 for it, like a
		// shell).
		if errors.Is(err, sandbox.ErrExecutableNotFound) {
			return fmt.Errorf("%w: %s (inside the sandbox, PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin)", ErrCommandNotFound, r.o.Spec.Args[0])
		}
		return fmt.Errorf("create sandbox: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("load eBPF sensor: %w", serr)
	}
	// The proxy's sockets are opened in the sandbox's namespace now, while
	// runc init waits: nothing of the command can have taken the ports.
	end = r.t.begin("start proxy")
	r.proxy, err = r.net.start(ctx, r.sb.Pid())
	end()
	if err != nil {
		return err
	}
	end = r.t.begin("watch cgroup")
	defer end()
	if err := r.sensor.Watch(r.sb.CgroupID()); err != nil {
		return fmt.Errorf("eBPF sensor: %w", err)
	}
	return nil
}

// loadSensor starts loading the sensor (bpf.Prepare: the verifier, most of
// the start-up time) in the background; waitSensor returns it.
func (r *recording) loadSensor() {
	type loaded struct {
		s   *bpf.Sensor
		err error
	}
	c := make(chan loaded, 1)
	go func() {
		defer r.t.begin("load sensor (concurrent)")()
		s, err := bpf.Prepare(bpf.Config{RingBufBytes: r.o.RingBufBytes, UnixAllow: unixAllow(r.o.Spec.Workspace)})
		c <- loaded{s, err}
	}()
	r.sensorWait = func() (*bpf.Sensor, error) {
		l := <-c
		return l.s, l.err
	}
}

// waitSensor waits for the sensor loadSensor started; it can be called once.
func (r *recording) waitSensor() (*bpf.Sensor, error) {
	if r.sensorWait == nil {
		return nil, errors.New("sensor not loading (internal error)")
	}
	w := r.sensorWait
	r.sensorWait = nil
	return w()
}

// close releases what prepare and create made. The sensor's detach (RCU
// grace periods) and the sandbox's teardown (containerd round trips,
// unmounts) are independent waits, so they overlap each other and, when
// finish starts them (teardown), the storing of the run: the command is gone
// and the sensor's gate closed, so no order matters.
func (r *recording) close() {
	r.teardown()
	if r.proxy != nil {
		r.proxy.Close()
	}
	r.bg.Wait()
	if r.client != nil {
		r.client.Close()
	}
}

// teardown starts closing the sensor and the sandbox in the background;
// close waits for both. Neither may be used afterwards.
func (r *recording) teardown() {
	if r.sensorWait != nil { // prepare or create failed before taking it
		r.sensor, _ = r.waitSensor()
	}
	if s := r.sensor; s != nil {
		r.sensor = nil
		r.bg.Go(func() {
			defer r.t.begin("close sensor")()
			s.Close()
		})
	}
	if sb := r.sb; sb != nil {
		r.sb = nil
		r.bg.Go(func() {
			defer r.t.begin("close sandbox")()
			sb.Close(r.cleanupCtx)
		})
	}
}

// begin writes the run row (status running) and starts the tracker.
func (r *recording) begin(ctx context.Context) error {
	var err error
	if r.specJSON, err = MarshalSpec(r.o.Spec.Redacted()); err != nil {
		return fmt.Errorf("encode run spec: %w", err)
	}
	r.w, err = r.db.BeginRun(ctx, store.Run{
		Name:        r.o.Spec.Name,
		Command:     r.o.Spec.Args,
		Workspace:   r.o.Spec.Workspace,
		StartedAt:   time.Now(),
		ExitCode:    -1,
		Spec:        r.specJSON,
		ReplayOf:    r.o.ReplayOf,
		StdoutCap:   int64(r.outCap),
		StderrCap:   int64(r.outCap),
		ToolVersion: r.o.ToolVersion,
		Limits:      limitsOf(r.sbOpts),
	})
	if err != nil {
		return err
	}
	r.res = Result{RunID: r.w.ID()}
	r.base = monotonicNow()
	r.tr = newTracker(r.w, r.base)
	return nil
}

// fail keeps a failed run with its cause and, since every call comes after
// the ingest finished, with the process table its events refer to.
func (r *recording) fail(cause error) (Result, error) {
	r.res.Status = store.StatusError
	outB, outT := r.stdout.result()
	errB, errT := r.stderr.result()
	procs := r.tr.processes()
	rows, _ := proxyRows(r.proxy, r.base, procs)
	ferr := r.w.Finish(r.cleanupCtx, store.Final{
		Processes: procs, Proxy: rows, ExitCode: -1, Status: store.StatusError, Error: cause.Error(),
		Stdout: outB, Stderr: errB, StdoutTrunc: outT, StderrTrunc: errT,
	})
	if ferr != nil {
		if aerr := r.w.Abort(r.cleanupCtx, store.StatusError, cause); aerr != nil {
			cause = fmt.Errorf("%w (and marking run %d failed: %v)", cause, r.res.RunID, aerr)
		}
	}
	return r.res, cause
}

// execute starts the command, waits for it (timeout, Ctrl-C), then stops
// the sensor and drains what the kernel still holds before finishing.
func (r *recording) execute(ctx context.Context) (Result, error) {
	ing := startIngest(r.sensor, r.tr, r.sb.InsideUID)
	end := r.t.begin("start command")
	err := r.sb.Start(ctx)
	end()
	if err != nil {
		r.sensor.Stop()
		ing.wait()
		return r.fail(fmt.Errorf("start command %q: %w", r.o.Spec.Args[0], err))
	}
	end = r.t.begin("wait for command")
	sr, werr := r.sb.Wait(ctx)
	end()
	// The command is gone: detach and drain what the kernel still holds.
	end = r.t.begin("stop sensor")
	if err := r.sensor.Stop(); err != nil && werr == nil {
		werr = fmt.Errorf("stop sensor: %w", err)
	}
	end()
	end = r.t.begin("drain events")
	ingErr := ing.wait()
	end()
	if werr != nil {
		return r.fail(fmt.Errorf("wait for command: %w", werr))
	}
	if ingErr != nil {
		return r.fail(fmt.Errorf("store events: %w", ingErr))
	}
	return r.finish(ctx, sr)
}

// finish collects what the kernel and the sandbox know after the command
// (syscall counts, loss, workspace changes, the proxy's requests), applies
// --keep-changes, and writes the run's final row.
func (r *recording) finish(ctx context.Context, sr sandbox.Result) (Result, error) {
	defer r.t.begin("finish run")()
	res := &r.res
	counts, err := r.sensor.SyscallCounts()
	if err != nil {
		return r.fail(fmt.Errorf("read syscall counts: %w", err))
	}
	lost, err := r.sensor.Lost()
	if err != nil {
		return r.fail(fmt.Errorf("read loss counters: %w", err))
	}
	changes, err := r.sb.Changes()
	if err != nil {
		return r.fail(fmt.Errorf("read workspace changes: %w", err))
	}
	if r.o.KeepChanges {
		refused, err := r.sb.ApplyChanges()
		for _, rf := range refused {
			fmt.Fprintf(r.progress, "behavediff: --keep-changes: not applied: %s: %s\n", rf.Path, rf.Reason)
		}
		res.Refused = refused
		if err != nil {
			return r.fail(fmt.Errorf("apply workspace changes: %w", err))
		}
	}
	// Everything the kernel and the sandbox know is read: let them go
	// while the run is stored.
	r.teardown()

	syscalls := r.tr.counts(counts) // may add orphan images: before processes()
	procs := r.tr.processes()
	proxyReqs, proxyLost := proxyRows(r.proxy, r.base, procs)

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
	res.Malformed = r.tr.malformed
	res.ExitCode = sr.ExitCode
	res.LimitsHit = sr.LimitsHit
	for _, l := range sr.LimitsHit {
		fmt.Fprintf(r.progress, "behavediff: %s\n", l)
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
	outB, outT := r.stdout.result()
	errB, errT := r.stderr.result()
	specJSON := r.specJSON
	if r.stdin != nil {
		spec := r.o.Spec
		spec.Stdin = r.stdin.captured()
		if b, err := MarshalSpec(spec.Redacted()); err == nil {
			specJSON = b
		}
	}
	err = r.w.Finish(r.cleanupCtx, store.Final{
		Processes:   procs,
		Proxy:       proxyReqs,
		Syscalls:    syscalls,
		Changes:     fsChanges(changes),
		ExitCode:    res.ExitCode,
		Status:      res.Status,
		LostByClass: lostBy,
		Malformed:   r.tr.malformed,
		Stdout:      outB,
		Stderr:      errB,
		StdoutTrunc: outT,
		StderrTrunc: errT,
		EndedAt:     time.Now(),
		Spec:        specJSON,
		LimitsHit:   sr.LimitsHit,
	})
	if err != nil {
		return r.fail(fmt.Errorf("finish run %d: %w", res.RunID, err))
	}
	if res.Tampered, err = projectTamper(r.cleanupCtx, r.db, res.RunID); err != nil {
		// The run is stored; only the warning could not be computed.
		fmt.Fprintf(r.progress, "behavediff: WARNING: %v\n", err)
	}
	for _, p := range res.Tampered {
		fmt.Fprintf(r.progress, "behavediff: WARNING: the command tried to change behavediff's own file %s (refused; check rates this critical)\n", p)
	}
	return *res, nil
}
