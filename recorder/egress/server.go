package egress

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Where the proxy and the resolver listen inside the sandbox. The namespace
// is new and empty when they are opened (nothing of the command runs yet),
// so the addresses are always free and can be fixed.
const (
	ProxyAddr = "127.0.0.1:3128"
	DNSAddr   = "127.0.0.53:53"
)

// ResolvConf is the /etc/resolv.conf the sandbox gets: the resolver above,
// one quick attempt (a lookup is recorded whether or not it is answered).
const ResolvConf = "nameserver 127.0.0.53\noptions timeout:1 attempts:1\n"

// DefaultMaxRequests bounds the requests kept per run; the rest are counted
// (Server.Requests) so the loss is never silent.
const DefaultMaxRequests = 100_000

// maxConns bounds concurrent client connections: a program opening
// thousands waits in accept instead of exhausting the recorder.
const maxConns = 256

// Protocols of a Request.
const (
	ProtoHTTP    = "http"    // plain HTTP with an absolute URI
	ProtoConnect = "connect" // HTTP CONNECT tunnel
	ProtoSOCKS5  = "socks5"  // SOCKS5 CONNECT
	ProtoDNS     = "dns"     // a query to the resolver
)

// Request is one proxied request or one DNS query.
type Request struct {
	Time     int64  // CLOCK_MONOTONIC nanoseconds when it arrived
	Protocol string // Proto*
	Host     string // as the client asked: a name or an address literal
	Port     uint16 // 0 for DNS
	Method   string // HTTP method, "CONNECT", SOCKS "CONNECT", or the DNS query type
	SNI      string // TLS server name seen in the tunnel's ClientHello
	// BytesUp and BytesDown count what went to and came from the
	// destination (for DNS: the query and the answer).
	BytesUp, BytesDown int64
	Allowed            bool
	// Reason says why a request was denied, or what failed after it was
	// allowed (dial error, bad gateway); empty when it simply went through.
	Reason string
	Status int    // HTTP status (or SOCKS reply, or DNS rcode) given to the client
	Pid    int32  // host pid of the client process, 0 when not found
	Via    string // the listener the client used (ProxyAddr or DNSAddr)

	pid func() int32 // set while the pid lookup runs beside the request
}

// Config configures a Server.
type Config struct {
	// NetnsPid is a host pid inside the sandbox's network namespace (the
	// task's init, which exists from Create on).
	NetnsPid uint32
	Policy   Policy
	// Lookup resolves names that are not pinned; nil = the host's resolver.
	Lookup func(ctx context.Context, host string) ([]netip.Addr, error)
	// MaxRequests bounds the kept requests; 0 = DefaultMaxRequests.
	MaxRequests int
	// DenyReason is recorded with a denied request; "" = "not allowed by
	// the egress policy". Enforcing a baseline says so here.
	DenyReason string
}

func (s *Server) denyReason() string {
	if s.cfg.DenyReason != "" {
		return s.cfg.DenyReason
	}
	return "not allowed by the egress policy"
}

// Server is a running proxy and resolver for one sandbox.
type Server struct {
	cfg    Config
	ls     *listeners
	nsLink string // readlink of the sandbox's ns/net, to find its processes
	// procsFile is the cgroup.procs of the sandbox's cgroup: the processes
	// to look through for a client socket ("" = all of /proc).
	procsFile string
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	sem       chan struct{}
	mu        sync.Mutex
	reqs      []Request
	dropped   int64
	conns     map[net.Conn]struct{}
	closed    bool
}

// Start opens the listeners inside the namespace of cfg.NetnsPid and serves
// them until Close.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.MaxRequests == 0 {
		cfg.MaxRequests = DefaultMaxRequests
	}
	if cfg.Lookup == nil {
		cfg.Lookup = func(ctx context.Context, host string) ([]netip.Addr, error) {
			return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		}
	}
	nsPath := fmt.Sprintf("/proc/%d/ns/net", cfg.NetnsPid)
	link, err := readlink(nsPath)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNetns, err)
	}
	if home, err := readlink("/proc/self/ns/net"); err == nil && home == link {
		return nil, fmt.Errorf("%w: pid %d shares the host's network namespace", ErrNetns, cfg.NetnsPid)
	}
	ls, err := listenIn(nsPath)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s := &Server{cfg: cfg, ls: ls, nsLink: link, procsFile: cgroupProcs(cfg.NetnsPid), ctx: sctx, cancel: cancel,
		sem: make(chan struct{}, maxConns), conns: map[net.Conn]struct{}{}}
	s.wg.Add(3)
	go s.acceptLoop(ls.proxy, s.handleProxyConn)
	go s.acceptLoop(ls.dnsTCP, s.handleDNSConn)
	go s.serveDNSUDP(ls.dnsUDP)
	return s, nil
}

// Env is the environment that points clients at the proxy, in upper and
// lower case (curl reads http_proxy only in lower case, Go and Python both).
func Env() []string {
	u := "http://" + ProxyAddr
	noProxy := "localhost,127.0.0.1,::1"
	var env []string
	for _, kv := range [][2]string{{"HTTP_PROXY", u}, {"HTTPS_PROXY", u}, {"ALL_PROXY", u}, {"NO_PROXY", noProxy}} {
		env = append(env, kv[0]+"="+kv[1])
	}
	for _, kv := range [][2]string{{"http_proxy", u}, {"https_proxy", u}, {"all_proxy", u}, {"no_proxy", noProxy}} {
		env = append(env, kv[0]+"="+kv[1])
	}
	return env
}

// Close stops serving: listeners and open tunnels are closed and the
// handlers finish. The requests stay readable.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.cancel()
	s.ls.close()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("egress: handlers did not stop within 10s")
	}
}

// Requests returns the requests so far in arrival order, and how many more
// were not kept (over MaxRequests).
func (s *Server) Requests() ([]Request, int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.reqs)
	slices.SortStableFunc(out, func(a, b Request) int { return int(min(max(a.Time-b.Time, -1), 1)) })
	return out, s.dropped
}

func (s *Server) record(r Request) {
	if r.pid != nil {
		r.Pid, r.pid = r.pid(), nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) >= s.cfg.MaxRequests {
		s.dropped++
		return
	}
	s.reqs = append(s.reqs, r)
}

// track registers a connection so Close can end it; false when closing.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	c.Close()
}

func (s *Server) acceptLoop(l net.Listener, handle func(net.Conn)) {
	defer s.wg.Done()
	for {
		select {
		case s.sem <- struct{}{}:
		case <-s.ctx.Done():
			return
		}
		c, err := l.Accept()
		if err != nil {
			<-s.sem
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return
		}
		if !s.track(c) {
			c.Close()
			<-s.sem
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() { <-s.sem }()
			defer s.untrack(c)
			handle(c)
		}()
	}
}

// resolve gives the addresses to dial for host: an address literal as is,
// a pinned name's pins, else the host resolver's answer without loopback,
// link-local, multicast and unspecified addresses — a public name that
// resolves to 127.0.0.1 (DNS rebinding) must not reach the host's own
// services from the sandbox.
func (s *Server) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a.Unmap()}, nil
	}
	name, err := CanonicalName(host)
	if err != nil {
		return nil, err
	}
	if pins, ok := s.cfg.Policy.Hosts[name]; ok {
		return pins, nil
	}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	addrs, err := s.cfg.Lookup(lctx, name)
	if err != nil {
		return nil, fmt.Errorf("resolve %s: %w", name, err)
	}
	var out []netip.Addr
	for _, a := range addrs {
		a = a.Unmap()
		if a.IsLoopback() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() || a.IsMulticast() || a.IsUnspecified() || a.IsInterfaceLocalMulticast() {
			continue
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("resolve %s: no usable address (loopback, link-local and unspecified answers are refused)", name)
	}
	return out, nil
}

// dial connects from the host to host:port, which the caller has allowed.
func (s *Server) dial(ctx context.Context, host string, port uint16) (net.Conn, error) {
	addrs, err := s.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: 10 * time.Second}
	var errs []error
	for _, a := range addrs {
		c, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(a, port).String())
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

func splitHostPort(hp string, defPort uint16) (string, uint16, error) {
	host, ps, err := net.SplitHostPort(hp)
	if err != nil {
		if defPort != 0 {
			return hp, defPort, nil
		}
		return "", 0, err
	}
	p, err := strconv.ParseUint(ps, 10, 16)
	if err != nil || p == 0 {
		return "", 0, fmt.Errorf("bad port in %q", hp)
	}
	return host, uint16(p), nil
}

func monotonic() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return ts.Nano()
}
