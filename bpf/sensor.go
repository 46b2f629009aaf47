package bpf

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"golang.org/x/sys/unix"
)

// DefaultRingBufBytes is the ring buffer size used when Config.RingBufBytes
// is 0. 64 MiB absorbs bursts of several hundred thousand records, which
// keeps a busy build from losing events while the reader catches up.
const DefaultRingBufBytes = 64 << 20

// Config selects what the sensor watches.
type Config struct {
	// CgroupID is the v2 cgroup id (inode number of the cgroup2 directory)
	// of the container; it is the only cgroup traced. Required.
	CgroupID uint64
	// RingBufBytes is the ring buffer size; 0 means DefaultRingBufBytes.
	// It is rounded up to a power of two of at least one page. Tests use a
	// tiny buffer to provoke (and check the accounting of) losses.
	RingBufBytes int
	// UnixAllow lists the directories (as seen inside the sandbox) whose
	// unix sockets the sandbox may connect or send to; any other unix
	// address, and abstract names in the host's network namespace, are
	// refused with EPERM and recorded denied (see sockaddr.bpf.c). nil
	// records unix addresses without judging them.
	UnixAllow []string
}

// ErrDrained is returned by Read after Stop, once every event that was
// buffered when the programs were detached has been returned.
var ErrDrained = errors.New("bpf: sensor stopped and all events drained")

// Sensor is a loaded and attached sensor. Read must be called from one
// goroutine at a time; the other methods are safe to call concurrently.
type Sensor struct {
	objs sensorObjects
	rd   *ringbuf.Reader
	rec  ringbuf.Record

	mu       sync.Mutex
	links    []link.Link
	sa       *sockAddr // cgroup sock_addr hooks (sockaddr.go)
	cgroup   *os.File  // the watched cgroup (Watch), for Stop's emptiness check
	watched  bool
	stopped  bool
	closed   bool
	detached chan error  // Stop's background detach; nil before Stop
	drained  bool        // touched only by Read
	armed    bool        // Read's poll deadline is set (touched only by Read)
	strs     *strCache   // Read's decoded strings, made at load (touched only by Read)
	ret      retireState // touched only by Read, then by SyscallCounts after Stop
}

func setVar(spec *ebpf.CollectionSpec, name string, v any) error {
	vs, ok := spec.Variables[name]
	if !ok {
		return fmt.Errorf("bpf: object has no variable %q", name)
	}
	if err := vs.Set(v); err != nil {
		return fmt.Errorf("bpf: set %s: %w", name, err)
	}
	return nil
}

// ringSize rounds n up to a power of two of at least one page.
func ringSize(n int) uint32 {
	if n <= 0 {
		n = DefaultRingBufBytes
	}
	size := os.Getpagesize()
	for size < n && size < 1<<30 {
		size <<= 1
	}
	return uint32(size)
}

// syscallTable maps this GOARCH's syscall numbers to the object's internal
// syscall ids (enum sc_id, read from the object's BTF), so the BPF object
// itself holds no architecture-specific numbers.
func syscallTable(spec *ebpf.CollectionSpec) ([nrTable]uint8, error) {
	var table [nrTable]uint8
	var e *btf.Enum
	if err := spec.Types.TypeByName("sc_id", &e); err != nil {
		return table, fmt.Errorf("bpf: enum sc_id: %w", err)
	}
	for _, v := range e.Values {
		name, ok := strings.CutPrefix(v.Name, "SC_")
		if !ok || strings.ToUpper(name) == name { // SC_NONE, SC_MAX, ...
			continue
		}
		if nr, ok := SyscallNr(name); ok && nr < len(table) {
			table[nr] = uint8(v.Value)
		}
	}
	return table, nil
}

// loadError keeps the useful tail of a verifier log: the full log of a
// program this size is thousands of lines, the reason is at the end.
func loadError(err error) error {
	var uts unix.Utsname
	if unix.Uname(&uts) == nil {
		release := unix.ByteSliceToString(uts.Release[:])
		if major, minor, ok := kernelVersion(release); ok && (major < minKernelMajor || major == minKernelMajor && minor < minKernelMinor) {
			return fmt.Errorf("%w (this kernel: %s): %w", ErrKernelTooOld, release, err)
		}
	}
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		log := ve.Log
		if len(log) > 20 {
			log = log[len(log)-20:]
		}
		return fmt.Errorf("bpf: load programs: %w\nverifier log tail:\n%s", err, strings.Join(log, "\n"))
	}
	return fmt.Errorf("bpf: load programs: %w", err)
}

// ErrKernelTooOld wraps a load failure on a kernel older than the sensor
// needs: Linux 6.17, for bpf_rdonly_cast to an untyped view (kread64 in
// sensor.bpf.c), on top of tp_btf programs, task storage and the cgroup
// sock_addr hooks.
var ErrKernelTooOld = errors.New("bpf: the sensor needs Linux 6.17 or later")

// The oldest kernel the sensor loads on (ErrKernelTooOld).
const minKernelMajor, minKernelMinor = 6, 17

// kernelVersion reads major and minor from a kernel release string such
// as "6.18.0-1-amd64" or "6.17-rc1".
func kernelVersion(release string) (major, minor int, ok bool) {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	lead := func(s string) (int, bool) {
		n := 0
		for n < len(s) && s[n] >= '0' && s[n] <= '9' {
			n++
		}
		v, err := strconv.Atoi(s[:n])
		return v, err == nil
	}
	major, ok1 := lead(parts[0])
	minor, ok2 := lead(parts[1])
	return major, minor, ok1 && ok2
}

// Read blocks until the next event and returns it decoded. After Stop it
// returns the events still buffered, then ErrDrained.
func (s *Sensor) Read() (Event, error) {
	var ev Event
	err := s.ReadInto(&ev)
	return ev, err
}

// ReadInto is Read decoding into *ev, every field of which it overwrites:
// a reader that reuses its Events neither copies nor allocates them per
// record. Strings that repeat (paths) are shared between events.
func (s *Sensor) ReadInto(ev *Event) error {
	if s.drained {
		*ev = Event{}
		return ErrDrained
	}
	for {
		// The kernel side wakes us only when a batch is waiting, so poll.
		// The deadline matters only when the ring is empty and is renewed
		// once it has passed, not per record (that cost a clock read and
		// a lock each): a wait never lasts longer than pollInterval.
		if !s.armed {
			s.rd.SetDeadline(time.Now().Add(pollInterval))
			s.armed = true
		}
		err := s.rd.ReadInto(&s.rec)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			s.armed = false
			continue
		}
		if err != nil {
			*ev = Event{}
			return s.readErr(err)
		}
		if err := decodeInto(s.rec.RawSample, ev, s.strs); err != nil {
			return err
		}
		return s.noteEvent(ev)
	}
}

// pollInterval bounds how long a small batch of events waits in the ring
// buffer before Read sees it.
const pollInterval = 20 * time.Millisecond

func (s *Sensor) readErr(err error) error {
	{
		if errors.Is(err, ringbuf.ErrFlushed) || errors.Is(err, ringbuf.ErrClosed) || errors.Is(err, os.ErrClosed) {
			s.mu.Lock()
			stopped := s.stopped
			s.mu.Unlock()
			if stopped {
				s.drained = true
				return ErrDrained
			}
		}
		return fmt.Errorf("bpf: read ring buffer: %w", err)
	}
}

// Count is how often one process (host tgid) made one syscall, and how many
// of those calls failed (returned -errno).
type Count struct {
	Pid    uint32
	Nr     int
	Count  uint64
	Errors uint64
}

// SyscallCounts returns the per (process, syscall) counters. Counting starts
// with the first exec in the cgroup; exit and exit_group never return and
// are not counted. The counts are exact once Stop has returned and Read has
// returned ErrDrained (while the programs run, a count may be seen twice or
// not yet). Counts of exited processes are moved out of the kernel's map
// while Read runs (see retire.go); call it from Read's goroutine or after.
func (s *Sensor) SyscallCounts() ([]Count, error) {
	type key struct {
		pid uint32
		nr  int
	}
	sums := map[key]*Count{}
	add := func(pid uint32, nr int, count, errs uint64) {
		c := sums[key{pid, nr}]
		if c == nil {
			c = &Count{Pid: pid, Nr: nr}
			sums[key{pid, nr}] = c
		}
		c.Count += count
		c.Errors += errs
	}
	var (
		k sensorCountKey
		v sensorCountVal
	)
	for k, v := range s.ret.retired {
		add(k.Pid, int(k.Nr), v.Count, v.Errors)
	}
	it := s.objs.Counts.Iterate()
	for it.Next(&k, &v) {
		add(k.Pid, int(k.Nr), v.Count, v.Errors)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("bpf: read syscall counts: %w", err)
	}
	// Counts still held in the per-CPU caches (not flushed to the map).
	var perCPU [][nrTable]sensorCountSlot
	if err := s.objs.Pcounts.Lookup(uint32(0), &perCPU); err != nil {
		return nil, fmt.Errorf("bpf: read cached syscall counts: %w", err)
	}
	for _, slots := range perCPU {
		for nr, sl := range slots {
			if sl.Count > 0 {
				add(sl.Pid, nr, sl.Count, sl.Errors)
			}
		}
	}
	out := make([]Count, 0, len(sums))
	for _, c := range sums {
		out = append(out, *c)
	}
	return out, nil
}

// lossClasses names the indexes of the kernel's loss counter array.
var lossClasses = map[sensorLossClass]string{
	sensorLossClassLOSS_EXEC:  "exec",
	sensorLossClassLOSS_FORK:  "fork",
	sensorLossClassLOSS_EXIT:  "exit",
	sensorLossClassLOSS_FILE:  "file",
	sensorLossClassLOSS_NET:   "net",
	sensorLossClassLOSS_PRIV:  "priv",
	sensorLossClassLOSS_COUNT: "count",
}

// Lost returns, per class (exec, fork, exit, file, net, priv, count, and
// the sockaddr object's sockaddr, dns_mmsg), how many records the kernel
// could not deliver because the ring buffer was full ("count": syscalls not
// counted because the counter map was full; "dns_mmsg": sendmmsg messages to
// port 53 past the 16 read per call). Every
// class is present, zero or not. A run with any loss is incomplete.
func (s *Sensor) Lost() (map[string]uint64, error) {
	out := make(map[string]uint64, len(lossClasses))
	for idx, name := range lossClasses {
		var perCPU []uint64
		if err := s.objs.Lost.Lookup(uint32(idx), &perCPU); err != nil {
			return nil, fmt.Errorf("bpf: read loss counter %s: %w", name, err)
		}
		var sum uint64
		for _, n := range perCPU {
			sum += n
		}
		out[name] = sum
	}
	if s.sa != nil {
		if err := s.sa.lost(out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SyscallName returns the name of syscall nr on this GOARCH (amd64 or
// arm64), or "syscall_NNN" when unknown.
func SyscallName(nr int) string {
	if n, ok := syscallNames[nr]; ok {
		return n
	}
	return fmt.Sprintf("syscall_%d", nr)
}

var syscallNrs = func() map[string]int {
	m := make(map[string]int, len(syscallNames))
	for nr, n := range syscallNames {
		m[n] = nr
	}
	return m
}()

// x32SyscallBit marks an x32 syscall number.
const x32SyscallBit = 0x40000000

// CompatSyscallName names a compat syscall record's number: the i386 name
// ("open", "socketcall", "setuid32"), "x32:NAME" for an x32 call, or
// "syscall_NNN" when the table has no name for it.
func CompatSyscallName(nr int) string {
	if nr&x32SyscallBit != 0 {
		return "x32:" + SyscallName(nr&^x32SyscallBit)
	}
	if n, ok := compatNames[nr]; ok {
		return n
	}
	return fmt.Sprintf("syscall_%d", nr)
}

// SyscallNr returns the number of the named syscall on this GOARCH.
func SyscallNr(name string) (int, bool) {
	nr, ok := syscallNrs[name]
	return nr, ok
}
