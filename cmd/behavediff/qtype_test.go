package main

import "testing"

// Query types print the way dig prints them, also for the types that were
// spelled out by hand before dnsmessage named them.
func TestQtypeName(t *testing.T) {
	for n, want := range map[uint16]string{1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT",
		28: "AAAA", 33: "SRV", 64: "SVCB", 65: "HTTPS", 255: "ANY", 99: "TYPE99"} {
		if got := qtypeName(n); got != want {
			t.Errorf("qtypeName(%d) = %q, want %q", n, got, want)
		}
	}
}
