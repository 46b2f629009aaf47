package egress

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// ConfigAddr is an extra IPv4 address given to the sandbox's loopback
// device in proxy mode. getaddrinfo with AI_ADDRCONFIG (getent ahosts,
// Node, many C programs) returns nothing without asking DNS when the only
// IPv4 address is 127.0.0.1 — so a client that resolves before it connects
// through the proxy would fail. glibc counts every IPv4 address except
// 127.0.0.1, so a second loopback address is enough: no new reachability,
// no route out.
var ConfigAddr = netip.MustParseAddr("127.0.0.2")

// addLoopbackAddr adds addr/32 to the loopback device of the calling
// thread's network namespace (RTM_NEWADDR over rtnetlink).
func addLoopbackAddr(addr netip.Addr) error {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		return fmt.Errorf("loopback device: %w", err)
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("rtnetlink socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("rtnetlink bind: %w", err)
	}
	a4 := addr.As4()
	attr := func(typ uint16, val []byte) []byte {
		b := make([]byte, 4, 8)
		binary.NativeEndian.PutUint16(b[0:], uint16(4+len(val)))
		binary.NativeEndian.PutUint16(b[2:], typ)
		return append(b, val...)
	}
	body := []byte{unix.AF_INET, 32, 0, unix.RT_SCOPE_HOST, 0, 0, 0, 0}
	binary.NativeEndian.PutUint32(body[4:], uint32(lo.Index))
	body = append(body, attr(unix.IFA_LOCAL, a4[:])...)
	body = append(body, attr(unix.IFA_ADDRESS, a4[:])...)
	msg := make([]byte, unix.NLMSG_HDRLEN, unix.NLMSG_HDRLEN+len(body))
	binary.NativeEndian.PutUint32(msg[0:], uint32(unix.NLMSG_HDRLEN+len(body)))
	binary.NativeEndian.PutUint16(msg[4:], unix.RTM_NEWADDR)
	binary.NativeEndian.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK|unix.NLM_F_CREATE|unix.NLM_F_EXCL)
	binary.NativeEndian.PutUint32(msg[8:], 1) // seq
	msg = append(msg, body...)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("rtnetlink send: %w", err)
	}
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return fmt.Errorf("rtnetlink ack: %w", err)
	}
	// The answer is one NLMSG_ERROR message: header, then the errno
	// (0 = success) as a negative int32.
	if n < unix.NLMSG_HDRLEN+4 || binary.NativeEndian.Uint16(buf[4:]) != unix.NLMSG_ERROR {
		return fmt.Errorf("add %s to lo: unexpected rtnetlink answer", addr)
	}
	if e := int32(binary.NativeEndian.Uint32(buf[unix.NLMSG_HDRLEN:])); e != 0 && unix.Errno(-e) != unix.EEXIST {
		return fmt.Errorf("add %s to lo: %w", addr, unix.Errno(-e))
	}
	return nil
}
