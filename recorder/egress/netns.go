package egress

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// ErrNetns means the sandbox's network namespace could not be joined.
var ErrNetns = errors.New("cannot enter the sandbox's network namespace")

// InNetns runs f on a locked OS thread that joined the network namespace at
// nsPath (e.g. /proc/PID/ns/net). Sockets f creates belong to that
// namespace for their whole life; the thread goes back to the host's
// namespace afterwards. If going back fails the thread is never unlocked,
// so the runtime throws it away with its goroutine instead of reusing a
// thread that sits in the sandbox.
func InNetns(nsPath string, f func() error) error {
	target, err := os.Open(nsPath)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNetns, err)
	}
	defer target.Close()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		home, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("%w: %v", ErrNetns, err)
			return
		}
		defer home.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("%w: setns: %v", ErrNetns, err)
			return
		}
		ferr := f()
		if err := unix.Setns(int(home.Fd()), unix.CLONE_NEWNET); err != nil {
			// Leave the thread locked: it dies with this goroutine.
			done <- errors.Join(ferr, fmt.Errorf("%w: return to the host namespace: %v", ErrNetns, err))
			return
		}
		runtime.UnlockOSThread()
		done <- ferr
	}()
	return <-done
}

// listeners are the sockets served inside the sandbox.
type listeners struct {
	proxy  net.Listener   // ProxyAddr
	dnsTCP net.Listener   // DNSAddr
	dnsUDP net.PacketConn // DNSAddr
}

func (l *listeners) close() {
	if l.proxy != nil {
		l.proxy.Close()
	}
	if l.dnsTCP != nil {
		l.dnsTCP.Close()
	}
	if l.dnsUDP != nil {
		l.dnsUDP.Close()
	}
}

// listenIn opens the proxy and DNS sockets in the namespace at nsPath.
func listenIn(nsPath string) (*listeners, error) {
	l := &listeners{}
	err := InNetns(nsPath, func() error {
		if err := addLoopbackAddr(ConfigAddr); err != nil {
			return err
		}
		var err error
		if l.proxy, err = net.Listen("tcp", ProxyAddr); err != nil {
			return fmt.Errorf("proxy listener %s: %w", ProxyAddr, err)
		}
		if l.dnsTCP, err = net.Listen("tcp", DNSAddr); err != nil {
			return fmt.Errorf("DNS listener %s/tcp: %w", DNSAddr, err)
		}
		if l.dnsUDP, err = net.ListenPacket("udp", DNSAddr); err != nil {
			return fmt.Errorf("DNS listener %s/udp: %w", DNSAddr, err)
		}
		return nil
	})
	if err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}
