package shard_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/behavediff/behavediff/shard"
)

func names(n int) []string {
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, fmt.Sprintf("spec-%03d", i))
	}
	return out
}

// Every spec lands in exactly one shard, for several N, and shards are
// roughly even.
func TestEverySpecInExactlyOneShard(t *testing.T) {
	all := names(300)
	for _, n := range []int{1, 2, 3, 4, 7, 16} {
		seen := map[string]int{}
		for k := 1; k <= n; k++ {
			part := shard.Shard{K: k, N: n}.Filter(all)
			if n > 1 && n <= 7 && (len(part) < len(all)/n/2 || len(part) > 2*len(all)/n) {
				t.Errorf("N=%d: shard %d has %d of %d specs", n, k, len(part), len(all))
			}
			for _, s := range part {
				seen[s]++
			}
		}
		for _, s := range all {
			if seen[s] != 1 {
				t.Errorf("N=%d: %s is in %d shards", n, s, seen[s])
			}
		}
	}
}

// Adding specs moves no other spec to another shard.
func TestAddingSpecMovesNoOther(t *testing.T) {
	before := names(50)
	after := append(append([]string{"aaa-first"}, before...), "zzz-last", "new-in-the-middle")
	for _, n := range []int{2, 3, 5} {
		where := map[string]int{}
		for k := 1; k <= n; k++ {
			for _, s := range (shard.Shard{K: k, N: n}).Filter(before) {
				where[s] = k
			}
		}
		for k := 1; k <= n; k++ {
			for _, s := range (shard.Shard{K: k, N: n}).Filter(after) {
				if w, ok := where[s]; ok && w != k {
					t.Errorf("N=%d: %s moved from shard %d to %d", n, s, w, k)
				}
			}
		}
	}
}

func TestParse(t *testing.T) {
	if s, err := shard.Parse("2/4"); err != nil || s != (shard.Shard{K: 2, N: 4}) {
		t.Errorf("Parse(2/4) = %v, %v", s, err)
	}
	for _, bad := range []string{"", "0/4", "5/4", "2", "a/b", "1/0", "-1/3"} {
		if _, err := shard.Parse(bad); !errors.Is(err, shard.ErrBadShard) {
			t.Errorf("Parse(%q): %v", bad, err)
		}
	}
}
