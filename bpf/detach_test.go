package bpf

import (
	"testing"

	"github.com/cilium/ebpf/link"
)

// TestLinksDetachWithoutWaiting: every attachment of a watching sensor is a
// tp_btf (tracing / raw tracepoint) or cgroup link, whose release is
// immediate. A perf-event link (a syscalls/... tracepoint, a kprobe) waits
// ~100 ms of RCU grace periods on its last release, and every recording
// waits for Close before it returns (issue 14: `record -- true`).
func TestLinksDetachWithoutWaiting(t *testing.T) {
	requireRoot(t)
	cg := newCgroup(t, "detach")
	s := load(t, Config{CgroupID: cg.id, UnixAllow: []string{t.TempDir()}})
	links := append(append([]link.Link{}, s.links...), s.sa.links...)
	if len(links) < 6+8 { // tp_btf programs + cgroup hooks
		t.Fatalf("%d links, want at least 14 (the test would prove nothing)", len(links))
	}
	for _, l := range links {
		info, err := l.Info()
		if err != nil {
			t.Fatalf("link info: %v", err)
		}
		switch info.Type {
		case link.TracingType, link.RawTracepointType, link.CgroupType:
		default:
			t.Errorf("link of program %d has type %v: its detach may wait for RCU grace periods", info.Program, info.Type)
		}
	}
}
