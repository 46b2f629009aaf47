package bpf

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
)

// sysRecord builds a syscall record the way the kernel lays it out: the
// head, then the given fields in order.
func sysRecord(nr int32, flags uint8, fields map[sensorSysField]string) []byte {
	var x sensorSysEvent
	x.H.Kind = uint8(KindSyscall)
	x.H.Flags = flags
	x.H.Pid, x.H.Tid = 10, 10
	x.Nr = nr
	off := int(unsafe.Sizeof(x))
	var tail []byte
	for f := sensorSysFieldSF_STR0; f <= sensorSysFieldSF_PAYLOAD; f++ {
		s, ok := fields[f]
		if !ok {
			continue
		}
		x.Offs[f], x.Lens[f] = uint16(off), uint16(len(s))
		off += len(s)
		tail = append(tail, s...)
	}
	return append(bytes.Clone(unsafe.Slice((*byte)(unsafe.Pointer(&x)), unsafe.Sizeof(x))), tail...)
}

// The cache may only ever hand back a string equal to the bytes decoded:
// a path changed by one byte, by length, or by a racing writer after it was
// cached, and every path sharing its slot, decodes as itself. Flags are the
// record's own, never the cached record's.
func TestStrCacheNeverReturnsAnEarlierPath(t *testing.T) {
	c := newStrCache()
	raw := sysRecord(257, 0, map[sensorSysField]string{sensorSysFieldSF_STR0: "/etc/hostname", sensorSysFieldSF_RESOLVED: "/etc/hostname"})
	var ev Event
	if err := decodeInto(raw, &ev, c); err != nil {
		t.Fatal(err)
	}
	first := ev.Str[0]
	// the same record again: the same string, shared
	if err := decodeInto(raw, &ev, c); err != nil {
		t.Fatal(err)
	}
	if ev.Str[0] != "/etc/hostname" || unsafe.StringData(ev.Str[0]) != unsafe.StringData(first) {
		t.Errorf("a repeated path was not reused: %q", ev.Str[0])
	}
	// the ring buffer slot rewritten in place (a later record, or the
	// racing thread's bytes): the new bytes, never the cached string
	for i := bytes.Index(raw, []byte("/etc/hostname")); i >= 0; i = bytes.Index(raw, []byte("/etc/hostname")) {
		copy(raw[i:], "/etc/shadowxx")
	}
	raced := sysRecord(257, uint8(sensorHdrFlagsFLAG_RACED), map[sensorSysField]string{sensorSysFieldSF_STR0: "/etc/hostnamf", sensorSysFieldSF_RESOLVED: "/etc/hostname"})
	if err := decodeInto(raw, &ev, c); err != nil {
		t.Fatal(err)
	}
	if ev.Str[0] != "/etc/shadowxx" || ev.Resolved != "/etc/shadowxx" || ev.Raced {
		t.Errorf("rewritten record decoded as %q / %q raced=%v", ev.Str[0], ev.Resolved, ev.Raced)
	}
	if err := decodeInto(raced, &ev, c); err != nil {
		t.Fatal(err)
	}
	if ev.Str[0] != "/etc/hostnamf" || ev.Resolved != "/etc/hostname" || !ev.Raced {
		t.Errorf("raced record decoded as %q / %q raced=%v", ev.Str[0], ev.Resolved, ev.Raced)
	}
	// a prefix, an extension and the empty string
	for _, p := range []string{"/etc/hostnam", "/etc/hostname/", "/etc/hostname\x00", ""} {
		if err := decodeInto(sysRecord(257, 0, map[sensorSysField]string{sensorSysFieldSF_STR0: p}), &ev, c); err != nil {
			t.Fatal(err)
		}
		if ev.Str[0] != p || ev.Resolved != "" || ev.Raced {
			t.Errorf("%q decoded as %q (resolved %q, raced %v)", p, ev.Str[0], ev.Resolved, ev.Raced)
		}
	}
	// far more distinct paths than slots (every slot collides many times),
	// then each again: always itself, and the cache does not grow
	paths := make([]string, 8*strCacheSlots)
	for i := range paths {
		paths[i] = fmt.Sprintf("/w/%d/%s", i, strings.Repeat("x", i%40))
	}
	for round := 0; round < 2; round++ {
		for _, p := range paths {
			if got := c.str([]byte(p)); got != p {
				t.Fatalf("round %d: %q came back as %q", round, p, got)
			}
		}
	}
	if got := len(c.slots); got != strCacheSlots {
		t.Errorf("cache has %d slots", got)
	}
	// too long to cache: still itself
	long := strings.Repeat("/a", strCacheMaxLen)
	if got := c.str([]byte(long)); got != long {
		t.Errorf("long path changed")
	}
	var nilCache *strCache
	if got := nilCache.str([]byte("/x")); got != "/x" {
		t.Errorf("nil cache: %q", got)
	}
}

// A decoded event never aliases the record, cached or not: the ring
// buffer slot is reused after Read.
func TestDecodeIntoCopies(t *testing.T) {
	c := newStrCache()
	raw := sysRecord(42, 0, map[sensorSysField]string{
		sensorSysFieldSF_STR0: "rel", sensorSysFieldSF_BASE0: "/w", sensorSysFieldSF_RESOLVED: "/w/rel",
		sensorSysFieldSF_ADDR: "\x02\x00\x00\x35\x7f\x00\x00\x01",
	})
	var ev Event
	if err := decodeInto(raw, &ev, c); err != nil {
		t.Fatal(err)
	}
	want := ev
	want.Addr = bytes.Clone(ev.Addr)
	for i := range raw {
		raw[i] ^= 0xff
	}
	if ev.Str != want.Str || ev.Base != want.Base || ev.Resolved != "/w/rel" || !bytes.Equal(ev.Addr, want.Addr) {
		t.Errorf("event changed with the record: %+v", ev)
	}
	// and a reused Event keeps nothing of its previous record
	ev.Argv, ev.Sock, ev.Interpreted = []string{"stale"}, &SockAddr{}, true
	var f sensorForkEvent
	f.H.Kind, f.Child = uint8(KindFork), 77
	if err := decodeInto(unsafe.Slice((*byte)(unsafe.Pointer(&f)), unsafe.Sizeof(f)), &ev, c); err != nil {
		t.Fatal(err)
	}
	if ev.Kind != KindFork || ev.Child != 77 || ev.Argv != nil || ev.Sock != nil || ev.Interpreted || ev.Str[0] != "" || ev.Addr != nil {
		t.Errorf("reused event kept fields of the previous record: %+v", ev)
	}
}

// BenchmarkDecodeOpen decodes the flood's record (openat of one path, the
// kernel's path of the fd) into a reused Event with the string cache, next
// to decode's new Event with strings made afresh: the ratio and the
// allocations per record are the figures. (The tree before the cache made
// 2 allocations per record here, and Read copied the Event twice more.)
func BenchmarkDecodeOpen(b *testing.B) {
	raw := sysRecord(257, 0, map[sensorSysField]string{sensorSysFieldSF_STR0: "/etc/hostname", sensorSysFieldSF_RESOLVED: "/etc/hostname"})
	var sink Event
	b.Run("fresh", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ev, err := decode(raw)
			if err != nil {
				b.Fatal(err)
			}
			sink = ev
		}
	})
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		c := newStrCache()
		for b.Loop() {
			if err := decodeInto(raw, &sink, c); err != nil {
				b.Fatal(err)
			}
		}
	})
	_ = sink
}

// FuzzDecodeCached: any record decodes through the cache (warmed by the
// records before it) into a reused Event exactly as decode makes it afresh,
// and never aliases the record. Seeds: FuzzDecode's corpus.
func FuzzDecodeCached(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/fuzz/FuzzDecode/*")
	for _, p := range seeds {
		if raw, ok := readSeed(p); ok {
			f.Add(raw)
		}
	}
	f.Add(sysRecord(257, 0, map[sensorSysField]string{sensorSysFieldSF_STR0: "/etc/hostname", sensorSysFieldSF_RESOLVED: "/etc/hostname"}))
	c := newStrCache()
	var reused Event
	f.Fuzz(func(t *testing.T, raw []byte) {
		want, wantErr := decode(bytes.Clone(raw))
		for range 2 {
			err := decodeInto(raw, &reused, c)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("cached decode error %v, fresh %v", err, wantErr)
			}
			if err != nil {
				return
			}
			if d := cmp.Diff(want, reused); d != "" {
				t.Fatalf("cached decode differs from fresh (-fresh +cached):\n%s", d)
			}
		}
		for i := range raw {
			raw[i] ^= 0xff
		}
		if d := cmp.Diff(want, reused); d != "" {
			t.Fatalf("cached event aliases the record (-before +after):\n%s", d)
		}
	})
}

// readSeed reads a one-argument ([]byte) corpus file.
func readSeed(path string) ([]byte, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, false
	}
	_, body, ok := strings.Cut(string(b), "[]byte(")
	if !ok {
		return nil, false
	}
	s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimSpace(body), ")"))
	if err != nil {
		return nil, false
	}
	return []byte(s), true
}
