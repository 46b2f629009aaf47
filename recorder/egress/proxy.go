package egress

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	maxHeaderBytes = 64 << 10
	headerTimeout  = 30 * time.Second
	// helloWait is how long a tunnel waits for the client's first bytes to
	// read a TLS server name; a protocol where the server speaks first only
	// loses this much once.
	helloWait = time.Second
)

// handleProxyConn serves one client connection: SOCKS5 when the first byte
// is version 5, otherwise HTTP (CONNECT or an absolute-URI request).
func (s *Server) handleProxyConn(c net.Conn) {
	lr := &io.LimitedReader{R: c, N: maxHeaderBytes}
	br := bufio.NewReaderSize(lr, maxRecord)
	c.SetReadDeadline(time.Now().Add(headerTimeout))
	first, err := br.Peek(1)
	if err != nil {
		return
	}
	r := Request{Time: monotonic(), Via: ProxyAddr, pid: s.peerPidAsync("tcp", c.RemoteAddr())}
	// The client has sent its first bytes and waits for an answer, so it
	// still holds the socket: find its process now. Left to the end of the
	// request, a short-lived client (python -c "urlopen(...)") may have
	// exited first and the request would have no process (seen under load).
	r.pid()
	if first[0] == 5 {
		r.Protocol = ProtoSOCKS5
		s.socks(c, br, lr, r)
		return
	}
	req, err := http.ReadRequest(br)
	if err != nil {
		if lr.N <= 0 {
			writeStatus(c, http.StatusRequestHeaderFieldsTooLarge, "request header too large\n")
		} else if err != io.EOF {
			writeStatus(c, http.StatusBadRequest, "behavediff egress proxy: malformed request\n")
		}
		return
	}
	lr.N = math.MaxInt64
	c.SetReadDeadline(time.Time{})
	r.Method = req.Method
	if req.Method == http.MethodConnect {
		r.Protocol = ProtoConnect
		host, port, err := splitHostPort(req.RequestURI, 0)
		if err != nil {
			r.Host, r.Reason, r.Status = req.RequestURI, "bad CONNECT target", http.StatusBadRequest
			s.record(r)
			writeStatus(c, r.Status, "behavediff egress proxy: CONNECT wants host:port\n")
			return
		}
		r.Host, r.Port = host, port
		if !s.cfg.Policy.Allowed(host, port) {
			s.deny(c, &r)
			return
		}
		up, err := s.dial(s.ctx, host, port)
		if err != nil {
			r.Allowed, r.Reason, r.Status = true, err.Error(), http.StatusBadGateway
			s.record(r)
			writeStatus(c, r.Status, "behavediff egress proxy: "+err.Error()+"\n")
			return
		}
		r.Allowed, r.Status = true, http.StatusOK
		if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
			up.Close()
			r.Reason = err.Error()
			s.record(r)
			return
		}
		s.tunnel(c, br, up, &r)
		return
	}
	r.Protocol = ProtoHTTP
	s.plainHTTP(c, req, &r)
}

// deny answers a refused HTTP request with 403 and records it.
func (s *Server) deny(c net.Conn, r *Request) {
	r.Allowed, r.Status = false, http.StatusForbidden
	if r.Reason == "" {
		r.Reason = s.denyReason()
	}
	s.record(*r)
	writeStatus(c, http.StatusForbidden, fmt.Sprintf(
		"behavediff: egress to %s is not allowed in this sandbox (allow it with --allow %s)\n",
		net.JoinHostPort(r.Host, strconv.Itoa(int(r.Port))), allowHint(r.Host, r.Port)))
}

func allowHint(host string, port uint16) string {
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return host + ":" + strconv.Itoa(int(port))
}

func writeStatus(c net.Conn, code int, body string) {
	fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\nX-Behavediff-Egress: denied\r\n\r\n%s",
		code, http.StatusText(code), len(body), body)
}

// hopHeaders are connection-level headers a proxy must not forward.
var hopHeaders = []string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// plainHTTP forwards one absolute-URI request; the client connection is
// closed after the answer (one request per connection keeps the byte
// counts per request exact).
func (s *Server) plainHTTP(c net.Conn, req *http.Request, r *Request) {
	defer req.Body.Close()
	if !req.URL.IsAbs() || req.URL.Scheme != "http" {
		r.Host, r.Reason, r.Status = req.Host, "not an absolute http:// URI", http.StatusBadRequest
		s.record(*r)
		writeStatus(c, r.Status, "behavediff egress proxy: send absolute http:// URIs, or CONNECT for TLS\n")
		return
	}
	host, port, err := splitHostPort(req.URL.Host, 80)
	if err != nil {
		r.Host, r.Reason, r.Status = req.URL.Host, err.Error(), http.StatusBadRequest
		s.record(*r)
		writeStatus(c, r.Status, "behavediff egress proxy: "+err.Error()+"\n")
		return
	}
	r.Host, r.Port = strings.Trim(host, "[]"), port
	if !s.cfg.Policy.Allowed(r.Host, port) {
		s.deny(c, r)
		return
	}
	r.Allowed = true
	up, err := s.dial(s.ctx, r.Host, port)
	if err != nil {
		r.Reason, r.Status = err.Error(), http.StatusBadGateway
		s.record(*r)
		writeStatus(c, r.Status, "behavediff egress proxy: "+err.Error()+"\n")
		return
	}
	cu := &countConn{Conn: up}
	defer cu.Close()
	for _, h := range hopHeaders {
		req.Header.Del(h)
	}
	req.Header.Set("Connection", "close")
	req.RequestURI = ""
	req.Close = true
	if err := req.Write(cu); err != nil {
		r.Reason, r.Status = "write upstream: "+err.Error(), http.StatusBadGateway
		r.BytesUp, r.BytesDown = cu.up.Load(), cu.down.Load()
		s.record(*r)
		writeStatus(c, r.Status, "behavediff egress proxy: "+r.Reason+"\n")
		return
	}
	resp, err := http.ReadResponse(bufio.NewReader(cu), req)
	if err != nil {
		r.Reason, r.Status = "read upstream: "+err.Error(), http.StatusBadGateway
		r.BytesUp, r.BytesDown = cu.up.Load(), cu.down.Load()
		s.record(*r)
		writeStatus(c, r.Status, "behavediff egress proxy: "+r.Reason+"\n")
		return
	}
	defer resp.Body.Close()
	r.Status = resp.StatusCode
	resp.Close = true
	for _, h := range hopHeaders {
		if h != "Transfer-Encoding" {
			resp.Header.Del(h)
		}
	}
	if err := resp.Write(c); err != nil && r.Reason == "" {
		r.Reason = "write to client: " + err.Error()
	}
	r.BytesUp, r.BytesDown = cu.up.Load(), cu.down.Load()
	s.record(*r)
}

// tunnel relays bytes both ways after a CONNECT or SOCKS5 handshake. It
// first reads the TLS server name from the client's ClientHello (when the
// client speaks TLS); a name the policy does not allow on this port ends the
// tunnel before anything reaches the destination, so an allowed front name
// cannot carry a request for another (domain fronting).
func (s *Server) tunnel(c net.Conn, br *bufio.Reader, up net.Conn, r *Request) {
	cu := &countConn{Conn: up}
	defer cu.Close()
	c.SetReadDeadline(time.Now().Add(helloWait))
	sni, ok := peekSNI(br)
	if !ok {
		r.Allowed, r.Reason = false, "TLS ClientHello unreadable in its first record"
		s.record(*r)
		return
	}
	if sni != "" {
		r.SNI = sni
		if name, err := CanonicalName(sni); err != nil || (name != strings.ToLower(r.Host) && !s.cfg.Policy.Allowed(name, r.Port)) {
			r.Allowed, r.Reason = false, "TLS server name "+sni+" is not allowed"
			s.record(*r)
			return
		}
	}
	c.SetReadDeadline(time.Time{})
	s.mu.Lock()
	closed := s.closed
	if !closed {
		s.conns[cu] = struct{}{}
	}
	s.mu.Unlock()
	if closed {
		return
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		io.Copy(cu, br)
		if tc, ok := up.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
	}()
	io.Copy(c, cu)
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	wg.Wait()
	s.untrack(cu)
	r.BytesUp, r.BytesDown = cu.up.Load(), cu.down.Load()
	s.record(*r)
}

// countConn counts bytes written to (up) and read from (down) a destination.
type countConn struct {
	net.Conn
	up, down atomic.Int64
}

func (c *countConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.down.Add(int64(n))
	return n, err
}

func (c *countConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.up.Add(int64(n))
	return n, err
}
