package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
)

// Labels that tie a container to the behavediff process that created it, so
// a later Connect can tell a sandbox in use from one whose recorder died
// (kill -9, OOM, power loss) and clean the latter up.
const (
	labelOwnerPID   = "behavediff.owner-pid"
	labelOwnerStart = "behavediff.owner-start" // /proc/PID/stat starttime: guards against pid reuse
	labelBootID     = "behavediff.boot-id"
)

// ownerLabels describes the current process.
func ownerLabels() map[string]string {
	pid := os.Getpid()
	return map[string]string{
		labelOwnerPID:   strconv.Itoa(pid),
		labelOwnerStart: procStart(pid),
		labelBootID:     bootID(),
	}
}

// procStart is field 22 of /proc/PID/stat (start time in clock ticks since
// boot), or "" when the process does not exist.
func procStart(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// comm (field 2) may contain spaces: fields after it follow the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// orphaned reports whether the labels name an owner that is gone.
func orphaned(l map[string]string) bool {
	pid, err := strconv.Atoi(l[labelOwnerPID])
	if err != nil {
		return false // not ours to judge
	}
	if l[labelBootID] != bootID() {
		return true
	}
	start := procStart(pid)
	return start == "" || start != l[labelOwnerStart]
}

// Sweep deletes sandboxes whose behavediff process is gone: their task,
// container and per-run directory. Sandboxes of live recorders are left
// alone, so concurrent records never disturb each other. It returns how
// many it removed.
func (c *Client) Sweep(ctx context.Context) (int, error) {
	conts, err := c.cd.Containers(ctx, fmt.Sprintf(`labels."%s"`, labelOwnerPID))
	if err != nil {
		return 0, fmt.Errorf("sandbox: list containers: %w", err)
	}
	n := 0
	var errs []error
	for _, cont := range conts {
		labels, err := cont.Labels(ctx)
		if err != nil || !orphaned(labels) {
			continue
		}
		if task, err := cont.Task(ctx, nil); err == nil {
			if _, err := task.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("delete task %s: %w", cont.ID(), err))
				continue
			}
		}
		if err := cont.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete container %s: %w", cont.ID(), err))
			continue
		}
		if err := releaseRootView(cont.ID()); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := unmountRun(filepath.Join(runsDir, cont.ID())); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.RemoveAll(filepath.Join(runsDir, cont.ID())); err != nil {
			errs = append(errs, err)
		}
		n++
	}
	if err := c.sweepStaleDirs(ctx); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return n, fmt.Errorf("sandbox: sweep: %w", errors.Join(errs...))
	}
	return n, nil
}

// staleDirAge is how old a run directory without a container must be before
// Sweep removes it; Create makes the directory moments before the container.
const staleDirAge = time.Hour

// runDirYoung reports whether run id's directory exists and is younger
// than staleDirAge (or cannot be judged).
func runDirYoung(id string) bool {
	info, err := os.Lstat(filepath.Join(runsDir, id))
	if errors.Is(err, os.ErrNotExist) {
		return false
	}
	return err != nil || time.Since(info.ModTime()) < staleDirAge
}

// sweepStaleDirs unmounts and removes run directories whose container is
// gone (a recorder that crashed in Create, or a sweeper that removed the
// container but could not unmount the run's disk).
func (c *Client) sweepStaleDirs(ctx context.Context) error {
	ents, err := os.ReadDir(runsDir)
	if err != nil {
		return nil // no runs yet
	}
	conts, err := c.cd.Containers(ctx)
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	live := map[string]bool{}
	for _, ct := range conts {
		live[ct.ID()] = true
	}
	var errs []error
	for _, e := range ents {
		info, err := e.Info()
		if err != nil || live[e.Name()] || time.Since(info.ModTime()) < staleDirAge {
			continue
		}
		dir := filepath.Join(runsDir, e.Name())
		if err := unmountRun(dir); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
		}
	}
	// Idmapped rootfs views of runs whose container is gone. A view is a
	// mount point: its mtime is its image root's, hours old for a view
	// made a moment ago, so its age is its run dir's, which Create makes
	// first; a view without one is left by a run whose dir is gone.
	views, _ := os.ReadDir(rootsDir)
	for _, e := range views {
		if live[e.Name()] || runDirYoung(e.Name()) {
			continue
		}
		if err := releaseRootView(e.Name()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
