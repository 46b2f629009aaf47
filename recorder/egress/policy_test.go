package egress

import (
	"crypto/tls"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestParseEndpoint(t *testing.T) {
	for _, s := range []string{"api.test:8443", "*.pypi.org:443", "10.0.0.1:80", "[::1]:53", "10.0.0.0/8:*", "[fd00::/8]:443"} {
		e, err := ParseEndpoint(s)
		if err != nil {
			t.Errorf("ParseEndpoint(%q): %v", s, err)
			continue
		}
		if got := e.String(); got != s {
			t.Errorf("ParseEndpoint(%q).String() = %q", s, got)
		}
	}
	for _, s := range []string{"", "api.test", "api.test:0", "api.test:70000", "::1:53", "[::1:53", "a b:80",
		"api.test/x:80", "10.0.0.0/33:80", "x:y:80", "*:80", "api..test:80", "[10.0.0.1]:80"} {
		if _, err := ParseEndpoint(s); !errors.Is(err, ErrBadEndpoint) {
			t.Errorf("ParseEndpoint(%q) = %v, want ErrBadEndpoint", s, err)
		}
	}
}

func TestPolicyAllowed(t *testing.T) {
	p, err := NewPolicy([]string{"api.test:8443", "*.cdn.test:443", "10.1.0.0/16:80", "[fd00::1]:*"}, []string{"api.test:10.231.1.2"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		host string
		port uint16
		want bool
	}{
		{"api.test", 8443, true},
		{"API.test.", 8443, true},
		{"api.test", 443, false},
		{"evil.test", 8443, false},
		{"x.api.test", 8443, false},
		{"a.cdn.test", 443, true},
		{"a.b.cdn.test", 443, true},
		{"cdn.test", 443, false},     // *. is strict subdomains
		{"evilcdn.test", 443, false}, // not a label boundary
		{"10.1.2.3", 80, true},
		{"10.2.0.1", 80, false},
		{"::ffff:10.1.2.3", 80, true},
		{"fd00::1", 9, true},
		{"[fd00::1]", 9, true},
		{"10.231.1.2", 8443, false}, // allowing a name never allows its address
		{"api.test:8443", 8443, false},
		{"api.test\x00.evil", 8443, false},
	} {
		if got := p.Allowed(c.host, c.port); got != c.want {
			t.Errorf("Allowed(%q, %d) = %v, want %v", c.host, c.port, got, c.want)
		}
	}
	if !p.NameAllowed("api.test") || p.NameAllowed("evil.test") || !p.NameAllowed("x.cdn.test") {
		t.Error("NameAllowed wrong")
	}
	if (Policy{}).Allowed("api.test", 443) {
		t.Error("zero policy allowed something")
	}
	for _, bad := range []string{"noaddr", "x:notanip", ":10.0.0.1"} {
		if _, err := NewPolicy(nil, []string{bad}); !errors.Is(err, ErrBadEndpoint) {
			t.Errorf("--add-host %q: %v, want ErrBadEndpoint", bad, err)
		}
	}
	if _, a, err := ParseHostPin("v6.test:[fd00::2]"); err != nil || a != netip.MustParseAddr("fd00::2") {
		t.Errorf("ParseHostPin v6: %v %v", a, err)
	}
}

func TestParseProcAddr(t *testing.T) {
	got, ok := parseProcAddr("0100007F:0C38")
	if !ok || got != netip.MustParseAddrPort("127.0.0.1:3128") {
		t.Errorf("v4: %v %v", got, ok)
	}
	got, ok = parseProcAddr("00000000000000000000000001000000:0035")
	if !ok || got != netip.MustParseAddrPort("[::1]:53") {
		t.Errorf("v6: %v %v", got, ok)
	}
	if _, ok := parseProcAddr("zz:1"); ok {
		t.Error("garbage accepted")
	}
}

// clientHello captures the first record a real Go TLS client sends.
func clientHello(t *testing.T, serverName string) []byte {
	t.Helper()
	a, b := net.Pipe()
	go func() {
		c := tls.Client(a, &tls.Config{ServerName: serverName, InsecureSkipVerify: true})
		c.SetDeadline(time.Now().Add(2 * time.Second))
		c.Handshake()
		a.Close()
	}()
	buf := make([]byte, 0, 4096)
	tmp := make([]byte, 4096)
	b.SetReadDeadline(time.Now().Add(2 * time.Second))
	for len(buf) < 5 || len(buf) < 5+int(buf[3])<<8|int(buf[4]) {
		n, err := b.Read(tmp)
		if err != nil {
			t.Fatalf("read ClientHello: %v", err)
		}
		buf = append(buf, tmp[:n]...)
	}
	b.Close()
	return buf
}

func TestParseClientHelloSNI(t *testing.T) {
	rec := clientHello(t, "api.test")
	if sni, ok := parseClientHelloSNI(rec[5:]); !ok || sni != "api.test" {
		t.Fatalf("SNI = %q, %v", sni, ok)
	}
	// Attacker: cut the hello short (as if split across records) — must
	// not read as "no server name".
	for _, n := range []int{1, 10, 50, len(rec) - 6} {
		if sni, ok := parseClientHelloSNI(rec[5 : 5+n]); ok {
			t.Errorf("truncated to %d bytes: SNI %q accepted as complete", n, sni)
		}
	}
	noSNI := clientHello(t, "")
	if sni, ok := parseClientHelloSNI(noSNI[5:]); !ok || sni != "" {
		t.Errorf("hello without SNI: %q, %v", sni, ok)
	}
}
