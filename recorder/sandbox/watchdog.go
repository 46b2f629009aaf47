package sandbox

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// watchdogGrace is how long after the timeout the watchdog kills the
// sandbox itself: the recorder normally does it first and reports why.
const watchdogGrace = 2 * time.Second

// watchdogScript kills the sandbox's cgroup (cgroup.kill: every process, at
// once, by the kernel) when its stdin reaches EOF, which happens when the
// recorder closes the pipe or dies in any way (SIGKILL, OOM, crash), or when
// the deadline passes. The deadline starts when the recorder writes a line
// (at Start), so the time spent attaching the sensor does not count. It
// runs in its own session so a signal to the recorder's process group does
// not take it down first.
const watchdogScript = `cg=$1; t=$2
trap '' HUP INT QUIT PIPE
if read -r _; then
  if [ "$t" -gt 0 ]; then (sleep "$t"; echo 1 > "$cg/cgroup.kill") 2>/dev/null & fi
  read -r _
fi
echo 1 > "$cg/cgroup.kill" 2>/dev/null
trap - TERM
kill 0 2>/dev/null
exit 0`

// watchdog ties a sandbox's life to the recorder's: it holds the write end
// of the pipe whose EOF the detached watchdog process waits for.
type watchdog struct {
	w    *os.File
	done chan struct{}
}

// startWatchdog starts the watchdog of the cgroup at cgroupDir. timeout 0
// means no deadline (the recorder's death still kills the sandbox).
func startWatchdog(cgroupDir string, timeout time.Duration) (*watchdog, error) {
	r, w, err := os.Pipe() // close-on-exec: no other child inherits w
	if err != nil {
		return nil, fmt.Errorf("sandbox: watchdog pipe: %w", err)
	}
	secs := 0
	if timeout > 0 {
		secs = int(math.Ceil((timeout + watchdogGrace).Seconds()))
	}
	cmd := exec.Command("/bin/sh", "-c", watchdogScript, "behavediff-watchdog", cgroupDir, fmt.Sprint(secs))
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	r.Close()
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sandbox: start watchdog: %w", err)
	}
	wd := &watchdog{w: w, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(wd.done) }()
	return wd, nil
}

// started starts the deadline.
func (wd *watchdog) started() error {
	if wd == nil || wd.w == nil {
		return nil
	}
	if _, err := wd.w.Write([]byte("start\n")); err != nil {
		return fmt.Errorf("sandbox: start the watchdog's deadline: %w", err)
	}
	return nil
}

// stop lets the watchdog go; it kills whatever is left in the cgroup.
func (wd *watchdog) stop() {
	if wd == nil || wd.w == nil {
		return
	}
	wd.w.Close()
	wd.w = nil
	select {
	case <-wd.done:
	case <-time.After(2 * time.Second):
	}
}
