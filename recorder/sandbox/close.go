package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	"golang.org/x/sys/unix"
)

// Close deletes the task and container (killing the process if it still
// runs) and removes the per-run directory. It works after failed creates,
// timeouts and interrupts, ignores a cancelled ctx (cleanup must happen on
// Ctrl-C too), and is idempotent.
//
// Once Wait has seen the command exit, every process of the sandbox is
// gone (its init reaped the rest of the pid namespace before it could be
// reaped), so the host's side (the run's mounts and files) no longer waits
// for containerd's (task delete: a runc run and the shim's exit, the
// longest part of a recording's end): the two run side by side. Before
// that, or when the task could not be deleted, the run directory is only
// released after the task is gone, as its mounts may still be in use.
func (s *Sandbox) Close(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	var hostErr error
	var host sync.WaitGroup
	early := s.result != nil && s.dir != ""
	if early {
		id, dir := s.opts.ID, s.dir
		host.Go(func() { hostErr = removeRunDir(id, dir) })
	}
	errs := s.deleteTask(ctx)
	host.Wait()
	if early {
		if hostErr != nil {
			errs = append(errs, hostErr)
		} else {
			s.dir = ""
		}
	}
	if s.task == nil && s.dir != "" {
		if err := removeRunDir(s.opts.ID, s.dir); err != nil {
			errs = append(errs, err)
		} else {
			s.dir = ""
		}
	}
	if !s.closed {
		close(s.closing)
	}
	s.closed = true
	if len(errs) > 0 {
		return fmt.Errorf("sandbox: close: %w", errors.Join(errs...))
	}
	return nil
}

// deleteTask is containerd's side of Close: the task (killed first unless
// Wait saw it exit), the container, the cgroup when we made it, and the
// watchdog once nothing is left for it to kill. Called with s.mu held.
func (s *Sandbox) deleteTask(ctx context.Context) []error {
	var errs []error
	if s.task != nil {
		// Once Wait saw init exit, the kernel has killed the rest of its
		// pid namespace: a kill would only cost another runc run.
		var opts []client.ProcessDeleteOpts
		if s.result == nil {
			opts = append(opts, client.WithProcessKill)
		}
		if _, err := s.task.Delete(ctx, opts...); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete task %s: %w", s.opts.ID, err))
		} else {
			s.task = nil
		}
	}
	if s.task == nil && s.container != nil {
		if err := s.container.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete container %s: %w", s.opts.ID, err))
		} else {
			s.container = nil
		}
	}
	if s.waitCancel != nil {
		s.waitCancel()
	}
	if s.ownCgroup && s.task == nil && s.cgroupDir != "" {
		if err := rmdirRetry(ctx, s.cgroupDir); err != nil {
			errs = append(errs, err)
		} else {
			s.ownCgroup = false
		}
	}
	if s.task == nil {
		s.watchdog.stop()
	}
	return errs
}

// removeRunDir is the host's side of Close: the idmapped rootfs view of
// sandbox id, the run's mounts (workspace overlay, its lower layer, the
// disk) and its directory dir.
func removeRunDir(id, dir string) error {
	if err := releaseRootView(id); err != nil {
		return err
	}
	if err := unmountRun(dir); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove run dir: %w", err)
	}
	return nil
}

// rmdirRetry removes a cgroup directory, retrying while the last processes
// are still being torn down (EBUSY).
func rmdirRetry(ctx context.Context, dir string) error {
	for {
		err := unix.Rmdir(dir)
		if err == nil || errors.Is(err, unix.ENOENT) {
			return nil
		}
		if !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("remove cgroup %s: %w", dir, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
