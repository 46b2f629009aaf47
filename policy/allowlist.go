package policy

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/behavediff/behavediff/baseline"
	"github.com/behavediff/behavediff/recorder/egress"
)

// Skipped is a baseline egress entry the allow-list leaves out, and why.
type Skipped struct {
	Entry  string
	Reason string
}

// Allowlist derives the egress allow-list from a baseline: every
// network.egress entry that succeeded, as an --allow endpoint. Left out (and
// so denied when enforced): failed attempts (never approved as working),
// loopback destinations (inside the sandbox, never through the proxy),
// datagram entries (the proxy carries TCP; DNS goes to the sandbox's
// resolver, which answers the allowed names), and patterns the proxy cannot
// match (a glob other than a leading "*.").
func Allowlist(b *baseline.Baseline) (allow []string, skipped []Skipped) {
	seen := map[string]bool{}
	for _, e := range b.Network.Egress {
		v := e.Value
		skip := func(why string) { skipped = append(skipped, Skipped{Entry: v, Reason: why}) }
		switch {
		case e.Failed:
			skip("every recorded attempt failed")
			continue
		case strings.HasSuffix(v, "/udp"):
			skip("datagrams do not go through the egress proxy")
			continue
		}
		ep, err := egress.ParseEndpoint(v)
		if err != nil {
			skip(fmt.Sprintf("not an endpoint the proxy can match: %v", err))
			continue
		}
		if ep.Prefix.IsValid() && ep.Prefix.IsSingleIP() && isLocal(ep.Prefix.Addr()) {
			skip("loopback stays inside the sandbox")
			continue
		}
		if s := ep.String(); !seen[s] {
			seen[s] = true
			allow = append(allow, s)
		}
	}
	return allow, skipped
}

func isLocal(a netip.Addr) bool { return a.IsLoopback() || a.IsUnspecified() }
