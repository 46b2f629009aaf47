package shard

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrBadShard is returned for a --shard value that is not K/N with 1 ≤ K ≤ N.
var ErrBadShard = errors.New("bad shard")

// Shard is shard K of N (1-based, as CI matrices count).
type Shard struct{ K, N int }

// Parse reads "K/N".
func Parse(s string) (Shard, error) {
	ks, ns, ok := strings.Cut(strings.TrimSpace(s), "/")
	k, err1 := strconv.Atoi(ks)
	n, err2 := strconv.Atoi(ns)
	if !ok || err1 != nil || err2 != nil || n < 1 || k < 1 || k > n {
		return Shard{}, fmt.Errorf("%w %q: want K/N with 1 <= K <= N, e.g. 2/4", ErrBadShard, s)
	}
	return Shard{K: k, N: n}, nil
}

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.K, s.N) }

// Of is the shard (1..n) that spec name belongs to among n.
func Of(name string, n int) int {
	h := sha256.Sum256([]byte(name))
	return int(binary.BigEndian.Uint64(h[:8])%uint64(n)) + 1
}

// Has reports whether spec name belongs to s.
func (s Shard) Has(name string) bool { return Of(name, s.N) == s.K }

// Filter keeps the names that belong to s, in their order.
func (s Shard) Filter(names []string) []string {
	var out []string
	for _, n := range names {
		if s.Has(n) {
			out = append(out, n)
		}
	}
	return out
}
