package egress

import (
	"testing"

	"github.com/behavediff/behavediff/baseline"
)

// The baseline leaves out the variables the sandbox sets itself (a run with
// the proxy must diff clean against one approved without it); its list must
// be exactly Env, or a changed proxy address would turn into findings.
func TestEnvIsSandboxProvided(t *testing.T) {
	for _, kv := range Env() {
		if !baseline.SandboxProvided(kv) {
			t.Errorf("baseline.SandboxProvided(%q) = false: keep baseline/envsock.go's sandboxEnv in step with Env", kv)
		}
	}
	for _, kv := range []string{"HTTP_PROXY=http://evil.example:8080", "LD_PRELOAD=/tmp/x.so", "HTTPS_PROXY=", "http_proxy"} {
		if baseline.SandboxProvided(kv) {
			t.Errorf("baseline.SandboxProvided(%q) = true, want false", kv)
		}
	}
}
