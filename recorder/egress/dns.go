package egress

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

// answerTTL is short: a name's addresses may change (and be re-pinned)
// between runs, and a sandbox lives minutes.
const answerTTL = 10

// serveDNSUDP answers queries on the sandbox's UDP resolver socket.
func (s *Server) serveDNSUDP(pc net.PacketConn) {
	defer s.wg.Done()
	buf := make([]byte, 4096)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if s.ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		msg := append([]byte(nil), buf[:n]...)
		select {
		case s.sem <- struct{}{}:
		case <-s.ctx.Done():
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.sem }()
			if out := s.answer(msg, "udp", from); out != nil {
				if len(out) > 512 {
					out = truncated(msg)
				}
				pc.WriteTo(out, from)
			}
		}()
	}
}

// handleDNSConn answers length-prefixed queries on one TCP connection.
func (s *Server) handleDNSConn(c net.Conn) {
	for {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		var l [2]byte
		if _, err := io.ReadFull(c, l[:]); err != nil {
			return
		}
		msg := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(c, msg); err != nil {
			return
		}
		out := s.answer(msg, "tcp", c.RemoteAddr())
		if out == nil {
			return
		}
		// One write: some clients read the length and the message together.
		if _, err := c.Write(append(binary.BigEndian.AppendUint16(nil, uint16(len(out))), out...)); err != nil {
			return
		}
	}
}

// answer builds the response to one query: the addresses of an allowed
// name, NXDOMAIN for every other name (final, so clients fail fast instead
// of retrying as they would after REFUSED or SERVFAIL). Every query is
// recorded with its decision. nil means not a query: no answer.
func (s *Server) answer(msg []byte, proto string, from net.Addr) []byte {
	var p dnsmessage.Parser
	h, err := p.Start(msg)
	if err != nil || h.Response {
		return nil
	}
	q, err := p.Question()
	if err != nil {
		return nil
	}
	r := Request{Time: monotonic(), Protocol: ProtoDNS, Via: DNSAddr, Pid: s.peerPid(proto, from),
		Method: strings.TrimPrefix(q.Type.String(), "Type"), BytesUp: int64(len(msg))}
	r.Host = strings.TrimSuffix(strings.ToLower(q.Name.String()), ".")
	rh := dnsmessage.Header{ID: h.ID, Response: true, OpCode: h.OpCode, RecursionDesired: h.RecursionDesired,
		RecursionAvailable: true, Authoritative: true}
	var answers []dnsmessage.Resource
	switch {
	case !s.cfg.Policy.NameAllowed(r.Host):
		rh.RCode = dnsmessage.RCodeNameError
		r.Reason = "name " + s.denyReason()
	case q.Class != dnsmessage.ClassINET:
		rh.RCode = dnsmessage.RCodeNotImplemented
		r.Allowed, r.Reason = true, "only class IN is served"
	default:
		r.Allowed = true
		addrs, err := s.resolve(s.ctx, r.Host)
		if err != nil {
			rh.RCode = dnsmessage.RCodeServerFailure
			r.Reason = err.Error()
			break
		}
		for _, a := range addrs {
			hdr := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: answerTTL}
			switch {
			case q.Type == dnsmessage.TypeA && a.Is4():
				hdr.Type = dnsmessage.TypeA
				answers = append(answers, dnsmessage.Resource{Header: hdr, Body: &dnsmessage.AResource{A: a.As4()}})
			case q.Type == dnsmessage.TypeAAAA && a.Is6():
				hdr.Type = dnsmessage.TypeAAAA
				answers = append(answers, dnsmessage.Resource{Header: hdr, Body: &dnsmessage.AAAAResource{AAAA: a.As16()}})
			}
		}
	}
	r.Status = int(rh.RCode)
	out, err := (&dnsmessage.Message{Header: rh, Questions: []dnsmessage.Question{q}, Answers: answers}).Pack()
	if err != nil {
		return nil
	}
	r.BytesDown = int64(len(out))
	s.record(r)
	return out
}

// truncated is an empty answer with the TC bit, telling the client to ask
// again over TCP.
func truncated(query []byte) []byte {
	if len(query) < 12 {
		return nil
	}
	out := append([]byte(nil), query[:12]...)
	out[2] |= 0x82 // QR, TC
	for i := 4; i < 12; i++ {
		out[i] = 0
	}
	return out
}
