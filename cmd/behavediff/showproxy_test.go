package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/behavediff/behavediff/internal/errwriter"
	"github.com/behavediff/behavediff/store"
)

func TestShowProxy(t *testing.T) {
	tr := &store.Trace{Run: store.Run{ID: 3},
		Processes: []store.Process{{Idx: 0, ParentIdx: -1, Exe: "/usr/bin/curl", Chain: "/usr/bin/curl"}},
		Proxy: []store.ProxyRequest{
			{Proc: 0, Protocol: store.ProxyConnect, Host: "api.test", Port: 8443, Method: "CONNECT", SNI: "api.test", BytesUp: 10, BytesDown: 20, Allowed: true},
			{Proc: -1, Protocol: store.ProxyConnect, Host: "api.test", Port: 443, Method: "CONNECT", SNI: "evil.test", Reason: "TLS server name evil.test is not allowed"},
			{Proc: 0, Protocol: store.ProxyDNS, Host: "fd00::1", Method: "A", Allowed: true},
			{Proc: 0, Protocol: store.ProxySOCKS5, Host: "fd00::1", Port: 22, Method: "CONNECT"},
		}}
	var buf bytes.Buffer
	bw := errwriter.New(&buf)
	writeProxy(bw, tr, 3)
	got := buf.String()
	for _, want := range []string{
		"Egress proxy (4 requests and queries, 2 denied):",
		"connect CONNECT api.test:8443  → allowed, 10 B up, 20 B down  (/usr/bin/curl)",
		"api.test:443 (TLS name evil.test)  → denied: TLS server name evil.test is not allowed, 0 B up, 0 B down  (?)",
		"dns     A       fd00::1  → allowed  (/usr/bin/curl)",
		"… 1 more (behavediff query \"SELECT * FROM proxy_requests WHERE run_id = 3\")",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("show lacks %q:\n%s", want, got)
		}
	}
	buf.Reset()
	writeProxy(bw, &store.Trace{}, 3)
	if buf.Len() != 0 {
		t.Errorf("a run without proxy shows %q", buf.String())
	}
}
