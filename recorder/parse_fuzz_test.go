package recorder

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/behavediff/behavediff/store"
)

// The sensor hands the recorder bytes the traced code controls: sockaddrs
// from connect/sendto, DNS payloads it sends to or receives from port 53,
// path strings. Each parser must return (a value, or ok=false), never
// panic, and never return more than its input holds.

func FuzzParseSockaddr(f *testing.F) {
	// Seeds in testdata/fuzz/FuzzParseSockaddr are real sockaddrs captured
	// from the sensor (bpf.TestCaptureFuzzSeeds); these add the edge cases.
	f.Add([]byte{})
	f.Add([]byte{2})
	f.Add([]byte{2, 0, 0, 53, 127, 0, 0})            // AF_INET, one byte short
	f.Add([]byte{10, 0, 0, 53, 0, 0, 0, 0, 0, 0, 0}) // AF_INET6, short
	f.Add([]byte{1, 0, 0, 'a', 'b', 0, 'c'})         // abstract unix with a NUL inside
	f.Add([]byte{1, 0, '/', 't', 'm', 'p'})          // unix path without a terminator
	f.Add([]byte{0xff, 0xff, 1, 2, 3})               // unknown family
	f.Fuzz(func(t *testing.T, b []byte) {
		sa := parseSockaddr(b)
		if len(b) >= 2 && sa.Family != binary.LittleEndian.Uint16(b) {
			t.Fatalf("family %d from %x", sa.Family, b[:2])
		}
		switch sa.Family {
		case afInet, afInet6:
			if sa.Address != "" {
				if _, err := netip.ParseAddr(sa.Address); err != nil {
					t.Fatalf("address %q does not parse: %v", sa.Address, err)
				}
			}
		case afUnix:
			if len(sa.Address) > len(b) {
				t.Fatalf("unix address %q longer than its %d byte sockaddr", sa.Address, len(b))
			}
		}
	})
}

// dnsSeeds are queries and answers built the way resolvers build them,
// with name compression, plus hostile variants.
func dnsSeeds(t testing.TB) (queries, answers [][]byte) {
	name := dnsmessage.MustNewName("updates.example.com.")
	q := dnsmessage.Question{Name: name, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}
	bq := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 0x1234, RecursionDesired: true})
	bq.EnableCompression()
	bq.StartQuestions()
	bq.Question(q)
	query, err := bq.Finish()
	if err != nil {
		t.Fatal(err)
	}
	ba := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 0x1234, Response: true, RecursionAvailable: true})
	ba.EnableCompression()
	ba.StartQuestions()
	ba.Question(q)
	ba.StartAnswers()
	cname := dnsmessage.MustNewName("cdn.example.net.")
	rh := func(n dnsmessage.Name, typ dnsmessage.Type) dnsmessage.ResourceHeader {
		return dnsmessage.ResourceHeader{Name: n, Type: typ, Class: dnsmessage.ClassINET, TTL: 60}
	}
	ba.CNAMEResource(rh(name, dnsmessage.TypeCNAME), dnsmessage.CNAMEResource{CNAME: cname})
	ba.AResource(rh(cname, dnsmessage.TypeA), dnsmessage.AResource{A: [4]byte{93, 184, 216, 34}})
	ba.AAAAResource(rh(cname, dnsmessage.TypeAAAA), dnsmessage.AAAAResource{AAAA: [16]byte{0x26, 0x06, 15: 1}})
	answer, err := ba.Finish()
	if err != nil {
		t.Fatal(err)
	}
	tcp := binary.BigEndian.AppendUint16(nil, uint16(len(answer)))
	tcp = append(tcp, answer...)

	// A name whose compression pointer points at itself, and one that
	// points forward past the end.
	loop := append(bytes.Clone(answer[:12]), 0xc0, 12, 0, 1, 0, 1)
	past := append(bytes.Clone(answer[:12]), 0xc0, 0xff, 0, 1, 0, 1)
	// A question name that chains through 40 pointers (dnsmessage stops
	// at 10).
	chain := append(bytes.Clone(answer[:12]), 0xc0, 0, 0, 1, 0, 1)
	prev := len(chain)
	chain = append(chain, 1, 'a', 0)
	for i := 0; i < 40; i++ {
		p := len(chain)
		chain = append(chain, 1, 'b', 0xc0, byte(prev))
		prev = p
	}
	chain[13] = byte(prev)
	answers = [][]byte{answer, tcp, answer[:len(answer)-3], loop, past, chain}
	return [][]byte{query, append(binary.BigEndian.AppendUint16(nil, uint16(len(query))), query...), query[:len(query)-1]}, answers
}

func FuzzParseDNSQuery(f *testing.F) {
	qs, as := dnsSeeds(f)
	for _, b := range append(qs, as...) {
		f.Add(b)
	}
	long := []byte{0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0}
	for i := 0; i < 200; i++ {
		long = append(long, 1, 'x')
	}
	f.Add(append(long, 0, 0, 1))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, tcp := range []bool{false, true} {
			q, ok := parseDNSQuery(b, tcp)
			if !ok {
				continue
			}
			if q.Name == "" || len(q.Name) > len(b) {
				t.Fatalf("query name %q from %d bytes", q.Name, len(b))
			}
			if strings.ContainsAny(q.Name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") {
				t.Fatalf("query name %q not lower case", q.Name)
			}
		}
	})
}

func FuzzParseDNSAnswer(f *testing.F) {
	qs, as := dnsSeeds(f)
	for _, b := range append(as, qs...) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, tcp := range []bool{false, true} {
			a, ok := parseDNSAnswer(b, tcp)
			if !ok {
				continue
			}
			// A record takes at least 1 (root name) + 10 + 4 bytes.
			if len(a.Addrs) > len(b)/15 {
				t.Fatalf("%d addresses from %d bytes", len(a.Addrs), len(b))
			}
			for _, ad := range a.Addrs {
				ip, err := netip.ParseAddr(ad.Addr)
				if err != nil || (ad.QType != 1 && ad.QType != 28) || (ad.QType == 1) != ip.Is4() {
					t.Fatalf("address %+v (%v)", ad, err)
				}
			}
		}
	})
}

// The seeds answer as expected, so the fuzz targets start from real
// parses, not only from rejections.
func TestDNSSeedsParse(t *testing.T) {
	qs, as := dnsSeeds(t)
	if q, ok := parseDNSQuery(qs[0], false); !ok || q.Name != "updates.example.com" || q.QType != 1 {
		t.Errorf("query seed: %+v %v", q, ok)
	}
	if q, ok := parseDNSQuery(qs[1], true); !ok || q.Name != "updates.example.com" {
		t.Errorf("TCP query seed: %+v %v", q, ok)
	}
	for i, b := range as[:2] {
		a, ok := parseDNSAnswer(b, i == 1)
		if !ok || a.Name != "updates.example.com" || len(a.Addrs) != 2 || a.Addrs[0].Addr != "93.184.216.34" || a.Addrs[1].Addr != "2606::1" {
			t.Errorf("answer seed %d: %+v %v", i, a, ok)
		}
	}
	for i, b := range as[3:] {
		if a, ok := parseDNSAnswer(b, false); ok {
			t.Errorf("hostile answer %d parsed: %+v", i, a)
		}
	}
}

// FuzzResolvePath: paths the traced code passes and the kernel-walked bases.
func FuzzResolvePath(f *testing.F) {
	for _, c := range [][2]string{{"rel.txt", "/work"}, {"/etc/../etc/passwd", ""}, {"../../..", "/a"}, {"", "/proc/1/fd"}, {"x\x00y", "/"}, {"a//b/./c", ""}} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, p, base string) {
		r, state := resolvePath(p, base)
		if strings.HasPrefix(p, "/") || (p != "" && strings.HasPrefix(base, "/")) {
			if !strings.HasPrefix(r, "/") || strings.Contains(r, "//") {
				t.Fatalf("resolvePath(%q, %q) = %q, not an absolute path", p, base, r)
			}
		}
		// '..' is never cleaned away (the component before it may be a
		// symlink): a path that keeps one must say it is unresolved
		dotdot := strings.Contains(r, "/../") || strings.HasSuffix(r, "/..") || strings.HasPrefix(r, "../") || r == ".."
		if dotdot && state != store.PathUnresolved {
			t.Fatalf("resolvePath(%q, %q) = %q with state %v: a '..' path must be unresolved", p, base, r, state)
		}
	})
}

// FuzzUnmarshalSpec: the run spec stored with every run (and read back by
// replay and diff).
func FuzzUnmarshalSpec(f *testing.F) {
	good, _ := MarshalSpec(Spec{Version: SpecVersion, Name: "build", Args: []string{"sh", "-c", "make"}, Workspace: "/w",
		Env: []string{"A=1", "TOKEN=" + RedactedValue}, Timeout: Duration(DefaultTimeout), Stdin: []byte("in")})
	f.Add(good)
	f.Add([]byte(`{"version":99}`))
	f.Add([]byte(`{"version":1,"timeout":"-5h"}`))
	f.Add([]byte(`{"args":null,"stdin":"!!"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := UnmarshalSpec(b)
		if err != nil {
			return
		}
		if s.Version > SpecVersion {
			t.Fatalf("accepted version %d", s.Version)
		}
		again, err := MarshalSpec(s)
		if err != nil {
			t.Fatalf("re-marshal: %v", err)
		}
		if _, err := UnmarshalSpec(again); err != nil {
			t.Fatalf("round trip of %s: %v", again, err)
		}
		_ = s.Redacted()
		_, _ = s.Unredact(func(string) (string, bool) { return "v", true })
		var anyJSON any
		_ = json.Unmarshal(again, &anyJSON)
	})
}
