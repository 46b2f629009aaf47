package policy

import (
	"slices"
	"strings"
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

func TestSeccomp(t *testing.T) {
	b := &baseline.Baseline{Counts: true, Syscalls: []baseline.Entry{{Value: "read 1e3"}, {Value: "getcpu"}, {Value: "write 1e1"}}}
	p := Seccomp(b)
	if p.DefaultAction != "SCMP_ACT_ERRNO" || *p.DefaultErrnoRet != 1 || len(p.Syscalls) != 1 {
		t.Fatalf("profile %+v", p)
	}
	names := p.Syscalls[0].Names
	for _, want := range []string{"read", "getcpu", "write", "execve", "exit_group"} {
		if !slices.Contains(names, want) {
			t.Errorf("missing %s in %v", want, names)
		}
	}
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("names not sorted and unique: %v", names)
	}
	for _, n := range names {
		if strings.Contains(n, " ") {
			t.Errorf("count left in name %q", n)
		}
	}
	enf, _ := Enforcement(&baseline.Baseline{})
	if enf.Allow == nil || len(enf.Allow) != 0 || enf.Seccomp == nil {
		t.Errorf("empty baseline enforces %+v", enf)
	}
}
