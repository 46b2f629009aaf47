package bpf

import "hash/maphash"

// strCache turns record bytes into strings, handing back the string it made
// last time for the same bytes: a traced program names the same few paths
// over and over (a loop opening one file, every process mapping the same
// libraries), and without it decode allocated every path of every record
// afresh, which made the recorder's garbage collector run against the
// program it watches.
//
// It is direct-mapped: a slot per hash, overwritten on a collision, so it
// never grows (at most strCacheSlots strings of at most strCacheMaxLen bytes
// are kept alive) and a flood of distinct paths costs only what decoding did
// before. A string is reused only when it is byte for byte equal to the
// record's bytes, compared on every lookup (never trusted from the hash), so
// a changed path can never come back as the one cached before it; only the
// string is cached, no flag or other fact of the record.
type strCache struct {
	seed  maphash.Seed
	slots [strCacheSlots]string
}

const (
	strCacheSlots  = 2048 // a power of two
	strCacheMaxLen = 1024 // longer strings are rare: made afresh, not cached
)

func newStrCache() *strCache { return &strCache{seed: maphash.MakeSeed()} }

// str returns string(b), reused from the cache when the same bytes came
// before. A nil cache always makes a new string.
func (c *strCache) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if c == nil || len(b) > strCacheMaxLen {
		return string(b)
	}
	slot := &c.slots[maphash.Bytes(c.seed, b)&(strCacheSlots-1)]
	if *slot == string(b) { // compared without a conversion
		return *slot
	}
	s := string(b)
	*slot = s
	return s
}
