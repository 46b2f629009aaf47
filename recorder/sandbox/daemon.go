package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"golang.org/x/sys/unix"
)

// Fixed locations of behavediff's private containerd and per-run state. They
// live outside containerd's usual /var/lib/containerd and /run/containerd so
// that a system containerd (if any) and ours never share state or sockets.
const (
	libDir        = "/var/lib/behavediff"
	runDir        = "/run/behavediff"
	daemonRoot    = libDir + "/containerd"
	daemonState   = runDir + "/containerd"
	daemonSocket  = daemonState + "/containerd.sock"
	daemonConfig  = daemonState + "/config.toml"
	daemonLog     = libDir + "/containerd.log"
	daemonLock    = runDir + "/containerd.lock"
	runsDir       = libDir + "/runs"
	fifoDir       = runDir + "/fifo"
	hostRootDir   = runDir + "/hostroot"
	rootsDir      = runDir + "/roots" // per-run idmapped views of --rootfs/--image
	hostRootLock  = runDir + "/hostroot.lock"
	namespace     = "behavediff"
	daemonStartup = 20 * time.Second
)

// Client is a connection to the containerd that runs behavediff's sandboxes.
type Client struct {
	cd      *client.Client
	address string

	usernsMu sync.Mutex
	userns   *os.File // a user namespace with the sandbox's mapping (idmap.go)
}

// Connect returns a client to the containerd at address. An empty address
// means behavediff's private daemon, which is started (fully detached, so a
// CI job never waits for it) when it is not already serving, and reused
// otherwise. A private daemon keeps behavediff independent of whatever
// containerd configuration the host has, and keeps its containers out of
// other tools' views. One line on progress says which daemon is used.
func Connect(ctx context.Context, address string, progress io.Writer) (*Client, error) {
	if progress == nil {
		progress = io.Discard
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("behavediff must run as root to create sandboxes (containerd, overlayfs and eBPF need it): run it with sudo")
	}
	private := address == ""
	if private {
		address = daemonSocket
	}
	var cd *client.Client
	var version string
	var err error
	if private {
		// The warm path: the private daemon serves already, and connecting
		// is the check (one client, one round trip; no lock, so concurrent
		// records do not queue). Only a daemon that does not answer sends
		// us to ensureDaemon, which starts it under the lock.
		if unixListening(ctx, address) {
			cd, version, err = dialContainerd(ctx, address)
		}
		if cd != nil {
			fmt.Fprintf(progress, "behavediff: using private containerd (%s)\n", daemonSocket)
		} else {
			if err := ensureDaemon(ctx, progress); err != nil {
				return nil, err
			}
			cd, version, err = dialContainerd(ctx, address)
		}
	} else {
		cd, version, err = dialContainerd(ctx, address)
	}
	if err != nil {
		return nil, err
	}
	if address != daemonSocket {
		fmt.Fprintf(progress, "behavediff: using containerd %s at %s\n", version, address)
	}
	c := &Client{cd: cd, address: address}
	// Best effort: a recorder killed mid-run left its sandbox behind.
	if n, err := c.Sweep(ctx); err != nil {
		fmt.Fprintf(progress, "behavediff: warning: cleaning up sandboxes of interrupted runs: %v\n", err)
	} else if n > 0 {
		fmt.Fprintf(progress, "behavediff: removed %d sandbox(es) left by interrupted runs\n", n)
	}
	return c, nil
}

// dialContainerd connects a client to the containerd at address and checks
// that it answers.
func dialContainerd(ctx context.Context, address string) (*client.Client, string, error) {
	cd, err := client.New(address, client.WithDefaultNamespace(namespace), client.WithTimeout(10*time.Second))
	if err != nil {
		return nil, "", fmt.Errorf("connect to containerd at %s: %w", address, err)
	}
	vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := cd.Version(vctx)
	if err != nil {
		cd.Close()
		return nil, "", fmt.Errorf("containerd at %s is not answering: %w", address, err)
	}
	return cd, v.Version, nil
}

// unixListening reports whether something accepts connections on the unix
// socket (a stale socket file of a dead daemon refuses them).
func unixListening(ctx context.Context, socket string) bool {
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "unix", socket)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// Close releases the connection. The private daemon keeps running so the
// next record starts in milliseconds instead of paying daemon start-up.
func (c *Client) Close() error {
	if c == nil || c.cd == nil {
		return nil
	}
	err := c.cd.Close()
	c.cd = nil
	c.usernsMu.Lock()
	if c.userns != nil {
		c.userns.Close()
		c.userns = nil
	}
	c.usernsMu.Unlock()
	if err != nil {
		return fmt.Errorf("close containerd client: %w", err)
	}
	return nil
}

// findBinary looks name up in PATH and then in the usual system directories,
// because sudo and CI environments often lack /usr/sbin in PATH although
// Debian's runc lives there.
func findBinary(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return filepath.Abs(p)
	}
	for _, dir := range []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found: install it with apt-get install containerd runc", name)
}

// ensureDaemon starts the private containerd unless one is serving already.
// It holds an exclusive flock for the whole check-and-start so that two
// concurrent records never start two daemons on the same root.
func ensureDaemon(ctx context.Context, progress io.Writer) error {
	runc, err := findBinary("runc")
	if err != nil {
		return err
	}
	containerd, err := findBinary("containerd")
	if err != nil {
		return err
	}
	shim, err := findBinary("containerd-shim-runc-v2")
	if err != nil {
		return err
	}
	for _, d := range []string{libDir, daemonRoot, runDir, daemonState} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	unlock, err := lockFile(ctx, daemonLock)
	if err != nil {
		return err
	}
	defer unlock()

	if serving(ctx, daemonSocket) {
		fmt.Fprintf(progress, "behavediff: using private containerd (%s)\n", daemonSocket)
		return nil
	}
	if err := os.WriteFile(daemonConfig, []byte(daemonConfigText()), 0o600); err != nil {
		return fmt.Errorf("write containerd config: %w", err)
	}
	logf, err := os.OpenFile(daemonLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open containerd log: %w", err)
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return fmt.Errorf("open %s: %w", os.DevNull, err)
	}
	defer devnull.Close()
	logStart, _ := logf.Seek(0, io.SeekEnd)

	// Not exec.CommandContext: the daemon must outlive ctx and this process.
	cmd := exec.Command(containerd,
		"--config", daemonConfig,
		"--root", daemonRoot,
		"--state", daemonState,
		"--address", daemonSocket,
	)
	cmd.Dir = "/"
	cmd.Stdin = devnull
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Env = daemonEnv(containerd, shim, runc)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := startWithoutInheritedFDs(cmd); err != nil {
		return fmt.Errorf("start containerd: %w", err)
	}
	pid := cmd.Process.Pid
	deadline := time.Now().Add(daemonStartup)
	for {
		if serving(ctx, daemonSocket) {
			break
		}
		var ws unix.WaitStatus
		if wp, _ := unix.Wait4(pid, &ws, unix.WNOHANG, nil); wp == pid {
			return fmt.Errorf("containerd exited during start-up (%s); log %s:\n%s", exitText(ws), daemonLog, logTail(daemonLog, logStart))
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			_ = cmd.Process.Kill()
			_, _ = cmd.Process.Wait()
			if ctx.Err() != nil {
				return fmt.Errorf("waiting for containerd to start: %w", ctx.Err())
			}
			return fmt.Errorf("containerd did not serve %s within %s; log %s:\n%s", daemonSocket, daemonStartup, daemonLog, logTail(daemonLog, logStart))
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = cmd.Process.Release()
	fmt.Fprintf(progress, "behavediff: started private containerd (%s, log %s)\n", daemonSocket, daemonLog)
	return nil
}

// serving reports whether a containerd answers on socket. A stale socket file
// left by a dead daemon refuses the connection and counts as not serving.
func serving(ctx context.Context, socket string) bool {
	if !unixListening(ctx, socket) {
		return false
	}
	cd, err := client.New(socket, client.WithDefaultNamespace(namespace), client.WithTimeout(2*time.Second))
	if err != nil {
		return false
	}
	defer cd.Close()
	vctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = cd.Version(vctx)
	return err == nil
}

// daemonConfigText is the private daemon's config. The CRI plugin is off
// (behavediff never uses Kubernetes APIs, and it would spend time and log
// noise on start-up) and so are snapshotters that only probe and complain.
func daemonConfigText() string {
	return fmt.Sprintf(`# generated by behavediff; rewritten on every daemon start
version = 2
root = %q
state = %q
oom_score = 0
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]

[grpc]
  address = %q

[debug]
  level = "warn"
`, daemonRoot, daemonState, daemonSocket)
}

// daemonEnv gives the daemon (and so its shims) a PATH that contains the
// directories of the binaries we found, whatever the caller's PATH was.
func daemonEnv(bins ...string) []string {
	seen := map[string]bool{}
	var dirs []string
	for _, b := range bins {
		d := filepath.Dir(b)
		if !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	for _, d := range []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		if !seen[d] {
			seen[d] = true
			dirs = append(dirs, d)
		}
	}
	return []string{"PATH=" + strings.Join(dirs, ":"), "HOME=/root", "LANG=C"}
}

// lockFile takes an exclusive flock on path, polling so that ctx can cancel
// the wait. The returned func releases it.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock %s: %w", path, err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() {
				_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for lock %s: %w", path, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func exitText(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return "signal " + ws.Signal().String()
	}
	return fmt.Sprintf("exit status %d", ws.ExitStatus())
}

// logTail returns what the daemon logged since offset (at most 4 KiB).
func logTail(path string, offset int64) string {
	b, err := os.ReadFile(path)
	if err != nil || offset > int64(len(b)) {
		return "(log unreadable)"
	}
	b = b[offset:]
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return strings.TrimSpace(string(b))
}

// startWithoutInheritedFDs starts cmd so that it gets only stdin, stdout and
// stderr. Go marks every descriptor it opens close-on-exec, but descriptors
// this process inherited (a CI runner's output pipe, say) are passed on to
// children; a long-lived daemon holding such a pipe keeps the job waiting
// for EOF forever. They are marked close-on-exec just for the fork and
// restored afterwards.
func startWithoutInheritedFDs(cmd *exec.Cmd) error {
	var restore []int
	if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
		for _, e := range ents {
			fd, err := strconv.Atoi(e.Name())
			if err != nil || fd <= 2 {
				continue
			}
			flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
			if err != nil || flags&unix.FD_CLOEXEC != 0 {
				continue
			}
			if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, flags|unix.FD_CLOEXEC); err == nil {
				restore = append(restore, fd)
			}
		}
	}
	err := cmd.Start()
	for _, fd := range restore {
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil {
			_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETFD, flags&^unix.FD_CLOEXEC)
		}
	}
	return err
}
