package egress

import (
	"bufio"
	"encoding/binary"
	"io"
	"math"
	"net"
	"net/netip"
	"time"
)

// SOCKS5 reply codes (RFC 1928).
const (
	socksOK          = 0
	socksFailure     = 1
	socksNotAllowed  = 2
	socksUnreachable = 4
	socksCmdNotSupp  = 7
	socksAddrNotSupp = 8
)

// socks serves a SOCKS5 client (no authentication, CONNECT only). Names
// given as domain addresses are decided by name, like HTTP CONNECT.
func (s *Server) socks(c net.Conn, br *bufio.Reader, lr *io.LimitedReader, r Request) {
	r.Method = "CONNECT"
	var hdr [2]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return
	}
	methods := make([]byte, hdr[1])
	if _, err := io.ReadFull(br, methods); err != nil {
		return
	}
	noAuth := false
	for _, m := range methods {
		noAuth = noAuth || m == 0
	}
	if !noAuth {
		c.Write([]byte{5, 0xff})
		return
	}
	if _, err := c.Write([]byte{5, 0}); err != nil {
		return
	}
	var req [4]byte
	if _, err := io.ReadFull(br, req[:]); err != nil {
		return
	}
	reply := func(code byte) { c.Write([]byte{5, code, 0, 1, 0, 0, 0, 0, 0, 0}) }
	switch req[3] {
	case 1, 4:
		b := make([]byte, 4)
		if req[3] == 4 {
			b = make([]byte, 16)
		}
		if _, err := io.ReadFull(br, b); err != nil {
			return
		}
		a, _ := netip.AddrFromSlice(b)
		r.Host = a.Unmap().String()
	case 3:
		n, err := br.ReadByte()
		if err != nil {
			return
		}
		b := make([]byte, n)
		if _, err := io.ReadFull(br, b); err != nil {
			return
		}
		r.Host = string(b)
	default:
		reply(socksAddrNotSupp)
		return
	}
	var pb [2]byte
	if _, err := io.ReadFull(br, pb[:]); err != nil {
		return
	}
	r.Port = binary.BigEndian.Uint16(pb[:])
	lr.N = math.MaxInt64
	c.SetReadDeadline(time.Time{})
	if req[1] != 1 {
		r.Reason, r.Status = "only SOCKS5 CONNECT is supported", socksCmdNotSupp
		s.record(r)
		reply(socksCmdNotSupp)
		return
	}
	if !s.cfg.Policy.Allowed(r.Host, r.Port) {
		r.Reason, r.Status = s.denyReason(), socksNotAllowed
		s.record(r)
		reply(socksNotAllowed)
		return
	}
	r.Allowed = true
	up, err := s.dial(s.ctx, r.Host, r.Port)
	if err != nil {
		r.Reason, r.Status = err.Error(), socksUnreachable
		s.record(r)
		reply(socksUnreachable)
		return
	}
	r.Status = socksOK
	reply(socksOK)
	s.tunnel(c, br, up, &r)
}
