package recorder

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/behavediff/behavediff/internal/linux"
)

func inet4(ip [4]byte, port uint16) []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint16(b, linux.AF_INET)
	binary.BigEndian.PutUint16(b[2:], port)
	copy(b[4:], ip[:])
	return b
}

func TestParseSockaddr(t *testing.T) {
	v6 := make([]byte, 28)
	binary.LittleEndian.PutUint16(v6, linux.AF_INET6)
	binary.BigEndian.PutUint16(v6[2:], 8443)
	v6[8+15] = 1 // ::1
	mapped := make([]byte, 28)
	binary.LittleEndian.PutUint16(mapped, linux.AF_INET6)
	binary.BigEndian.PutUint16(mapped[2:], 80)
	copy(mapped[8:], []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 5})
	unixPath := append([]byte{linux.AF_UNIX, 0}, []byte("/run/x.sock\x00junk")...)
	abstract := append([]byte{linux.AF_UNIX, 0, 0}, []byte("hidden")...)

	tests := []struct {
		name string
		in   []byte
		want sockaddr
	}{
		{"inet", inet4([4]byte{203, 0, 113, 5}, 443), sockaddr{linux.AF_INET, "203.0.113.5", 443}},
		{"inet6", v6, sockaddr{linux.AF_INET6, "::1", 8443}},
		{"v4-mapped", mapped, sockaddr{linux.AF_INET6, "203.0.113.5", 80}},
		{"unix", unixPath, sockaddr{linux.AF_UNIX, "/run/x.sock", 0}},
		{"abstract", abstract, sockaddr{linux.AF_UNIX, "@hidden", 0}},
		{"short", []byte{2}, sockaddr{}},
		{"truncated inet", []byte{2, 0, 1}, sockaddr{Family: linux.AF_INET}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if d := cmp.Diff(tt.want, parseSockaddr(tt.in)); d != "" {
				t.Errorf("parseSockaddr mismatch (-want +got):\n%s", d)
			}
		})
	}
}

// dnsMsg builds a query the way a stub resolver sends it.
func dnsMsg(name string, qtype uint16, response bool) []byte {
	b := []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}
	if response {
		b[2] |= 0x80
	}
	start := 0
	for i := 0; i <= len(name); i++ {
		if i == len(name) || name[i] == '.' {
			b = append(b, byte(i-start))
			b = append(b, name[start:i]...)
			start = i + 1
		}
	}
	b = append(b, 0, byte(qtype>>8), byte(qtype), 0, 1)
	return b
}

func TestParseDNSQuery(t *testing.T) {
	q, ok := parseDNSQuery(dnsMsg("Updates.Example.com", 28, false), false)
	if !ok || q != (dnsQuery{"updates.example.com", 28}) {
		t.Fatalf("got %+v ok=%v", q, ok)
	}
	tcp := append([]byte{0, 40}, dnsMsg("a.example", 1, false)...)
	if q, ok := parseDNSQuery(tcp, true); !ok || q.Name != "a.example" || q.QType != 1 {
		t.Fatalf("tcp: got %+v ok=%v", q, ok)
	}
	if _, ok := parseDNSQuery(dnsMsg("x.example", 1, true), false); ok {
		t.Error("a response was parsed as a query")
	}
	if _, ok := parseDNSQuery([]byte("GET / HTTP/1.1\r\n"), false); ok {
		t.Error("HTTP text was parsed as a DNS query")
	}
	trunc := dnsMsg("long.example.com", 1, false)
	if _, ok := parseDNSQuery(trunc[:20], false); ok {
		t.Error("truncated query accepted")
	}
}

// dnsResponse builds a response to a question for name with the given
// records (A for 4-byte addresses, AAAA for 16), after a CNAME.
func dnsResponse(t *testing.T, name string, addrs ...netip.Addr) []byte {
	t.Helper()
	b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: 7, Response: true})
	b.EnableCompression()
	qn := dnsmessage.MustNewName(name + ".")
	cn := dnsmessage.MustNewName("edge.cdn.example.")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(b.StartQuestions())
	must(b.Question(dnsmessage.Question{Name: qn, Type: dnsmessage.TypeA, Class: dnsmessage.ClassINET}))
	must(b.StartAnswers())
	must(b.CNAMEResource(dnsmessage.ResourceHeader{Name: qn, Class: dnsmessage.ClassINET}, dnsmessage.CNAMEResource{CNAME: cn}))
	for _, a := range addrs {
		h := dnsmessage.ResourceHeader{Name: cn, Class: dnsmessage.ClassINET}
		if a.Is4() {
			must(b.AResource(h, dnsmessage.AResource{A: a.As4()}))
		} else {
			must(b.AAAAResource(h, dnsmessage.AAAAResource{AAAA: a.As16()}))
		}
	}
	msg, err := b.Finish()
	must(err)
	return msg
}

func TestParseDNSAnswer(t *testing.T) {
	msg := dnsResponse(t, "Pkg.Example.com", netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::5"))
	got, ok := parseDNSAnswer(msg, false)
	want := dnsAnswer{Name: "pkg.example.com", Addrs: []dnsAddr{{"192.0.2.10", 1}, {"2001:db8::5", 28}}}
	if !ok || !cmp.Equal(got, want) {
		t.Fatalf("got %+v ok=%v, want %+v", got, ok, want)
	}
	tcp := append([]byte{0, byte(len(msg))}, msg...)
	if got, ok := parseDNSAnswer(tcp, true); !ok || !cmp.Equal(got, want) {
		t.Errorf("tcp: got %+v ok=%v", got, ok)
	}
	if got, ok := parseDNSAnswer(msg, true); !ok || !cmp.Equal(got, want) {
		t.Errorf("tcp, length read separately: got %+v ok=%v", got, ok)
	}
	// Cut inside the last record (the sensor copies at most 512 bytes): the
	// records before it are kept.
	if got, ok := parseDNSAnswer(msg[:len(msg)-4], false); !ok || !cmp.Equal(got.Addrs, want.Addrs[:1]) {
		t.Errorf("truncated: got %+v ok=%v", got, ok)
	}
	if _, ok := parseDNSAnswer(dnsMsg("x.example", 1, false), false); ok {
		t.Error("a query was parsed as an answer")
	}
	if _, ok := parseDNSAnswer([]byte("HTTP/1.1 200 OK\r\n\r\n"), false); ok {
		t.Error("HTTP text was parsed as a DNS answer")
	}
}
