package recorder

import (
	"context"
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/behavediff/behavediff/recorder/egress"
	"github.com/behavediff/behavediff/store"
)

// Enforcement turns an approved baseline into policy for one run (record,
// replay, check --enforce). The caller derives it from the baseline; the
// recorder only applies it.
type Enforcement struct {
	// Allow replaces the spec's allow-list: the run is in proxy mode and
	// only these endpoints are dialled (none: everything is denied).
	Allow []string
	// Seccomp, when set, replaces the sandbox's seccomp profile.
	Seccomp *specs.LinuxSeccomp
}

// netPlan is how one run's network is set up.
type netPlan struct {
	mode   string // NetNone, NetProxy, NetHost
	policy egress.Policy
	reason string // recorded with denied requests
}

func planNet(spec Spec, enforce *Enforcement) (netPlan, error) {
	p := netPlan{mode: spec.NetMode()}
	allow := spec.Allow
	if enforce != nil {
		p.mode, allow = NetProxy, enforce.Allow
		p.reason = "not in the approved baseline (--enforce)"
	}
	if p.mode != NetProxy {
		return p, nil
	}
	pol, err := egress.NewPolicy(allow, spec.AddHosts)
	if err != nil {
		return p, fmt.Errorf("egress policy: %w", err)
	}
	p.policy = pol
	return p, nil
}

// env adds the proxy variables in proxy mode; the user's --env wins.
func (p netPlan) env(extra []string) []string {
	if p.mode != NetProxy {
		return BaseEnv(extra)
	}
	return BaseEnv(append(egress.Env(), extra...))
}

// start serves the proxy and resolver in the sandbox's namespace (nil in
// other modes). pid is the created task's init.
func (p netPlan) start(ctx context.Context, pid uint32) (*egress.Server, error) {
	if p.mode != NetProxy {
		return nil, nil
	}
	srv, err := egress.Start(ctx, egress.Config{NetnsPid: pid, Policy: p.policy, DenyReason: p.reason})
	if err != nil {
		return nil, fmt.Errorf("start egress proxy: %w", err)
	}
	return srv, nil
}

var proxyProtocols = map[string]string{
	egress.ProtoHTTP: store.ProxyHTTP, egress.ProtoConnect: store.ProxyConnect,
	egress.ProtoSOCKS5: store.ProxySOCKS5, egress.ProtoDNS: store.ProxyDNS,
}

// proxyRows turns the server's requests into store rows: times relative to
// the run's start, each client pid mapped to the process image that had
// that pid when the request arrived. dropped counts requests the server
// could not keep (reported as lost events, class "proxy").
func proxyRows(srv *egress.Server, base uint64, procs []store.Process) (rows []store.ProxyRequest, dropped int64) {
	if srv == nil {
		return nil, 0
	}
	srv.Close()
	reqs, dropped := srv.Requests()
	for _, r := range reqs {
		ts := max(r.Time-int64(base), 0)
		proto, ok := proxyProtocols[r.Protocol]
		if !ok {
			proto = r.Protocol
		}
		rows = append(rows, store.ProxyRequest{
			Proc: imageAt(procs, r.Pid, ts), Pid: r.Pid, TS: ts, Protocol: proto, Host: r.Host, Port: r.Port,
			Method: r.Method, SNI: r.SNI, BytesUp: r.BytesUp, BytesDown: r.BytesDown, Allowed: r.Allowed,
			Reason: r.Reason, Status: int32(r.Status), Via: r.Via,
		})
	}
	return rows, dropped
}

// imageAt is the index of the newest image of pid started by ts, -1 if none.
func imageAt(procs []store.Process, pid int32, ts int64) int32 {
	best, bestStart := int32(-1), int64(-1)
	if pid == 0 {
		return best
	}
	for _, p := range procs {
		if p.Pid == pid && p.StartedAt <= ts && p.StartedAt >= bestStart {
			best, bestStart = p.Idx, p.StartedAt
		}
	}
	return best
}
