package baseline

import (
	"fmt"
	"strings"

	"github.com/behavediff/behavediff/store"
)

// fromEnv records the names of the environment variables each program was
// started with, as "EXE NAME" entries. Values are never kept: they are
// run-specific and may be secret; a new name (LD_PRELOAD on an approved
// program) is what the risk table rates.
func fromEnv(b *Baseline, t *store.Trace, n *normaliser, pt *procTable) {
	env := newAcc()
	for i, p := range t.Processes {
		for _, kv := range p.Env {
			if SandboxProvided(kv) {
				continue
			}
			name, _, _ := strings.Cut(kv, "=")
			if name == "" || strings.ContainsAny(name, " \t\n") {
				continue
			}
			env.add(Entry{Value: pt.exe[i] + " " + n.str(name), proc: pt.chain[i]})
		}
	}
	b.Env = env.list()
}

// sandboxEnv are the variables the sandbox itself sets in proxy mode
// (recorder/egress.Env, kept in step by a test there): they say how the
// sandbox is wired, not what the code does, and a baseline approved
// without the proxy must not see them as new.
var sandboxEnv = map[string]string{
	"HTTP_PROXY": "http://127.0.0.1:3128", "HTTPS_PROXY": "http://127.0.0.1:3128", "ALL_PROXY": "http://127.0.0.1:3128",
	"http_proxy": "http://127.0.0.1:3128", "https_proxy": "http://127.0.0.1:3128", "all_proxy": "http://127.0.0.1:3128",
	"NO_PROXY": "localhost,127.0.0.1,::1", "no_proxy": "localhost,127.0.0.1,::1",
}

// SandboxProvided reports whether kv ("NAME=VALUE") is exactly one of the
// sandbox's own variables. A program that points a proxy variable anywhere
// else is still recorded (and rated, docs/risk.md).
func SandboxProvided(kv string) bool {
	name, val, ok := strings.Cut(kv, "=")
	return ok && sandboxEnv[name] == val && val != ""
}

// Socket families and types by name, as the net_events view names them
// (store/migrations: family and sock_type).
var (
	familyNames = map[uint16]string{1: "unix", 2: "inet", 10: "inet6", 16: "netlink", 17: "packet"}
	typeNames   = map[uint16]string{1: "stream", 2: "dgram", 3: "raw", 5: "seqpacket"}
)

// socketKind names an unusual socket "FAMILY TYPE" ("packet raw",
// "inet raw", "netlink dgram", "af38 seqpacket"); "" for ordinary unix
// sockets and IPv4 and IPv6 stream and datagram sockets, whose use the connect, bind
// and send events already describe.
func socketKind(family, typ uint16) string {
	fam, ok := familyNames[family]
	if !ok {
		fam = fmt.Sprintf("af%d", family)
	}
	ty, ok := typeNames[typ]
	if !ok {
		ty = fmt.Sprintf("type%d", typ)
	}
	switch {
	case fam == "unix" && (ty == "stream" || ty == "dgram" || ty == "seqpacket"):
		return ""
	case (fam == "inet" || fam == "inet6") && (ty == "stream" || ty == "dgram"):
		return ""
	}
	return fam + " " + ty
}
