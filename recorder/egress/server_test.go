package egress_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/behavediff/behavediff/internal/testenv"
	"github.com/behavediff/behavediff/recorder/egress"
	"github.com/behavediff/behavediff/recorder/egress/upstream"
)

// sandboxNetns makes a network namespace with only loopback, like the
// sandbox's, with a process in it to name it by pid.
func sandboxNetns(t testing.TB) (name string, pid uint32) {
	t.Helper()
	name = fmt.Sprintf("bd-sb-%d-%d", os.Getpid(), time.Now().UnixNano()%100000)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v\n%s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up: %v\n%s", err, out)
	}
	holder := exec.Command("ip", "netns", "exec", name, "sleep", "600")
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill(); holder.Wait() })
	// Wait until ip has entered the namespace (it execs sleep afterwards).
	want, _ := os.Readlink("/run/netns/" + name)
	_ = want
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", holder.Process.Pid)); strings.HasSuffix(exe, "/sleep") {
			return name, uint32(holder.Process.Pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("namespace holder did not start")
	return "", 0
}

type env struct {
	up     *upstream.Upstream
	ns     string
	srv    *egress.Server
	caFile string
}

func setup(t *testing.T, allow []string, lookup func(context.Context, string) ([]netip.Addr, error)) *env {
	t.Helper()
	testenv.RequireRoot(t, "egress proxy in a network namespace")
	testenv.RequireBinaries(t, "ip", "curl")
	up := upstream.Start(t, "api.test", "evil.test", "other.test")
	ns, pid := sandboxNetns(t)
	a := up.Addr.String()
	pol, err := egress.NewPolicy(allow, []string{"api.test:" + a, "evil.test:" + a, "other.test:" + a})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := egress.Start(context.Background(), egress.Config{NetnsPid: pid, Policy: pol, Lookup: lookup})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, up.CAPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return &env{up: up, ns: ns, srv: srv, caFile: ca}
}

// curl runs curl inside the sandbox namespace with the proxy environment.
func (e *env) curl(t *testing.T, args ...string) (string, int, int) {
	t.Helper()
	cmd := exec.Command("ip", append([]string{"netns", "exec", e.ns, "curl", "-sS", "--max-time", "10", "--cacert", e.caFile}, args...)...)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin"}, egress.Env()...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code, cmd.Process.Pid
}

// find returns the one request for host:port of protocol.
// find returns the one request recorded for proto host:port. A tunnel is
// recorded when it closes, which can be just after the client has its
// answer and exits: wait for it a little (never for a second one).
func find(t *testing.T, s *egress.Server, proto, host string, port uint16) egress.Request {
	t.Helper()
	var reqs, got []egress.Request
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var dropped int64
		reqs, dropped = s.Requests()
		if dropped != 0 {
			t.Errorf("%d requests dropped", dropped)
		}
		got = got[:0]
		for _, r := range reqs {
			if r.Protocol == proto && r.Host == host && r.Port == port {
				got = append(got, r)
			}
		}
		if len(got) != 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(got) != 1 {
		t.Fatalf("want one %s request for %s:%d, got %+v (all: %+v)", proto, host, port, got, reqs)
	}
	return got[0]
}

func TestProxyAllowedAndDenied(t *testing.T) {
	e := setup(t, []string{"api.test:8443", "api.test:8080"}, nil)

	out, code, pid := e.curl(t, "https://api.test:8443/big")
	if code != 0 || out != upstream.Payload {
		t.Fatalf("allowed HTTPS: exit %d, %d bytes: %.200s", code, len(out), out)
	}
	r := find(t, e.srv, egress.ProtoConnect, "api.test", 8443)
	if !r.Allowed || r.SNI != "api.test" || r.BytesDown < int64(len(upstream.Payload)) || r.BytesUp == 0 || r.Pid != int32(pid) || r.Method != "CONNECT" {
		t.Errorf("allowed CONNECT recorded as %+v (curl pid %d)", r, pid)
	}

	out, code, _ = e.curl(t, "http://api.test:8080/plain")
	if code != 0 || !strings.Contains(out, "hello from upstream api.test:8080/plain") {
		t.Fatalf("allowed HTTP: exit %d: %s", code, out)
	}
	r = find(t, e.srv, egress.ProtoHTTP, "api.test", 8080)
	if !r.Allowed || r.Method != "GET" || r.Status != 200 || r.BytesDown == 0 {
		t.Errorf("allowed HTTP recorded as %+v", r)
	}

	hitsBefore := len(e.up.Hits())
	// An unlisted port of an allowed name, and an unlisted name pinned to
	// the very same upstream address.
	for _, url := range []string{"https://api.test:9443/", "https://evil.test:8443/", "http://evil.test:8080/x"} {
		out, code, _ = e.curl(t, "-i", url)
		if code == 0 && !strings.Contains(out, "403") {
			t.Errorf("%s: not refused: %s", url, out)
		}
	}
	if n := len(e.up.Hits()); n != hitsBefore {
		t.Errorf("denied requests reached the upstream: %v", e.up.Hits()[hitsBefore:])
	}
	for _, c := range []struct {
		proto, host string
		port        uint16
	}{{egress.ProtoConnect, "api.test", 9443}, {egress.ProtoConnect, "evil.test", 8443}, {egress.ProtoHTTP, "evil.test", 8080}} {
		r := find(t, e.srv, c.proto, c.host, c.port)
		if r.Allowed || r.Status != http.StatusForbidden || r.Reason == "" {
			t.Errorf("denied %s:%d recorded as %+v", c.host, c.port, r)
		}
	}
	out, _, _ = e.curl(t, "http://evil.test:8080/x")
	if !strings.Contains(out, "--allow evil.test:8080") {
		t.Errorf("403 body does not say how to allow: %q", out)
	}

	// SOCKS5 with the name resolved by the proxy.
	out, code, _ = e.curl(t, "-x", "socks5h://"+egress.ProxyAddr, "https://api.test:8443/s")
	if code != 0 || !strings.Contains(out, "hello from upstream") {
		t.Fatalf("SOCKS5: exit %d: %s", code, out)
	}
	if r := find(t, e.srv, egress.ProtoSOCKS5, "api.test", 8443); !r.Allowed || r.SNI != "api.test" {
		t.Errorf("SOCKS5 recorded as %+v", r)
	}
	_, code, _ = e.curl(t, "-x", "socks5h://"+egress.ProxyAddr, "https://evil.test:8443/")
	if code == 0 {
		t.Error("SOCKS5 to a denied name succeeded")
	}
	if r := find(t, e.srv, egress.ProtoSOCKS5, "evil.test", 8443); r.Allowed {
		t.Errorf("SOCKS5 denial recorded as %+v", r)
	}
}

// dialIn opens a connection from inside the sandbox namespace.
func dialIn(t *testing.T, ns, network, addr string) net.Conn {
	t.Helper()
	var c net.Conn
	err := egress.InNetns("/run/netns/"+ns, func() error {
		var err error
		c, err = net.DialTimeout(network, addr, 5*time.Second)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestProxyDomainFronting: an allowed CONNECT whose TLS ClientHello names
// another server is cut before it reaches the destination.
func TestProxyDomainFronting(t *testing.T) {
	e := setup(t, []string{"api.test:8443"}, nil)
	c := dialIn(t, e.ns, "tcp", egress.ProxyAddr)
	fmt.Fprintf(c, "CONNECT api.test:8443 HTTP/1.1\r\nHost: api.test:8443\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.up.CAPEM)
	tc := tls.Client(c, &tls.Config{ServerName: "evil.test", RootCAs: pool})
	tc.SetDeadline(time.Now().Add(5 * time.Second))
	if err := tc.Handshake(); err == nil {
		t.Fatal("TLS to evil.test through a tunnel opened for api.test succeeded")
	}
	if h := e.up.Hits(); len(h) != 0 {
		t.Errorf("upstream served %v", h)
	}
	r := find(t, e.srv, egress.ProtoConnect, "api.test", 8443)
	if r.Allowed || r.SNI != "evil.test" || !strings.Contains(r.Reason, "evil.test") {
		t.Errorf("fronting recorded as %+v", r)
	}
}

// TestProxyRebinding: an allowed name that the host's DNS resolves to
// loopback must not let the sandbox reach the host's own services.
func TestProxyRebinding(t *testing.T) {
	e := setup(t, []string{"rebind.test:8443"}, func(context.Context, string) ([]netip.Addr, error) {
		return []netip.Addr{netip.MustParseAddr("127.0.0.1")}, nil
	})
	out, code, _ := e.curl(t, "-i", "https://rebind.test:8443/")
	if code == 0 {
		t.Fatalf("rebinding to loopback went through: %s", out)
	}
	r := find(t, e.srv, egress.ProtoConnect, "rebind.test", 8443)
	if r.Status != http.StatusBadGateway || !strings.Contains(r.Reason, "loopback") {
		t.Errorf("rebinding recorded as %+v", r)
	}
}

func query(t *testing.T, c net.Conn, name string, typ dnsmessage.Type, tcp bool) dnsmessage.Message {
	t.Helper()
	q := dnsmessage.Message{Header: dnsmessage.Header{ID: 7, RecursionDesired: true},
		Questions: []dnsmessage.Question{{Name: dnsmessage.MustNewName(name + "."), Type: typ, Class: dnsmessage.ClassINET}}}
	b, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if tcp {
		b = append([]byte{byte(len(b) >> 8), byte(len(b))}, b...)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	var n int
	if tcp {
		var l [2]byte
		if _, err = io.ReadFull(c, l[:]); err == nil {
			n, err = io.ReadFull(c, buf[:int(l[0])<<8|int(l[1])])
		}
	} else {
		n, err = c.Read(buf)
	}
	if err != nil {
		t.Fatalf("DNS %s: %v", name, err)
	}
	var m dnsmessage.Message
	if err := m.Unpack(buf[:n]); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestResolver(t *testing.T) {
	e := setup(t, []string{"api.test:8443"}, nil)
	for _, network := range []string{"udp", "tcp"} {
		c := dialIn(t, e.ns, network, egress.DNSAddr)
		m := query(t, c, "api.test", dnsmessage.TypeA, network == "tcp")
		if m.RCode != dnsmessage.RCodeSuccess || len(m.Answers) != 1 {
			t.Fatalf("%s: api.test: %+v", network, m)
		}
		if a := m.Answers[0].Body.(*dnsmessage.AResource).A; netip.AddrFrom4(a) != e.up.Addr {
			t.Errorf("%s: api.test = %v, want %v", network, a, e.up.Addr)
		}
		if m := query(t, c, "api.test", dnsmessage.TypeAAAA, network == "tcp"); m.RCode != dnsmessage.RCodeSuccess || len(m.Answers) != 0 {
			t.Errorf("%s: AAAA of a v4-only pin: %+v", network, m)
		}
		// Pinned, but not allowed: the pin alone opens nothing.
		if m := query(t, c, "evil.test", dnsmessage.TypeA, network == "tcp"); m.RCode != dnsmessage.RCodeNameError || len(m.Answers) != 0 {
			t.Errorf("%s: evil.test answered: %+v", network, m)
		}
	}
	reqs, _ := e.srv.Requests()
	var allowed, denied int
	for _, r := range reqs {
		if r.Protocol != egress.ProtoDNS {
			continue
		}
		switch {
		case r.Host == "api.test" && r.Allowed:
			allowed++
		case r.Host == "evil.test" && !r.Allowed && r.Reason != "":
			denied++
		default:
			t.Errorf("unexpected query row %+v", r)
		}
	}
	if allowed != 4 || denied != 2 {
		t.Errorf("query rows: %d allowed, %d denied; want 4, 2: %+v", allowed, denied, reqs)
	}
}

// TestProxyHostileClients: a header flood is cut at the limit with 431, a
// garbage request gets 400, a CONNECT to a target with a path or an
// embedded second name is refused, and none of it reaches the upstream.
func TestProxyHostileClients(t *testing.T) {
	e := setup(t, []string{"api.test:8443", "api.test:8080"}, nil)
	status := func(raw string) int {
		t.Helper()
		c := dialIn(t, e.ns, "tcp", egress.ProxyAddr)
		c.SetDeadline(time.Now().Add(5 * time.Second))
		go io.WriteString(c, raw)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%.40q: %v", raw, err)
		}
		return resp.StatusCode
	}
	if got := status("GET http://api.test:8080/ HTTP/1.1\r\nX: " + strings.Repeat("a", 200<<10) + "\r\n\r\n"); got != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("header flood: %d", got)
	}
	if got := status("\x16garbage\r\n\r\n"); got != http.StatusBadRequest {
		t.Errorf("garbage: %d", got)
	}
	for _, target := range []string{"api.test:8443/x", "api.test@evil.test:8443", "evil.test:8443#api.test:8443", "api.test:8443:1"} {
		if got := status("CONNECT " + target + " HTTP/1.1\r\nHost: api.test:8443\r\n\r\n"); got != http.StatusForbidden && got != http.StatusBadRequest {
			t.Errorf("CONNECT %s: %d", target, got)
		}
	}
	// A relative URI (a client that forgot it talks to a proxy) and an
	// https:// absolute URI over plain HTTP are not forwarded.
	if got := status("GET / HTTP/1.1\r\nHost: api.test:8080\r\n\r\n"); got != http.StatusBadRequest {
		t.Errorf("relative URI: %d", got)
	}
	if h := e.up.Hits(); len(h) != 0 {
		t.Errorf("upstream served %v", h)
	}
}
