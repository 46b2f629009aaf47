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
	// Timings, when set, receives one line per phase of the recording
	// (start offset and duration) once it ends: where start-up time goes.
	Timings io.Writer
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
	t := newTimings(o.Timings)
	defer t.print(o.Timings)
	end := t.begin("prepare")
	r, err := prepare(ctx, db, o, t)
	end()
	if err != nil {
		return Result{}, err
	}
	defer func() {
		defer t.begin("close")()
		r.close()
	}()
	if err := r.create(ctx); err != nil {
		return Result{}, err
	}
	end = t.begin("begin run")
	err = r.begin(ctx)
	end()
	if err != nil {
		return Result{}, err
	}
	return r.execute(ctx)
}

// ingest moves events from the sensor through the tracker into the store on
// two goroutines: reading never waits for SQLite, and the channel between
// them applies back-pressure to the kernel ring buffer (where any overflow is
// counted), never drops in user space.
type ingest struct {
	done chan struct{}
	err  error
}

const (
	ingestBatch   = 256 // events per hand-off between the two goroutines
	ingestQueued  = 64  // batches the reader may be ahead of the tracker
	ingestSpare   = 4   // emptied batches kept for the reader beyond those
	ingestBatches = ingestQueued + ingestSpare
)

// startIngest starts the two goroutines of an ingest. insideUID turns the
// host kuids the sensor reads into the uids the command sees (the sandbox's
// user namespace shifts them), so stored processes and baselines do not
// depend on the namespace.
//
// Batches go back to the reader once the tracker is done with them and the
// reader decodes each record straight into its slot: a new batch per hand-off
// allocated (and the collector then swept) ~90 KiB per 256 events, most of
// the recorder's garbage. Nothing the tracker keeps points into a batch (it
// copies what it stores; strings and slices of an Event are their own).
func startIngest(s *bpf.Sensor, tr *tracker, insideUID func(uint32) uint32) *ingest {
	in := &ingest{done: make(chan struct{})}
	ch := make(chan []bpf.Event, ingestQueued)
	free := make(chan []bpf.Event, ingestBatches)
	var readErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(ch)
		next := func() []bpf.Event {
			select {
			case b := <-free:
				return b[:0]
			default:
				return make([]bpf.Event, 0, ingestBatch)
			}
		}
		batch := next()
		for {
			n := len(batch)
			batch = batch[:n+1]
			ev := &batch[n]
			if err := s.ReadInto(ev); err != nil {
				batch = batch[:n]
				if len(batch) > 0 {
					ch <- batch
				}
				if !errors.Is(err, bpf.ErrDrained) {
					readErr = err
				}
				return
			}
			if ev.Kind == bpf.KindExec { // the only kind that carries a uid
				ev.UID = insideUID(ev.UID)
			}
			if len(batch) == cap(batch) {
				ch <- batch
				batch = next()
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
			select {
			case free <- batch:
			default: // the reader has spares enough; let this one go
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
