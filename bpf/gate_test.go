package bpf

import (
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The gate (target_cgroup, see attach.go): Prepare loads with it closed,
// Watch opens it, Stop closes it again while the cgroup may still be busy.

func TestGateClosedUntilWatch(t *testing.T) {
	requireRoot(t)
	if _, err := Prepare(Config{CgroupID: 7}); err == nil {
		t.Error("Prepare with a cgroup id: no error (it belongs to Watch)")
	}
	s, err := Prepare(Config{})
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	c := collect(s)
	cg := newCgroup(t, "gate")
	self, _ := os.Executable()
	run := func(path string) {
		t.Helper()
		cmd := cg.command(self, "20", path)
		cmd.Env = append(os.Environ(), "BEHAVEDIFF_SENSOR_HELPER=missing")
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
	}
	run("/gate-before-watch") // loaded and attached, but not watching yet
	if err := s.Watch(0); err == nil {
		t.Error("Watch(0): no error")
	}
	if err := s.Watch(cg.id); err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if err := s.Watch(cg.id); !errors.Is(err, ErrNotWatching) {
		t.Errorf("second Watch: %v, want ErrNotWatching", err)
	}
	run("/gate-after-watch")
	evs := c.wait(t, s)
	if len(evs) == 0 || evs[0].Kind != KindExec {
		t.Fatalf("first event after Watch must be the exec, got %+v", first(evs))
	}
	var before, after int
	for _, e := range evs {
		switch e.Str[0] {
		case "/gate-before-watch":
			before++
		case "/gate-after-watch":
			after++
		}
	}
	if before != 0 || after < 20 {
		t.Errorf("opens recorded: %d before Watch (want 0), %d after (want >= 20)", before, after)
	}
	if err := s.Watch(cg.id); !errors.Is(err, ErrNotWatching) {
		t.Errorf("Watch after Stop: %v, want ErrNotWatching", err)
	}
}

// TestStopRacingBusyCgroup stops the sensor while a process of the cgroup
// keeps making recorded syscalls on the other CPU: Stop must close the
// gate at once (no record is stamped after it returns) and wait for the
// programs already past it, so that every counted call is either delivered
// or counted lost - nothing committed after the final flush goes unseen.
func TestStopRacingBusyCgroup(t *testing.T) {
	requireRoot(t)
	cg := newCgroup(t, "stoprace")
	s := load(t, Config{CgroupID: cg.id})
	c := collect(s)
	self, _ := os.Executable()
	cmd := cg.command(self, "100000000", "/stop-race-missing")
	cmd.Env = append(os.Environ(), "BEHAVEDIFF_SENSOR_HELPER=missing")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	time.Sleep(200 * time.Millisecond)
	evs := c.wait(t, s) // Stop while the loop runs
	stopped := monotonic(t)
	time.Sleep(100 * time.Millisecond) // the loop goes on, unrecorded
	if !populatedCgroup(t, cg) {
		t.Fatal("the workload ended before Stop: the race was not run")
	}
	fileNrs := map[int32]bool{nr(t, "open"): true, nr(t, "openat"): true}
	var delivered uint64
	for _, e := range evs {
		if e.TS > stopped {
			t.Fatalf("record stamped %d ns after Stop returned: %+v", e.TS-stopped, e)
		}
		if e.Kind == KindSyscall && fileNrs[e.Nr] {
			delivered++
		}
	}
	counts, err := s.SyscallCounts()
	if err != nil {
		t.Fatal(err)
	}
	var made uint64
	for _, k := range counts {
		if fileNrs[int32(k.Nr)] {
			made += k.Count
		}
	}
	lost, err := s.Lost()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("opens counted %d, delivered %d, lost %d", made, delivered, lost["file"])
	if made == 0 || delivered+lost["file"] != made {
		t.Errorf("silent drop at Stop: counted %d != delivered %d + lost %d", made, delivered, lost["file"])
	}
	// The counters stopped with the gate too.
	again, err := s.SyscallCounts()
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(sumCounts(again)) != fmt.Sprint(sumCounts(counts)) {
		t.Errorf("syscall counts still moving after Stop: %d then %d", sumCounts(counts), sumCounts(again))
	}
}

func sumCounts(cs []Count) (n uint64) {
	for _, c := range cs {
		n += c.Count
	}
	return n
}

func monotonic(t *testing.T) uint64 {
	t.Helper()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	return uint64(ts.Nano())
}

func populatedCgroup(t *testing.T, cg *testCgroup) bool {
	t.Helper()
	f, err := os.Open(cg.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return populated(f)
}
