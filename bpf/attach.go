package bpf

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"
)

// The sensor's life: Prepare, Watch, Stop, Close.
//
// Loading (CO-RE relocation and the verifier) is most of a recording's
// start-up time, so it must not wait for the sandbox: every program compares
// the current cgroup id with target_cgroup, a writable global (.bss) that is
// 0 - no cgroup has id 0, the gate is closed - until Watch writes the
// sandbox's id into the loaded objects' memory. Prepare therefore loads and
// attaches everything that does not need the cgroup while the container
// runtime creates the sandbox; Watch, before the command's first
// instruction, only attaches the cgroup hooks and opens the gate. Stop
// closes the gate again, which is instant; the detach runs in the
// background and Close waits for it. Every attachment is a tp_btf or cgroup
// link, which detaches in microseconds: no perf-event tracepoints (such as
// syscalls/sys_exit_connect), whose last release waits ~100 ms of RCU
// grace periods (tracepoint_synchronize_unregister), so the work of the
// sockaddr object that needs a syscall's end runs in the sensor's
// sys_exit (sa_exit.h).

// Prepare loads both objects and attaches the tracing programs with the
// gate closed: nothing is recorded until Watch. cfg.CgroupID must be 0
// (Watch gives the cgroup); it needs no sandbox, so it can run while the
// sandbox is created.
func Prepare(cfg Config) (*Sensor, error) {
	if cfg.CgroupID != 0 {
		return nil, errors.New("bpf: Prepare takes no cgroup id: pass it to Watch (or use Load)")
	}
	// Only needed on kernels before 5.11 (memlock accounting); harmless after.
	_ = rlimit.RemoveMemlock()

	spec, err := loadSensor()
	if err != nil {
		return nil, fmt.Errorf("bpf: parse embedded object: %w", err)
	}
	spec.Maps["events"].MaxEntries = ringSize(cfg.RingBufBytes)
	ncpu, err := ebpf.PossibleCPU()
	if err != nil {
		return nil, fmt.Errorf("bpf: count CPUs: %w", err)
	}
	spec.Maps["heap"].MaxEntries = uint32(ncpu) // one scratch area per CPU

	table, err := syscallTable(spec)
	if err != nil {
		return nil, err
	}
	if err := setVar(spec, "sc_table", table); err != nil {
		return nil, err
	}
	if nr, ok := SyscallNr("rt_sigreturn"); ok {
		if err := setVar(spec, "sigreturn_nr", uint32(nr)); err != nil {
			return nil, err
		}
	}
	ringBytes := spec.Maps["events"].MaxEntries
	if err := setVar(spec, "wakeup_bytes", uint64(min(ringBytes/8, 256<<10))); err != nil {
		return nil, err
	}

	// The ring buffer (zeroed pages, then mapped for the reader: tens of ms
	// for the default size) and the maps the sockaddr work shares are made
	// while the kernel's BTF is decoded; all come before the two loads,
	// which run in parallel: the sockaddr object (sockaddr.go) writes into
	// the same ring, and its sys_exit half runs in the sensor (sa_exit.h).
	type ringResult struct {
		m      *ebpf.Map
		rd     *ringbuf.Reader
		saSpec *ebpf.CollectionSpec
		shared saShared
		err    error
	}
	ringC := make(chan ringResult, 1)
	go func() {
		var r ringResult
		defer func() { ringC <- r }()
		m, err := ebpf.NewMap(spec.Maps["events"])
		if err != nil {
			r.err = fmt.Errorf("bpf: ring buffer: %w", err)
			return
		}
		rd, err := ringbuf.NewReader(m)
		if err != nil {
			m.Close()
			r.err = fmt.Errorf("bpf: ring buffer reader: %w", err)
			return
		}
		saSpec, shared, err := newSAShared()
		if err != nil {
			rd.Close()
			m.Close()
			r.err = err
			return
		}
		r = ringResult{m: m, rd: rd, saSpec: saSpec, shared: shared}
	}()
	kernel := btf.NewCache() // both loads relocate against one decoding of the kernel's BTF
	_, kerr := kernel.Kernel()
	ring := <-ringC
	if ring.err != nil {
		return nil, ring.err
	}
	events := ring.m
	defer events.Close()      // each collection holds its own reference
	defer ring.shared.close() // likewise
	if kerr != nil {
		ring.rd.Close()
		return nil, fmt.Errorf("bpf: kernel BTF: %w", kerr)
	}
	var sa *sockAddr
	saErr := make(chan error, 1)
	go func() {
		var err error
		sa, err = loadSockAddr(cfg, ring.saSpec, events, ring.shared, kernel)
		saErr <- err
	}()
	s := &Sensor{rd: ring.rd, strs: newStrCache()}
	err = spec.LoadAndAssign(&s.objs, &ebpf.CollectionOptions{MapReplacements: ring.shared.replacements(events), Cache: kernel})
	if serr := <-saErr; err != nil || serr != nil {
		if sa != nil {
			sa.close()
		}
		s.rd.Close()
		if err != nil {
			return nil, loadError(err)
		}
		s.objs.Close()
		return nil, serr
	}
	s.sa = sa
	progs := []struct {
		name string
		p    *ebpf.Program
	}{
		// exec first: it opens the gate, the others only report after it.
		{"sched_process_exec", s.objs.SchedExec},
		{"sched_process_fork", s.objs.SchedFork},
		{"sched_process_exit", s.objs.SchedExit},
		// the path argument copies (pathargs.h) before the exit that uses them
		{"kmem_cache_free", s.objs.KmemFree},
		{"sys_enter", s.objs.SysEnter},
		{"sys_exit", s.objs.SysExit},
	}
	for _, p := range progs {
		l, err := link.AttachTracing(link.TracingOptions{Program: p.p, AttachType: ebpf.AttachTraceRawTp})
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("bpf: attach tp_btf/%s: %w", p.name, err)
		}
		s.links = append(s.links, l)
	}
	return s, nil
}

// Load is Prepare followed by Watch(cfg.CgroupID).
func Load(cfg Config) (*Sensor, error) {
	if cfg.CgroupID == 0 {
		return nil, errors.New("bpf: Config.CgroupID is required")
	}
	id := cfg.CgroupID
	cfg.CgroupID = 0
	s, err := Prepare(cfg)
	if err != nil {
		return nil, err
	}
	if err := s.Watch(id); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// ErrNotWatching is returned by Watch on a sensor that already watches a
// cgroup, or was stopped.
var ErrNotWatching = errors.New("bpf: sensor already watching, stopped or closed")

// Watch points the sensor at the cgroup v2 with id cgroupID: it attaches
// the sockaddr hooks to that cgroup and opens the gate. When it returns,
// every event of the cgroup after its first exec is recorded, so call it
// before the cgroup's command starts. It can be called once.
func (s *Sensor) Watch(cgroupID uint64) error {
	if cgroupID == 0 {
		return errors.New("bpf: Watch: cgroup id 0 names no cgroup")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.watched || s.stopped || s.closed {
		return ErrNotWatching
	}
	cg, err := openCgroup(cgroupID)
	if err != nil {
		return err
	}
	// The hooks first: once the gate is open, the policy is already on.
	if err := s.sa.attachCgroup(cg); err != nil {
		cg.Close()
		return err
	}
	if err := s.objs.TargetCgroup.Set(cgroupID); err != nil {
		cg.Close()
		return fmt.Errorf("bpf: watch cgroup %d: %w", cgroupID, err)
	}
	s.cgroup, s.watched = cg, true
	return nil
}

// Stop closes the gate, so nothing new is recorded, and makes Read return
// what is still buffered followed by ErrDrained. Counters and loss counts
// stay readable until Close; the programs are detached in the background
// (Close waits for that), and the cgroup hooks keep enforcing the unix
// policy until then.
func (s *Sensor) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped || s.closed {
		return nil
	}
	s.stopped = true
	var errs []error
	gate := s.objs.TargetCgroup.Set(uint64(0))
	links := s.links
	s.links = nil
	s.detached = make(chan error, 1)
	sa := s.sa
	detach := func() error {
		err := closeLinks(links)
		if sa != nil {
			err = errors.Join(err, sa.detach())
		}
		return err
	}
	if gate != nil {
		// The gate did not close: only detaching stops the programs.
		errs = append(errs, fmt.Errorf("close the gate: %w", gate))
		s.detached <- detach()
	} else {
		go func() { s.detached <- detach() }()
	}
	// A program that passed the gate before it closed may still be writing
	// its record on another CPU. Only tasks of the cgroup pass it, and the
	// last one's programs have committed before it leaves the cgroup: when
	// the cgroup is empty (the normal case: Stop follows the command's
	// exit) nothing can be in flight. Otherwise wait for every running BPF
	// program to finish.
	if s.watched && populated(s.cgroup) {
		waitForPrograms()
	}
	if s.rd != nil {
		if err := s.rd.Flush(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("bpf: stop: %w", err)
	}
	return nil
}

// populated reports whether the cgroup has tasks; when that cannot be read
// it says yes (the safe answer: Stop then waits).
func populated(cg *os.File) bool {
	fd, err := unix.Openat(int(cg.Fd()), "cgroup.events", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return true
	}
	f := os.NewFile(uintptr(fd), "cgroup.events")
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return true
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "populated "); ok {
			return v != "0"
		}
	}
	return true
}

// waitForPrograms returns once every BPF program running anywhere when it
// was called has finished: tracing programs run inside RCU read-side
// critical sections, and membarrier(MEMBARRIER_CMD_GLOBAL) waits for an RCU
// grace period (synchronize_rcu).
func waitForPrograms() {
	const membarrierCmdGlobal = 1 // MEMBARRIER_CMD_GLOBAL
	if _, _, e := unix.Syscall(unix.SYS_MEMBARRIER, membarrierCmdGlobal, 0, 0); e != 0 {
		// nohz_full kernels refuse it: a grace period is far shorter.
		time.Sleep(20 * time.Millisecond)
	}
}

// closeLinks detaches links concurrently: should a link's release wait for
// RCU grace periods (perf-event tracepoints do), one after the other would
// cost their sum.
func closeLinks(links []link.Link) error {
	errs := make([]error, len(links))
	var wg sync.WaitGroup
	for i, l := range links {
		wg.Go(func() { errs[i] = l.Close() })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// Close detaches everything and frees the kernel objects. Read returns
// ErrDrained (or an error) afterwards.
func (s *Sensor) Close() error {
	stopErr := s.Stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	errs := []error{stopErr}
	if s.detached != nil {
		errs = append(errs, <-s.detached)
	}
	if s.sa != nil {
		errs = append(errs, s.sa.close())
	}
	if s.cgroup != nil {
		errs = append(errs, s.cgroup.Close())
	}
	if s.rd != nil {
		errs = append(errs, s.rd.Close())
	}
	errs = append(errs, s.objs.Close())
	return errors.Join(errs...)
}
