package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/behavediff/behavediff/baseline"
)

func TestAllowlist(t *testing.T) {
	b := &baseline.Baseline{Network: baseline.Network{Egress: []baseline.Entry{
		{Value: "api.test:8443"},
		{Value: "*.cdn.test:443"},
		{Value: "10.0.0.1:80"},
		{Value: "[fd00::1]:443"},
		{Value: "evil.test:8443", Failed: true},
		{Value: "127.0.0.53:53/udp"},
		{Value: "127.0.0.1:5432"},
		{Value: "files.*.test:443"},
		{Value: "api.test:*"},
	}}}
	allow, skipped := Allowlist(b)
	if d := cmp.Diff([]string{"api.test:8443", "*.cdn.test:443", "10.0.0.1:80", "[fd00::1]:443", "api.test:*"}, allow); d != "" {
		t.Errorf("allow (-want +got):\n%s", d)
	}
	var got []string
	for _, s := range skipped {
		got = append(got, s.Entry)
	}
	if d := cmp.Diff([]string{"evil.test:8443", "127.0.0.53:53/udp", "127.0.0.1:5432", "files.*.test:443"}, got); d != "" {
		t.Errorf("skipped (-want +got):\n%s", d)
	}
	if a, _ := Allowlist(&baseline.Baseline{}); len(a) != 0 {
		t.Errorf("empty baseline allows %v", a)
	}
}
