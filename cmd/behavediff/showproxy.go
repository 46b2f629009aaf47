package main

import (
	"fmt"

	"github.com/behavediff/behavediff/internal/errwriter"
	"github.com/behavediff/behavediff/store"
)

// writeProxy lists a --net proxy run's requests and DNS queries in show.
func writeProxy(bw *errwriter.Writer, tr *store.Trace, limit int) {
	if len(tr.Proxy) == 0 {
		return
	}
	denied := 0
	for _, q := range tr.Proxy {
		if !q.Allowed {
			denied++
		}
	}
	bw.Printf("\nEgress proxy (%d requests and queries, %d denied):\n", len(tr.Proxy), denied)
	for i, q := range tr.Proxy {
		if i == limit {
			bw.Printf("  … %d more (behavediff query \"SELECT * FROM proxy_requests WHERE run_id = %d\")\n", len(tr.Proxy)-limit, tr.Run.ID)
			break
		}
		target := q.Host
		if q.Port != 0 {
			target = hostPort(store.NetEvent{Address: q.Host, Port: q.Port})
		}
		line := fmt.Sprintf("%-7s %-7s %s", q.Protocol, q.Method, target)
		if q.SNI != "" && q.SNI != q.Host {
			line += " (TLS name " + q.SNI + ")"
		}
		if q.Allowed {
			line += "  → allowed"
		} else {
			line += "  → denied"
		}
		if q.Reason != "" {
			line += ": " + q.Reason
		}
		if q.Protocol != store.ProxyDNS {
			line += fmt.Sprintf(", %d B up, %d B down", q.BytesUp, q.BytesDown)
		}
		proc := "?"
		if q.Proc >= 0 {
			proc = procChain(tr, q.Proc)
		}
		bw.Printf("  %s  (%s)\n", line, proc)
	}
}
