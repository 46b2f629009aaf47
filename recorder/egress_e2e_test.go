package recorder

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/behavediff/behavediff/recorder/egress/upstream"
	"github.com/behavediff/behavediff/store"
)

// proxySpec pins the test names to the upstream (so every destination,
// allowed or not, is an address of the test's own namespace).
func proxySpec(u *upstream.Upstream, allow ...string) Spec {
	a := u.Addr.String()
	return Spec{Allow: allow, AddHosts: []string{"api.test:" + a, "evil.test:" + a}}
}

func proxyReq(tr *store.Trace, proto, host string, port uint16) []store.ProxyRequest {
	var out []store.ProxyRequest
	for _, r := range tr.Proxy {
		if r.Protocol == proto && r.Host == host && r.Port == port {
			out = append(out, r)
		}
	}
	return out
}

func exeOf(tr *store.Trace, idx int32) string {
	for _, p := range tr.Processes {
		if p.Idx == idx {
			return p.Exe
		}
	}
	return ""
}

// TestRecordProxy: in proxy mode, curl and Python's urllib reach an allowed
// name through the proxy and get the data; an unlisted port and an unlisted
// name on the same upstream host are refused inside the sandbox; a raw
// connect that ignores the proxy has no route. Every request is a row with
// its decision and the program that made it.
func TestRecordProxy(t *testing.T) {
	requireRoot(t)
	testenv := upstream.Start(t, "api.test", "evil.test")
	ws := t.TempDir()
	writeFile(t, filepath.Join(ws, "ca.pem"), string(testenv.CAPEM))
	writeFile(t, filepath.Join(ws, "run.sh"), fmt.Sprintf(`
curl -sS --cacert ca.pem https://api.test:8443/big -o big.out; echo "curl=$?"
python3 -c '
import ssl, urllib.request
ctx = ssl.create_default_context(cafile="ca.pem")
print(urllib.request.urlopen("https://api.test:8443/py", context=ctx).read().decode().strip())
'
curl -sS --cacert ca.pem https://api.test:9443/ 2>/dev/null; echo "port=$?"
curl -sS --cacert ca.pem https://evil.test:8443/ 2>/dev/null; echo "name=$?"
curl -sS http://evil.test:8080/ -o evil.out -w "plain=%%{http_code}\n"
python3 -c '
import socket
s = socket.socket()
try:
    s.connect(("%s", 8443)); print("raw=connected")
except OSError as e:
    print("raw=" + str(e.errno))
'
`, testenv.Addr))
	spec := proxySpec(testenv, "api.test:8443")
	spec.Args = []string{"sh", "run.sh"}
	r := record(t, ws, spec, nil)
	if r.res.Status != store.StatusOK {
		t.Fatalf("status %s: %s", r.res.Status, r.stderr)
	}
	for _, want := range []string{"curl=0\n", "hello from upstream api.test:8443/py\n", "port=56\n", "name=56\n", "plain=403\n", "raw=101\n"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s\nstderr:\n%s", want, r.stdout, r.stderr)
		}
	}
	var paths []string
	for _, h := range testenv.Hits() {
		paths = append(paths, h.Path)
	}
	if strings.Join(paths, " ") != "/big /py" {
		t.Errorf("upstream served %v, want /big and /py only", paths)
	}

	allowed := proxyReq(r.trace, store.ProxyConnect, "api.test", 8443)
	if len(allowed) != 2 {
		t.Fatalf("want 2 CONNECT api.test:8443 rows, got %+v", r.trace.Proxy)
	}
	exes := map[string]bool{}
	for _, q := range allowed {
		exes[exeOf(r.trace, q.Proc)] = true
		if !q.Allowed || q.SNI != "api.test" || q.BytesDown == 0 || q.BytesUp == 0 || q.Reason != "" {
			t.Errorf("allowed request recorded as %+v", q)
		}
	}
	if !exes["/usr/bin/curl"] || !exes["/usr/bin/python3.11"] && !exes["/usr/bin/python3"] {
		t.Errorf("allowed requests attributed to %v, want curl and python3 (rows %+v; processes %+v)", exes, allowed, r.trace.Processes)
	}
	var curlDown int64
	for _, q := range allowed {
		if exeOf(r.trace, q.Proc) == "/usr/bin/curl" {
			curlDown = q.BytesDown
		}
	}
	if curlDown < int64(len(upstream.Payload)) {
		t.Errorf("curl's request moved %d bytes down, the payload is %d", curlDown, len(upstream.Payload))
	}
	for _, c := range []struct {
		proto, host string
		port        uint16
	}{{store.ProxyConnect, "api.test", 9443}, {store.ProxyConnect, "evil.test", 8443}, {store.ProxyHTTP, "evil.test", 8080}} {
		rows := proxyReq(r.trace, c.proto, c.host, c.port)
		if len(rows) != 1 || rows[0].Allowed || rows[0].Status != 403 || exeOf(r.trace, rows[0].Proc) != "/usr/bin/curl" {
			t.Errorf("denied %s %s:%d recorded as %+v", c.proto, c.host, c.port, rows)
		}
	}
	// The bypass attempt is a failed connect in the sensor's events.
	found := false
	for _, e := range r.trace.Net {
		if e.Op == store.NetConnect && e.Address == testenv.Addr.String() && e.Port == 8443 {
			found = e.Result == -101 // ENETUNREACH
		}
	}
	if !found {
		t.Errorf("raw connect to %s:8443 not recorded as ENETUNREACH", testenv.Addr)
	}
}

// TestRecordProxyDNS: the sandbox's resolver answers an allowed name with
// its pinned address and refuses a name that is pinned but not allowed;
// each query is a row with its decision. getent ahostsv4 resolves with
// AI_ADDRCONFIG, which asks nothing when the only IPv4 address is
// 127.0.0.1 (see egress.ConfigAddr).
func TestRecordProxyDNS(t *testing.T) {
	requireRoot(t)
	u := upstream.Start(t, "api.test", "evil.test")
	spec := proxySpec(u, "api.test:8443")
	spec.Args = []string{"sh", "-c", "getent ahostsv4 api.test | head -1; getent ahostsv4 evil.test; echo evil=$?"}
	r := record(t, "", spec, nil)
	if !strings.Contains(r.stdout, u.Addr.String()) || !strings.Contains(r.stdout, "evil=2") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	}
	var ok, denied int
	for _, q := range r.trace.Proxy {
		if q.Protocol != store.ProxyDNS {
			continue
		}
		switch {
		case q.Host == "api.test" && q.Allowed && exeOf(r.trace, q.Proc) == "/usr/bin/getent":
			ok++
		case q.Host == "evil.test" && !q.Allowed && q.Status == 3:
			denied++
		default:
			t.Errorf("unexpected DNS row %+v", q)
		}
	}
	if ok == 0 || denied == 0 {
		t.Errorf("DNS rows: %d allowed, %d denied: %+v", ok, denied, r.trace.Proxy)
	}
	// The sensor saw the answer, so a connect to the address would be
	// named api.test in a baseline.
	answered := false
	for _, e := range r.trace.Net {
		answered = answered || e.Op == store.NetDNSAnswer && e.Domain == "api.test" && e.Address == u.Addr.String()
	}
	if !answered {
		t.Error("the resolver's answer was not recorded as a dns_answer event")
	}
}

// TestRecordProxyModes: without --allow the sandbox keeps the
// loopback-only namespace and no proxy answers.
func TestRecordProxyModes(t *testing.T) {
	requireRoot(t)
	r := record(t, "", Spec{Args: []string{"sh", "-c", "echo ${HTTPS_PROXY:-unset}; curl -sS --max-time 3 http://127.0.0.1:3128/ 2>&1; echo rc=$?"}}, nil)
	if !strings.Contains(r.stdout, "unset") || !strings.Contains(r.stdout, "rc=7") || len(r.trace.Proxy) != 0 {
		t.Errorf("none mode: %s %+v", r.stdout, r.trace.Proxy)
	}
	// Proxy mode with nothing allowed (as --enforce of a baseline without
	// egress): everything is refused.
	r = record(t, "", Spec{Args: []string{"sh", "-c", "curl -sS -o /dev/null -w '%{http_code}' http://example.invalid/; echo"}}, func(o *Options) {
		o.Enforce = func(Spec) (*Enforcement, error) { return &Enforcement{Allow: []string{}}, nil }
	})
	if strings.TrimSpace(r.stdout) != "403" || len(r.trace.Proxy) != 1 || r.trace.Proxy[0].Allowed ||
		!strings.Contains(r.trace.Proxy[0].Reason, "--enforce") {
		t.Errorf("enforced empty allow-list: %q %+v", r.stdout, r.trace.Proxy)
	}
}

// TestRecordProxyPip: pip download --index-url through the proxy fetches a
// wheel from the upstream's HTTPS index by name.
func TestRecordProxyPip(t *testing.T) {
	requireRoot(t)
	if _, err := os.Stat("/usr/bin/pip3"); err != nil {
		t.Skip("no /usr/bin/pip3")
	}
	u := upstream.Start(t, "api.test", "evil.test")
	ws := t.TempDir()
	writeFile(t, filepath.Join(ws, "ca.pem"), string(u.CAPEM))
	spec := proxySpec(u, "api.test:8443")
	spec.Args = []string{"pip3", "download", "--no-cache-dir", "--no-deps", "--cert", "ca.pem",
		"--index-url", "https://api.test:8443/simple/", "-d", "dl", "tinypkg"}
	r := record(t, ws, spec, nil)
	if r.res.ExitCode != 0 {
		t.Fatalf("pip download: exit %d\n%s\n%s", r.res.ExitCode, r.stdout, r.stderr)
	}
	var moved int64
	for _, q := range proxyReq(r.trace, store.ProxyConnect, "api.test", 8443) {
		if exe := exeOf(r.trace, q.Proc); !q.Allowed || q.SNI != "api.test" || exe != "/usr/bin/pip3" && !strings.Contains(exe, "python3") {
			t.Errorf("pip's request %+v (exe %s)", q, exeOf(r.trace, q.Proc))
		}
		moved += q.BytesDown
	}
	if moved < 500 {
		t.Errorf("pip moved %d bytes down: %+v", moved, r.trace.Proxy)
	}
	var hit bool
	for _, h := range u.Hits() {
		hit = hit || h.Path == "/packages/"+upstream.WheelName
	}
	if !hit {
		t.Errorf("the wheel was not fetched: %v", u.Hits())
	}
}
