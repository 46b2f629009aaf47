package egress

import (
	"bufio"
	"encoding/binary"
)

// maxRecord is the largest TLS record (2^14 bytes) plus its header; the
// client reader is this big so a whole first record can be peeked.
const maxRecord = 5 + 16384

// peekSNI reads the server name of a TLS ClientHello at the start of br
// without consuming it. ok is false only when the client speaks TLS but its
// ClientHello cannot be read from the first record (malformed, or split
// across records — legal, but also a way to hide the name): the caller then
// refuses, so the name check cannot be dodged. Not TLS, or nothing sent in
// time, is ("", true).
func peekSNI(br *bufio.Reader) (sni string, ok bool) {
	h, err := br.Peek(5)
	if err != nil || h[0] != 0x16 || h[1] != 3 {
		return "", true
	}
	n := int(binary.BigEndian.Uint16(h[3:5]))
	if 5+n > br.Size() {
		return "", false
	}
	rec, err := br.Peek(5 + n)
	if err != nil {
		return "", false
	}
	return parseClientHelloSNI(rec[5:])
}

// parseClientHelloSNI reads the server_name extension of a handshake
// message that is a ClientHello: ("", true) when it has none, ok=false when
// it is malformed or truncated.
func parseClientHelloSNI(b []byte) (string, bool) {
	rd := reader{b: b}
	if rd.u8() != 1 { // ClientHello
		return "", false
	}
	body := reader{b: rd.bytes(int(rd.u24()))}
	body.skip(2 + 32)          // version, random
	body.skip(int(body.u8()))  // session id
	body.skip(int(body.u16())) // cipher suites
	body.skip(int(body.u8()))  // compression methods
	exts := reader{b: body.bytes(int(body.u16()))}
	for !exts.bad && len(exts.b) >= 4 {
		typ := exts.u16()
		ext := reader{b: exts.bytes(int(exts.u16()))}
		if typ != 0 { // server_name
			continue
		}
		list := reader{b: ext.bytes(int(ext.u16()))}
		for !list.bad && len(list.b) >= 3 {
			kind := list.u8()
			name := list.bytes(int(list.u16()))
			if kind == 0 && !list.bad {
				return string(name), true
			}
		}
		return "", false
	}
	if body.bad || exts.bad || len(exts.b) != 0 {
		return "", false
	}
	return "", true
}

// reader is a bounds-checked cursor: a short read sets bad and yields zeros.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) bytes(n int) []byte {
	if r.bad || n < 0 || n > len(r.b) {
		r.bad, r.b = true, nil
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) skip(n int) { r.bytes(n) }

func (r *reader) u8() uint8 {
	if v := r.bytes(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if v := r.bytes(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (r *reader) u24() uint32 {
	if v := r.bytes(3); v != nil {
		return uint32(v[0])<<16 | uint32(v[1])<<8 | uint32(v[2])
	}
	return 0
}
