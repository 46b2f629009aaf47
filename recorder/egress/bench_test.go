package egress_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/behavediff/behavediff/internal/testenv"
	"github.com/behavediff/behavediff/recorder/egress"
	"github.com/behavediff/behavediff/recorder/egress/upstream"
)

// BenchmarkProxyGET fetches the upstream's 112 KiB payload over HTTPS,
// directly from the host and through the egress proxy from inside a
// sandbox namespace (a new connection each time, as a CLI tool does), and
// reports the proxy's cost as a ratio of the two in the same run.
func BenchmarkProxyGET(b *testing.B) {
	testenv.RequireRoot(b, "egress proxy benchmark")
	up := upstream.Start(b, "api.test")
	ns, pid := sandboxNetns(b)
	ownCgroup(b, pid) // as the sandbox's init is: its own small cgroup
	pol, err := egress.NewPolicy([]string{"api.test:8443"}, []string{"api.test:" + up.Addr.String()})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := egress.Start(context.Background(), egress.Config{NetnsPid: pid, Policy: pol})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(up.CAPEM)
	direct := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, up.Addr.String()+":8443")
		}}
	proxyURL, _ := url.Parse("http://" + egress.ProxyAddr)
	proxied := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true, Proxy: http.ProxyURL(proxyURL),
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var c net.Conn
			err := egress.InNetns("/run/netns/"+ns, func() error {
				var err error
				c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
				return err
			})
			return c, err
		}}
	get := func(tr *http.Transport) time.Duration {
		start := time.Now()
		resp, err := (&http.Client{Transport: tr}).Get("https://api.test:8443/big")
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if n != int64(len(upstream.Payload)) {
			b.Fatalf("got %d bytes", n)
		}
		return time.Since(start)
	}
	var td, tp time.Duration
	b.ResetTimer()
	for range b.N {
		td += get(direct)
		tp += get(proxied)
	}
	b.ReportMetric(float64(tp)/float64(td), "proxy/direct")
	b.ReportMetric(float64(tp-td)/float64(b.N)/1e3, "µs-added/req")
}

// ownCgroup moves pid into a new cgroup v2 directory, removed at cleanup.
func ownCgroup(tb testing.TB, pid uint32) {
	tb.Helper()
	for _, root := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		if _, err := os.Stat(filepath.Join(root, "cgroup.controllers")); err != nil {
			continue
		}
		dir := filepath.Join(root, fmt.Sprintf("bd-egress-bench-%d-%d", os.Getpid(), pid))
		if err := os.Mkdir(dir, 0o755); err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() {
			// This cleanup runs before the holder's (LIFO): end it here.
			syscall.Kill(int(pid), syscall.SIGKILL)
			for i := 0; i < 100 && os.Remove(dir) != nil; i++ {
				time.Sleep(20 * time.Millisecond)
			}
		})
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), fmt.Appendf(nil, "%d", pid), 0o644); err != nil {
			tb.Fatal(err)
		}
		return
	}
	tb.Skip("no cgroup v2 mounted")
}
