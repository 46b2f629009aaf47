package upstream

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"hash/fnv"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/behavediff/behavediff/internal/testenv"
	"github.com/behavediff/behavediff/recorder/egress"
)

// Ports the servers listen on.
const (
	HTTPPort  = 8080
	HTTPSPort = 8443
	// ClosedPort has no server: an allowed dial there is refused by the
	// upstream host itself.
	ClosedPort = 9
)

// Payload is what GET /big answers (a size that needs several reads).
var Payload = strings.Repeat("behavediff upstream payload\n", 4096)

// Hit is one request a server answered.
type Hit struct {
	Host, Path string
	TLS        bool
}

// Upstream is a running test upstream.
type Upstream struct {
	Netns  string     // name under /run/netns
	Addr   netip.Addr // the servers' address, 10.231.N.2
	HostIP netip.Addr // the host's end, 10.231.N.1
	CAPEM  []byte     // the test CA certificate

	mu   sync.Mutex
	hits []Hit
}

// Hits returns the requests the servers answered so far.
func (u *Upstream) Hits() []Hit {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Hit(nil), u.hits...)
}

// Start builds the namespace and servers; names are the DNS names the
// certificate is valid for (the test pins them to Addr with --add-host).
func Start(t testing.TB, names ...string) *Upstream {
	t.Helper()
	testenv.RequireRoot(t, "an upstream network namespace")
	testenv.RequireBinaries(t, "ip")
	n := pickSubnet(t)
	u := &Upstream{
		Netns:  fmt.Sprintf("bd-up-%d-%d", n, os.Getpid()),
		HostIP: netip.AddrFrom4([4]byte{10, 231, byte(n), 1}),
		Addr:   netip.AddrFrom4([4]byte{10, 231, byte(n), 2}),
	}
	hostIf, nsIf := fmt.Sprintf("bdu%dh", n), fmt.Sprintf("bdu%du", n)
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	run("netns", "add", u.Netns)
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", hostIf).Run()
		exec.Command("ip", "netns", "del", u.Netns).Run()
	})
	run("link", "add", hostIf, "type", "veth", "peer", "name", nsIf)
	run("link", "set", nsIf, "netns", u.Netns)
	run("addr", "add", u.HostIP.String()+"/30", "dev", hostIf)
	run("link", "set", hostIf, "up")
	run("-n", u.Netns, "addr", "add", u.Addr.String()+"/30", "dev", nsIf)
	run("-n", u.Netns, "link", "set", nsIf, "up")
	run("-n", u.Netns, "link", "set", "lo", "up")

	wheel := makeWheel(t)
	caPEM, cert := makeCerts(t, u.Addr, names)
	u.CAPEM = caPEM
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.hits = append(u.hits, Hit{Host: r.Host, Path: r.URL.Path, TLS: r.TLS != nil})
		u.mu.Unlock()
		switch r.URL.Path {
		case "/big":
			fmt.Fprint(w, Payload)
			return
		case "/simple/tinypkg/":
			fmt.Fprintf(w, `<html><body><a href="/packages/%s#sha256=%x">%s</a></body></html>`, WheelName, sha256.Sum256(wheel), WheelName)
			return
		case "/packages/" + WheelName:
			w.Write(wheel)
			return
		}
		fmt.Fprintf(w, "hello from upstream %s%s\n", r.Host, r.URL.Path)
	})
	var lh, ls net.Listener
	err := egress.InNetns("/run/netns/"+u.Netns, func() error {
		var err error
		if lh, err = net.Listen("tcp", netip.AddrPortFrom(u.Addr, HTTPPort).String()); err != nil {
			return err
		}
		ls, err = net.Listen("tcp", netip.AddrPortFrom(u.Addr, HTTPSPort).String())
		return err
	})
	if err != nil {
		t.Fatalf("upstream listeners: %v", err)
	}
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	ts := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}}}
	go hs.Serve(lh)
	go ts.ServeTLS(ls, "", "")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		hs.Shutdown(ctx)
		ts.Shutdown(ctx)
	})
	return u
}

// WheelName is the one package of the upstream's PEP 503 index
// (/simple/tinypkg/), for pip download --index-url.
const WheelName = "tinypkg-1.0-py3-none-any.whl"

// makeWheel builds a minimal valid wheel of tinypkg 1.0.
func makeWheel(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	files := [][2]string{
		{"tinypkg/__init__.py", "VALUE = 1\n"},
		{"tinypkg-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: tinypkg\nVersion: 1.0\n"},
		{"tinypkg-1.0.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: behavediff-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"},
		{"tinypkg-1.0.dist-info/RECORD", ""},
	}
	for _, f := range files {
		fw, err := zw.Create(f[0])
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(fw, f[1])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pickSubnet derives N of 10.231.N.0/30 from the test's name and skips
// any N already configured on the host (another test, another helper).
func pickSubnet(t testing.TB) int {
	h := fnv.New32a()
	fmt.Fprintf(h, "%s/%d", t.Name(), os.Getpid())
	start := int(h.Sum32()%200) + 20
	out, _ := exec.Command("ip", "-4", "-o", "addr").Output()
	used := string(out)
	for i := range 200 {
		n := (start-20+i)%200 + 20
		if !strings.Contains(used, fmt.Sprintf("10.231.%d.", n)) {
			return n
		}
	}
	t.Fatal("no free 10.231.N.0/30 subnet")
	return 0
}

// makeCerts makes a CA and a server certificate for names and addr.
func makeCerts(t testing.TB, addr netip.Addr, names []string) ([]byte, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "behavediff test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "upstream"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: names, IPAddresses: []net.IP{addr.AsSlice()},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
