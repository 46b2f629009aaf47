package store

import (
	"context"
	"database/sql/driver"
	"fmt"
)

// Protocols of a ProxyRequest.
const (
	ProxyHTTP    = "http"    // plain HTTP with an absolute URI
	ProxyConnect = "connect" // HTTP CONNECT tunnel
	ProxySOCKS5  = "socks5"  // SOCKS5 CONNECT
	ProxyDNS     = "dns"     // a query to the sandbox's resolver
)

// ProxyRequest is one request to the egress proxy, or one query to the
// resolver, of a --net proxy run (view proxy_requests).
type ProxyRequest struct {
	Proc     int32 // Process.Idx of the client; -1 when unknown
	Pid      int32 // host pid of the client; 0 when unknown
	TS       int64 // ns since run start
	Protocol string
	Host     string // as the client asked: a name or an address literal
	Port     uint16 // 0 for DNS
	Method   string // HTTP method, CONNECT, or the DNS query type
	SNI      string // TLS server name seen in a tunnel
	// BytesUp and BytesDown count what went to and came from the destination.
	BytesUp, BytesDown int64
	Allowed            bool
	Reason             string // why denied, or what failed after allowing
	Status             int32  // HTTP status, SOCKS reply or DNS rcode given to the client
	Via                string // the proxy or resolver address the client used
}

var proxyRow = plainRow("_proxy", "n", "proc", "pid", "ts", "protocol", "host", "port", "method", "sni",
	"bytes_up", "bytes_down", "allowed", "reason", "status", "via")

func (w *RunWriter) writeProxy(ctx context.Context, rows []ProxyRequest) error {
	if err := w.rc.insertRows(ctx, &proxyRow, w.id, len(rows), func(i int, a []driver.NamedValue) {
		r := &rows[i]
		set(a, int64(i), nullInt(int64(r.Proc), -1), nullInt(int64(r.Pid), 0), r.TS, r.Protocol, r.Host,
			nullInt(int64(r.Port), 0), nullStr(r.Method), nullStr(r.SNI), r.BytesUp, r.BytesDown, r.Allowed,
			nullStr(r.Reason), nullInt(int64(r.Status), 0), nullStr(r.Via))
	}); err != nil {
		return fmt.Errorf("store proxy requests: %w", err)
	}
	return nil
}

func (l *loader) loadProxy(id int64, t *Trace) error {
	err := l.query(`SELECT proc, pid, ts, protocol, host, port, method, sni, bytes_up, bytes_down, allowed, reason, status, via
		FROM _proxy WHERE run_id = ? ORDER BY n`, arg(id), func(v []driver.Value) error {
		proc := int32(-1)
		if v[0] != nil {
			proc = int32(vInt(v[0]))
		}
		t.Proxy = append(t.Proxy, ProxyRequest{Proc: proc, Pid: int32(vInt(v[1])), TS: vInt(v[2]), Protocol: vStr(v[3]),
			Host: vStr(v[4]), Port: uint16(vInt(v[5])), Method: vStr(v[6]), SNI: vStr(v[7]), BytesUp: vInt(v[8]),
			BytesDown: vInt(v[9]), Allowed: vInt(v[10]) != 0, Reason: vStr(v[11]), Status: int32(vInt(v[12])), Via: vStr(v[13])})
		return nil
	})
	if err != nil {
		return fmt.Errorf("proxy requests: %w", err)
	}
	return nil
}
