package baseline_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/behavediff/behavediff/baseline"
	"github.com/behavediff/behavediff/baseline/baselinetest"
	"github.com/behavediff/behavediff/store"
)

// In a --net proxy run egress is what the proxy was asked for, by name:
// the addresses behind a name never show, the connects to the proxy are
// plumbing, and a denied or unreachable request is a failed attempt.
func TestProxyEgressByName(t *testing.T) {
	egressOf := func(cdnAddr string) []string {
		bl := baselinetest.New(1, "/ws", "x")
		p := bl.Exec(-1, "/usr/bin/curl", "curl")
		bl.Connect(p, "127.0.0.1", 3128, 0)
		bl.Connect(p, cdnAddr, 443, baselinetest.ENETUNREACH) // a raw connect bypassing the proxy
		bl.T.Proxy = []store.ProxyRequest{
			{Proc: p, Protocol: store.ProxyDNS, Host: "cdn.test", Method: "A", Allowed: true, Via: "127.0.0.53:53"},
			{Proc: p, Protocol: store.ProxyConnect, Host: "API.test", Port: 8443, Allowed: true, Via: "127.0.0.1:3128"},
			{Proc: p, Protocol: store.ProxyHTTP, Host: "evil.test", Port: 80, Reason: "not allowed", Via: "127.0.0.1:3128"},
			{Proc: p, Protocol: store.ProxySOCKS5, Host: "10.0.0.9", Port: 22, Allowed: true, Reason: "connection refused", Via: "127.0.0.1:3128"},
			{Proc: -1, Protocol: store.ProxyConnect, Host: "fd00::1", Port: 443, Allowed: true, Via: "127.0.0.1:3128"},
		}
		b := mustFromTrace(t, bl.T, baseline.Options{})
		var out []string
		for _, e := range b.Network.Egress {
			v := e.Value
			if e.Failed {
				v += " (failed)"
			}
			out = append(out, v)
		}
		return out
	}
	want := []string{"10.0.0.9:22 (failed)", "198.51.100.7:443 (failed)", "[fd00::1]:443", "api.test:8443", "evil.test:80 (failed)"}
	if d := cmp.Diff(want, egressOf("198.51.100.7")); d != "" {
		t.Errorf("egress (-want +got):\n%s", d)
	}
}
