package recorder

import (
	"encoding/binary"
	"net/netip"
	"strings"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/behavediff/behavediff/internal/linux"
)

// Short names for the address families, kept for the fuzz tests; the values
// are internal/linux's, the one definition.
const (
	afUnix  = linux.AF_UNIX
	afInet  = linux.AF_INET
	afInet6 = linux.AF_INET6
)

// sockaddr is a decoded struct sockaddr.
type sockaddr struct {
	Family  uint16
	Address string // IP text, unix path ("@name" for abstract sockets)
	Port    uint16
}

// parseSockaddr decodes the raw sockaddr bytes the sensor copied from the
// process (or synthesised from the socket). It never fails: unknown or short
// input yields what could be read, because a malformed address in a
// malicious program's connect() is itself worth recording.
func parseSockaddr(b []byte) sockaddr {
	if len(b) < 2 {
		return sockaddr{}
	}
	fam := binary.LittleEndian.Uint16(b)
	sa := sockaddr{Family: fam}
	switch fam {
	case linux.AF_INET:
		if len(b) >= 8 {
			sa.Port = binary.BigEndian.Uint16(b[2:4])
			sa.Address = netip.AddrFrom4([4]byte(b[4:8])).String()
		}
	case linux.AF_INET6:
		if len(b) >= 24 {
			sa.Port = binary.BigEndian.Uint16(b[2:4])
			a := netip.AddrFrom16([16]byte(b[8:24]))
			if a.Is4In6() {
				a = a.Unmap()
			}
			sa.Address = a.String()
		}
	case linux.AF_UNIX:
		p := b[2:]
		if len(p) > 0 && p[0] == 0 {
			// Abstract socket: leading NUL, name runs to the end of the address.
			sa.Address = "@" + strings.TrimRight(string(p[1:]), "\x00")
		} else {
			if i := strings.IndexByte(string(p), 0); i >= 0 {
				p = p[:i]
			}
			sa.Address = string(p)
		}
	}
	return sa
}

// dnsQuery is the question of a DNS query message.
type dnsQuery struct {
	Name  string
	QType uint16
}

// parseDNSQuery extracts the first question from a DNS message sent to port
// 53. TCP DNS prefixes the message with a two-byte length; tcp says so.
// It returns ok=false for anything that is not a well-formed query, so random
// traffic to port 53 is never mistaken for a name lookup.
func parseDNSQuery(b []byte, tcp bool) (dnsQuery, bool) {
	if tcp {
		if len(b) < 2 {
			return dnsQuery{}, false
		}
		b = b[2:]
	}
	if len(b) < 12 {
		return dnsQuery{}, false
	}
	flags := binary.BigEndian.Uint16(b[2:4])
	if flags&0x8000 != 0 { // QR bit: a response, not a query
		return dnsQuery{}, false
	}
	if binary.BigEndian.Uint16(b[4:6]) == 0 { // QDCOUNT
		return dnsQuery{}, false
	}
	var labels []string
	i := 12
	for {
		if i >= len(b) {
			return dnsQuery{}, false
		}
		n := int(b[i])
		i++
		if n == 0 {
			break
		}
		if n&0xc0 != 0 || i+n > len(b) || len(labels) > 127 {
			return dnsQuery{}, false // compression is not valid in a question we send
		}
		labels = append(labels, string(b[i:i+n]))
		i += n
	}
	if i+2 > len(b) {
		return dnsQuery{}, false
	}
	name := asciiLower(strings.Join(labels, "."))
	if name == "" {
		name = "."
	}
	return dnsQuery{Name: name, QType: binary.BigEndian.Uint16(b[i : i+2])}, true
}

// dnsAnswer is the addresses a DNS response gave for the name asked.
type dnsAnswer struct {
	Name  string // the question's name, lower case, no trailing dot
	Addrs []dnsAddr
}

type dnsAddr struct {
	Addr  string
	QType uint16 // 1 (A) or 28 (AAAA)
}

// parseDNSAnswer extracts the A and AAAA records of a DNS response received
// from port 53, all attributed to the question's name (a CNAME chain ends in
// the addresses the program will connect to). TCP DNS prefixes the message
// with a two-byte length, which a resolver may read on its own first (glibc
// does): over TCP both forms are tried. The sensor copies at most 512
// bytes, so a longer answer yields the records that fit. ok=false for
// anything that is not a response with a question.
func parseDNSAnswer(b []byte, tcp bool) (dnsAnswer, bool) {
	if tcp && len(b) >= 2 {
		if a, ok := parseDNSAnswer(b[2:], false); ok {
			return a, true
		}
	}
	var p dnsmessage.Parser
	h, err := p.Start(b)
	if err != nil || !h.Response {
		return dnsAnswer{}, false
	}
	q, err := p.Question()
	if err != nil {
		return dnsAnswer{}, false
	}
	if err := p.SkipAllQuestions(); err != nil {
		return dnsAnswer{}, false
	}
	a := dnsAnswer{Name: strings.TrimSuffix(asciiLower(q.Name.String()), ".")}
	if a.Name == "" {
		a.Name = "."
	}
	for {
		rh, err := p.AnswerHeader()
		if err != nil {
			break // done, or cut short: keep what was read
		}
		switch rh.Type {
		case dnsmessage.TypeA:
			r, err := p.AResource()
			if err != nil {
				return a, true
			}
			a.Addrs = append(a.Addrs, dnsAddr{netip.AddrFrom4(r.A).String(), uint16(rh.Type)})
		case dnsmessage.TypeAAAA:
			r, err := p.AAAAResource()
			if err != nil {
				return a, true
			}
			a.Addrs = append(a.Addrs, dnsAddr{netip.AddrFrom16(r.AAAA).Unmap().String(), uint16(rh.Type)})
		default:
			if err := p.SkipAnswer(); err != nil {
				return a, true
			}
		}
	}
	return a, true
}

// asciiLower lower-cases the ASCII letters of a DNS name and keeps every
// other byte as it is (RFC 4343: DNS compares names case-insensitively for
// ASCII only). strings.ToLower would turn each invalid UTF-8 byte of a
// hostile name into U+FFFD, so distinct names would be stored as one.
func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
