package recorder

import (
	"encoding/binary"
	"math/rand/v2"
	"net"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/behavediff/behavediff/bpf"
	"github.com/behavediff/behavediff/store"
)

// malformedQueries returns n payloads a program might send to port 53
// that are certainly not DNS queries: random bytes with the response bit
// set, short headers, self-pointing and over-long names, counts of zero.
func malformedQueries(n int) [][]byte {
	r := rand.New(rand.NewPCG(16, 53))
	hdr := func(id int, flags, qd uint16) []byte {
		b := make([]byte, 12)
		binary.BigEndian.PutUint16(b, uint16(id))
		binary.BigEndian.PutUint16(b[2:], flags)
		binary.BigEndian.PutUint16(b[4:], qd)
		return b
	}
	out := make([][]byte, n)
	for i := range out {
		switch i % 6 {
		case 0: // random bytes, response bit set
			b := make([]byte, 12+r.IntN(500))
			for j := range b {
				b[j] = byte(r.Uint32())
			}
			b[2] |= 0x80
			out[i] = b
		case 1: // a question name that points at itself
			out[i] = append(hdr(i, 0x0100, 1), 0xc0, 12, 0, 1, 0, 1)
		case 2: // a label running past the end
			out[i] = append(hdr(i, 0x0100, 1), 63, 'x', 'x')
		case 3: // a name with no terminator and no type
			b := hdr(i, 0x0100, 1)
			for len(b) < 500 {
				b = append(b, 1, 'a')
			}
			out[i] = b
		case 4: // shorter than a header
			out[i] = make([]byte, r.IntN(12))
		case 5: // no question
			out[i] = append(hdr(i, 0x0100, 0), 0, 0, 1, 0, 1)
		}
	}
	return out
}

// malformedAnswer is a reply a hostile DNS server might send that is
// certainly not a usable DNS response: looping and over-long compression
// chains, no question, the query bit, short or random bytes.
func malformedAnswer(r *rand.Rand, i int, id uint16) []byte {
	hdr := func(flags, qd, an uint16) []byte {
		b := make([]byte, 12)
		binary.BigEndian.PutUint16(b, id)
		binary.BigEndian.PutUint16(b[2:], flags)
		binary.BigEndian.PutUint16(b[4:], qd)
		binary.BigEndian.PutUint16(b[6:], an)
		return b
	}
	switch i % 6 {
	case 0: // question name pointing at itself
		return append(hdr(0x8180, 1, 1), 0xc0, 12, 0, 1, 0, 1)
	case 1: // two pointers pointing at each other
		return append(hdr(0x8180, 1, 1), 0xc0, 14, 0xc0, 12, 0, 1, 0, 1)
	case 2: // the question is a chain of 40 pointers, each to the previous label
		b := append(hdr(0x8180, 1, 1), 0xc0, 0, 0, 1, 0, 1) // pointer patched below
		prev := len(b)
		b = append(b, 1, 'a', 0)
		for k := 0; k < 40; k++ {
			p := len(b)
			b = append(b, 1, 'b', 0xc0, byte(prev))
			prev = p
		}
		b[13] = byte(prev)
		return b
	case 3: // response without a question
		return append(hdr(0x8180, 0, 1), 0, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 66)
	case 4: // random bytes with the query bit (not a response)
		b := make([]byte, 12+r.IntN(400))
		for j := range b {
			b[j] = byte(r.Uint32())
		}
		b[2] &^= 0x80
		return b
	default: // shorter than a header
		return make([]byte, r.IntN(12))
	}
}

// hostileDNS answers each packet on addr:53 with malformedAnswer, except a
// query for valid.example, which gets a real answer.
func hostileDNS(t *testing.T, addr string, answered *atomic.Int64) {
	t.Helper()
	pc, err := net.ListenPacket("udp4", net.JoinHostPort(addr, "53"))
	if err != nil {
		t.Fatalf("hostile DNS server on %s:53: %v", addr, err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { pc.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		r := rand.New(rand.NewPCG(53, 16))
		buf := make([]byte, 2048)
		for i := 0; ; i++ {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var id uint16
			if n >= 2 {
				id = binary.BigEndian.Uint16(buf)
			}
			if q, ok := parseDNSQuery(buf[:n], false); ok && q.Name == "valid.example" {
				var p dnsmessage.Parser
				p.Start(buf[:n])
				qq, _ := p.Question()
				b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: id, Response: true})
				b.StartQuestions()
				b.Question(qq)
				b.StartAnswers()
				b.AResource(dnsmessage.ResourceHeader{Name: qq.Name, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: [4]byte{127, 0, 0, 77}})
				msg, _ := b.Finish()
				pc.WriteTo(msg, from)
				continue
			}
			msg := malformedAnswer(r, i, id)
			pc.WriteTo(msg, from)
			if len(msg) > 0 { // an empty datagram carries nothing to parse
				answered.Add(1)
			}
		}
	}()
}

// The sender of the malformed packets: reads them (length-prefixed) from a
// file, sends each to the server and reads the reply, then looks up
// valid.example properly.
const malformedDNSScript = `
import socket, struct, sys
server, path = sys.argv[1], sys.argv[2]
data = open(path, "rb").read()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
i = sent = got = 0
while i < len(data):
    (n,) = struct.unpack(">H", data[i:i+2])
    s.sendto(data[i+2:i+2+n], (server, 53))
    sent += 1
    i += 2 + n
    try:
        s.recvfrom(4096)
        got += 1
    except socket.timeout:
        pass
q = struct.pack(">HHHHHH", 7, 0x0100, 1, 0, 0, 0) + b"\x05valid\x07example\x00\x00\x01\x00\x01"
s.sendto(q, (server, 53))
s.recvfrom(512)
print("sent", sent, "replies", got)
`

// A run whose code sends thousands of malformed DNS queries to port 53
// and receives as many malformed answers (looping and long compression
// chains, no question, random bytes) is recorded with status ok, every
// malformed packet counted in malformed_inputs, the valid lookup recorded,
// and the recorder's heap bounded.
func TestRecordMalformedDNS(t *testing.T) {
	requireRoot(t)
	const server = "127.83.0.2"
	const n = 3000
	var answered atomic.Int64
	hostileDNS(t, server, &answered)

	ws := t.TempDir()
	var file []byte
	nonEmpty := int64(0) // an empty datagram carries nothing to parse
	for _, q := range malformedQueries(n) {
		if len(q) > 0 {
			nonEmpty++
		}
		file = binary.BigEndian.AppendUint16(file, uint16(len(q)))
		file = append(file, q...)
	}
	writeFile(t, filepath.Join(ws, "packets"), string(file))
	writeFile(t, filepath.Join(ws, "send.py"), malformedDNSScript)

	// Sample the heap while recording: it must not grow with the packets.
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	r := record(t, ws, Spec{Args: []string{"/usr/bin/python3", "send.py", server, "packets"}, Network: true}, nil)
	close(stop)
	<-sampled

	if r.res.ExitCode != 0 || r.res.Status != store.StatusOK {
		t.Fatalf("exit %d status %s\nstdout %s\nstderr %s", r.res.ExitCode, r.res.Status, r.stdout, r.stderr)
	}
	t.Logf("%s; server sent %d malformed answers; malformed counted %v; heap in use %d MiB before, peak %d MiB",
		r.stdout, answered.Load(), r.trace.Run.Malformed, before.HeapInuse>>20, peak.Load()>>20)
	if got := r.trace.Run.Malformed[store.MalformedDNSQuery]; got != nonEmpty || nonEmpty < n*9/10 {
		t.Errorf("malformed DNS queries counted %d, sent %d non-empty (of %d)", got, nonEmpty, n)
	}
	if got, want := r.trace.Run.Malformed[store.MalformedDNSAnswer], answered.Load(); got != want || want < n*9/10 {
		t.Errorf("malformed DNS answers counted %d, server sent %d (of %d)", got, want, n)
	}
	if r.res.Malformed[store.MalformedDNSQuery] != nonEmpty {
		t.Errorf("Result.Malformed = %v", r.res.Malformed)
	}
	var valid, answers, sends int
	for _, e := range r.trace.Net {
		switch {
		case e.Op == store.NetDNS && e.Domain == "valid.example":
			valid++
		case e.Op == store.NetDNSAnswer:
			answers++
			if e.Domain != "valid.example" || e.Address != "127.0.0.77" {
				t.Errorf("answer row from a malformed packet: %+v", e)
			}
		case e.Op == store.NetDNS:
			t.Errorf("query row from a malformed packet: %+v", e)
		case e.Op == store.NetSend:
			sends++
		}
	}
	if valid != 1 || answers != 1 || sends != 1 {
		t.Errorf("valid query rows %d, answer rows %d, send rows %d; want 1 each", valid, answers, sends)
	}
	if grow := int64(peak.Load()) - int64(before.HeapInuse); grow > 128<<20 {
		t.Errorf("recorder heap grew by %d MiB for %d malformed packets", grow>>20, 2*n)
	}
}

// The tracker counts malformed DNS payloads by kind and still records a
// malformed query's destination as a send.
func TestTrackerCountsMalformedDNS(t *testing.T) {
	s := &fakeSink{}
	tr := newTracker(s, 0)
	tr.handle(&bpf.Event{Kind: bpf.KindExec, Pid: 10, Tid: 10, Filename: "/x", Argv: []string{"x"}, TS: 1000})
	addr := []byte{2, 0, 0, 53, 127, 0, 0, 1}
	bad := [][]byte{{1, 2, 3}, append(make([]byte, 12), 0xc0, 12)}
	for _, p := range bad {
		p := p
		if err := tr.handle(sys(t, 10, "sendto", int64(len(p)), func(e *bpf.Event) { e.Addr, e.Payload, e.SockType = addr, p, 2 })); err != nil {
			t.Fatal(err)
		}
		if err := tr.handle(sys(t, 10, "recvfrom", int64(len(p)), func(e *bpf.Event) { e.Addr, e.Payload, e.SockType = addr, p, 2 })); err != nil {
			t.Fatal(err)
		}
	}
	// An empty read from port 53 carries no payload: nothing to count.
	tr.handle(sys(t, 10, "read", 0, nil))
	if tr.malformed[store.MalformedDNSQuery] != 2 || tr.malformed[store.MalformedDNSAnswer] != 2 {
		t.Errorf("malformed = %v, want 2 queries and 2 answers", tr.malformed)
	}
	if len(s.net) != 1 || s.net[0].Op != store.NetSend || s.net[0].Address != "127.0.0.1" {
		t.Errorf("net rows %+v, want one send to 127.0.0.1:53", s.net)
	}
}
