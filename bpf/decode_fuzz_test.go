package bpf

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// FuzzDecode feeds any byte sequence of any length to the record decoder:
// it must return an event or an error, never panic, and a decoded event
// must lie within the record and never alias it (the ring buffer slot is
// reused after Read returns). Seeds: records captured from the real sensor
// (testdata/fuzz/FuzzDecode, see TestCaptureFuzzSeeds) and hand-built ones.
func FuzzDecode(f *testing.F) {
	var x sensorSysEvent
	x.H.Kind = uint8(KindSyscall)
	hdr := int(unsafe.Sizeof(x))
	x.Offs[sensorSysFieldSF_STR0], x.Lens[sensorSysFieldSF_STR0] = uint16(hdr), 4
	x.Offs[sensorSysFieldSF_ADDR], x.Lens[sensorSysFieldSF_ADDR] = uint16(hdr+4), 2
	x.Offs[sensorSysFieldSF_PAYLOAD], x.Lens[sensorSysFieldSF_PAYLOAD] = 0xfff0, 0xffff // points past the end
	sys := append(unsafe.Slice((*byte)(unsafe.Pointer(&x)), hdr), "/etc\x02\x00"...)
	f.Add(sys)
	var e sensorExecEvent
	e.H.Kind = uint8(KindExec)
	e.Lens[sensorExecFieldEXEC_FILENAME], e.Lens[sensorExecFieldEXEC_ARGV] = 7, 6
	f.Add(append(unsafe.Slice((*byte)(unsafe.Pointer(&e)), unsafe.Sizeof(e)), "/bin/sha\x00b\x00c\x00"...))
	f.Add([]byte{})
	f.Add([]byte{byte(KindFork)})
	f.Add(bytes.Repeat([]byte{0xff}, 600))

	f.Fuzz(func(t *testing.T, raw []byte) {
		in := bytes.Clone(raw)
		ev, err := decode(raw)
		_ = ev.Kind.String()
		if err != nil {
			return
		}
		n := len(ev.Filename) + len(ev.Cwd) + len(ev.Resolved) + len(ev.Addr) + len(ev.Payload)
		for _, s := range ev.Str {
			n += len(s)
		}
		for _, s := range ev.Base {
			n += len(s)
		}
		for _, a := range ev.Argv {
			n += len(a)
		}
		if ev.Kind != KindSyscall && n > len(raw) {
			t.Fatalf("decoded %d bytes of fields from a %d byte record", n, len(raw))
		}
		// The decoder must copy: overwrite the record and compare.
		addr, payload := bytes.Clone(ev.Addr), bytes.Clone(ev.Payload)
		for i := range raw {
			raw[i] ^= 0xff
		}
		if !bytes.Equal(addr, ev.Addr) || !bytes.Equal(payload, ev.Payload) {
			t.Fatalf("decoded event aliases the record buffer")
		}
		copy(raw, in)
	})
}

// TestCaptureFuzzSeeds records a real workload (exec, fork, exit, file,
// socket and DNS syscalls) with the sensor and writes its raw records, and
// the sockaddrs and DNS payloads inside them, as seed corpora:
// bpf/testdata/fuzz/FuzzDecode, recorder/testdata/fuzz/FuzzParseSockaddr
// and recorder/testdata/fuzz/FuzzParseDNSQuery. It runs only when asked
// (BEHAVEDIFF_CAPTURE_SEEDS=1, as root), because the committed seeds are
// its output.
func TestCaptureFuzzSeeds(t *testing.T) {
	if os.Getenv("BEHAVEDIFF_CAPTURE_SEEDS") != "1" {
		t.Skip("set BEHAVEDIFF_CAPTURE_SEEDS=1 to rewrite the seed corpora from a real recording")
	}
	requireRoot(t)
	cg := newCgroup(t, "seeds")
	s := load(t, Config{CgroupID: cg.id})
	type rec struct {
		raw []byte
		ev  Event
	}
	recs := make(chan rec, 1<<16)
	done := make(chan error, 1)
	go func() {
		for {
			ev, err := s.Read()
			if err != nil {
				if errors.Is(err, ErrDrained) {
					err = nil
				}
				close(recs)
				done <- err
				return
			}
			recs <- rec{bytes.Clone(s.rec.RawSample), ev}
		}
	}()

	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	port := closedPort(t)
	script := fmt.Sprintf(`cd %s && /bin/echo an "arg with spaces" >/dev/null && echo hi > rel.txt && cat missing 2>/dev/null; ln -s rel.txt l; rm -f l rel.txt; `+
		`python3 -c 'import socket; s=socket.socket(socket.AF_UNIX); s.connect_ex("/run/nonexistent.sock"); s6=socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s6.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x03org\x00\x00\x1c\x00\x01", ("::1", 53))' 2>/dev/null; `+
		`exec %s %d %s`, dir, self, port, dir)
	cmd := cg.command("/bin/sh", "-c", script)
	cmd.Env = append(os.Environ(), "BEHAVEDIFF_SENSOR_HELPER=net")
	cmd.Run() // the helper exits 7 on purpose
	time.Sleep(100 * time.Millisecond)
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}

	seen := map[string]bool{}
	var nRaw, nAddr, nDNS int
	for r := range recs {
		key := fmt.Sprint(r.ev.Kind, r.ev.Nr, len(r.ev.Addr) > 0, len(r.ev.Payload) > 0)
		if !seen[key] {
			seen[key] = true
			writeSeed(t, "testdata/fuzz/FuzzDecode", r.raw)
			nRaw++
		}
		if len(r.ev.Addr) > 0 && !seen["addr"+string(r.ev.Addr)] {
			seen["addr"+string(r.ev.Addr)] = true
			writeSeed(t, "../recorder/testdata/fuzz/FuzzParseSockaddr", r.ev.Addr)
			nAddr++
		}
		if len(r.ev.Payload) > 0 && !seen["dns"+string(r.ev.Payload)] {
			seen["dns"+string(r.ev.Payload)] = true
			writeSeed(t, "../recorder/testdata/fuzz/FuzzParseDNSQuery", r.ev.Payload)
			nDNS++
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %d records, %d sockaddrs, %d DNS payloads", nRaw, nAddr, nDNS)
	if nRaw < 5 || nAddr == 0 || nDNS == 0 {
		t.Errorf("workload produced too few seeds: %d records, %d sockaddrs, %d DNS payloads", nRaw, nAddr, nDNS)
	}
}

// writeSeed writes b as a one-argument ([]byte) corpus file named by its
// content hash.
func writeSeed(t *testing.T, dir string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	body := "go test fuzz v1\n[]byte(" + strings.ReplaceAll(fmt.Sprintf("%q", b), "\n", `\n`) + ")\n"
	if err := os.WriteFile(filepath.Join(dir, "real-"+hex.EncodeToString(h[:8])), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
