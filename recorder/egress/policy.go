package egress

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ErrBadEndpoint marks an --allow or --add-host value that cannot be parsed.
var ErrBadEndpoint = errors.New("bad endpoint")

// Endpoint is one allowed destination: a name (exact, or every subdomain
// with a "*." prefix), an address or a network, and a port (0 = any).
type Endpoint struct {
	Name     string       // lower case, no trailing dot; "" for address endpoints
	Wildcard bool         // Name was "*.Name": strict subdomains of Name match
	Prefix   netip.Prefix // valid for ip:port (a /32 or /128) and cidr:port
	Port     uint16       // 0 = any port ("*")
}

// String is the endpoint in the form ParseEndpoint reads.
func (e Endpoint) String() string {
	port := "*"
	if e.Port != 0 {
		port = strconv.Itoa(int(e.Port))
	}
	switch {
	case e.Name != "" && e.Wildcard:
		return "*." + e.Name + ":" + port
	case e.Name != "":
		return e.Name + ":" + port
	case e.Prefix.IsSingleIP() && e.Prefix.Addr().Is4():
		return e.Prefix.Addr().String() + ":" + port
	case e.Prefix.IsSingleIP():
		return "[" + e.Prefix.Addr().String() + "]:" + port
	case e.Prefix.Addr().Is4():
		return e.Prefix.String() + ":" + port
	default:
		return "[" + e.Prefix.String() + "]:" + port
	}
}

// ParseEndpoint reads name:port, *.name:port, ip:port, [ipv6]:port,
// cidr:port or [cidr6]:port; port is a number or "*".
func ParseEndpoint(s string) (Endpoint, error) {
	bad := func(why string) (Endpoint, error) {
		return Endpoint{}, fmt.Errorf("%w %q: %s (want name:port, *.name:port, ip:port or cidr:port)", ErrBadEndpoint, s, why)
	}
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return bad("no port")
	}
	host, portText := s[:i], s[i+1:]
	var e Endpoint
	if portText != "*" {
		p, err := strconv.ParseUint(portText, 10, 16)
		if err != nil || p == 0 {
			return bad("port must be 1-65535 or *")
		}
		e.Port = uint16(p)
	}
	if strings.HasPrefix(host, "[") {
		if !strings.HasSuffix(host, "]") {
			return bad("unclosed [")
		}
		host = host[1 : len(host)-1]
		if !strings.Contains(host, ":") {
			return bad("[...] is for IPv6")
		}
	} else if strings.Contains(host, ":") {
		return bad("write IPv6 addresses in brackets, [::1]:443")
	}
	if strings.Contains(host, "/") {
		pfx, err := netip.ParsePrefix(host)
		if err != nil {
			return bad("bad network: " + err.Error())
		}
		e.Prefix = pfx.Masked()
		return e, nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		e.Prefix = netip.PrefixFrom(a, a.BitLen())
		return e, nil
	}
	if rest, ok := strings.CutPrefix(host, "*."); ok {
		e.Wildcard = true
		host = rest
	}
	name, err := CanonicalName(host)
	if err != nil {
		return bad(err.Error())
	}
	e.Name = name
	return e, nil
}

// CanonicalName lower-cases a DNS name and drops a trailing dot; it refuses
// anything that is not letters, digits, '-', '_' and dots, so a name in a
// request can never smuggle a port, a path or a second name.
func CanonicalName(s string) (string, error) {
	s = strings.TrimSuffix(strings.ToLower(s), ".")
	if s == "" || len(s) > 253 {
		return "", errors.New("empty or too long name")
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 {
			return "", errors.New("empty or too long label")
		}
		for _, c := range label {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return "", fmt.Errorf("character %q not allowed in a name", c)
			}
		}
	}
	return s, nil
}

// ParseHostPin reads an --add-host value, NAME:IP (IPv6 may be bare or in
// brackets).
func ParseHostPin(s string) (string, netip.Addr, error) {
	n, a, ok := strings.Cut(s, ":")
	if !ok {
		return "", netip.Addr{}, fmt.Errorf("%w %q: want NAME:IP", ErrBadEndpoint, s)
	}
	name, err := CanonicalName(n)
	if err != nil {
		return "", netip.Addr{}, fmt.Errorf("%w %q: %v", ErrBadEndpoint, s, err)
	}
	addr, err := netip.ParseAddr(strings.Trim(a, "[]"))
	if err != nil {
		return "", netip.Addr{}, fmt.Errorf("%w %q: bad address: %v", ErrBadEndpoint, s, err)
	}
	return name, addr.Unmap(), nil
}

// Policy decides which destinations the proxy dials and which names the
// resolver answers. The zero Policy denies everything.
type Policy struct {
	Allow []Endpoint
	// Hosts pins names to addresses (--add-host): the resolver answers them
	// and the proxy dials them without asking the host's DNS. A pin does not
	// allow anything by itself.
	Hosts map[string][]netip.Addr
}

// NewPolicy parses --allow and --add-host values.
func NewPolicy(allow, hosts []string) (Policy, error) {
	var p Policy
	for _, s := range allow {
		e, err := ParseEndpoint(s)
		if err != nil {
			return Policy{}, err
		}
		p.Allow = append(p.Allow, e)
	}
	for _, s := range hosts {
		name, addr, err := ParseHostPin(s)
		if err != nil {
			return Policy{}, err
		}
		if p.Hosts == nil {
			p.Hosts = map[string][]netip.Addr{}
		}
		p.Hosts[name] = append(p.Hosts[name], addr)
	}
	return p, nil
}

func (e Endpoint) matchesName(name string) bool {
	if e.Name == "" {
		return false
	}
	if e.Wildcard {
		return strings.HasSuffix(name, "."+e.Name)
	}
	return name == e.Name
}

func (e Endpoint) matchesPort(port uint16) bool { return e.Port == 0 || e.Port == port }

// Allowed reports whether host:port may be dialled. host is the name as the
// client asked for it, or an address literal; a name is matched only
// against name endpoints and an address only against address endpoints, so
// allowing a name never opens the addresses it happens to resolve to.
func (p Policy) Allowed(host string, port uint16) bool {
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		a = a.Unmap()
		for _, e := range p.Allow {
			if e.Prefix.IsValid() && e.Prefix.Contains(a) && e.matchesPort(port) {
				return true
			}
		}
		return false
	}
	name, err := CanonicalName(host)
	if err != nil {
		return false
	}
	for _, e := range p.Allow {
		if e.matchesName(name) && e.matchesPort(port) {
			return true
		}
	}
	return false
}

// NameAllowed reports whether the resolver answers name: some endpoint
// allows it on some port.
func (p Policy) NameAllowed(name string) bool {
	name, err := CanonicalName(name)
	if err != nil {
		return false
	}
	for _, e := range p.Allow {
		if e.matchesName(name) {
			return true
		}
	}
	return false
}
