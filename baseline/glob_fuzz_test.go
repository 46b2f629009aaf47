package baseline_test

import (
	"strings"
	"testing"

	"github.com/behavediff/behavediff/baseline"
)

// backtrack is the former recursive matcher, kept as the reference the
// linear-time Match is checked against (on inputs small enough for it).
func backtrack(p, s string) bool {
	for len(p) > 0 {
		if p[0] != '*' {
			i := strings.IndexByte(p, '*')
			lit := p
			if i >= 0 {
				lit = p[:i]
			}
			if !strings.HasPrefix(s, lit) {
				return false
			}
			p, s = p[len(lit):], s[len(lit):]
			continue
		}
		deep := strings.HasPrefix(p, "**")
		for len(p) > 0 && p[0] == '*' {
			p = p[1:]
		}
		if p == "" {
			return deep || !strings.Contains(s, "/")
		}
		for i := 0; i <= len(s); i++ {
			if backtrack(p, s[i:]) {
				return true
			}
			if i < len(s) && s[i] == '/' && !deep {
				return false
			}
		}
		return false
	}
	return s == ""
}

// FuzzMatch checks Match against the backtracking reference on short
// inputs and against the plain position-set simulation on any input (the
// compiled Glob's literal pre-tests must never change an answer), and that
// any pattern on any input returns.
func FuzzMatch(f *testing.F) {
	for _, c := range [][2]string{
		{"$HOME/.cache/**", "$HOME/.cache/pip/x/y"},
		{"*.pypi.org:443", "files.pypi.org:443"},
		{"/tmp/*/x", "/tmp/a/b/x"},
		{"**/.env", "/a/b/.env"},
		{"/home/*/.ssh/**", "/home/u/.ssh/id_rsa"},
		{"tmp*", "tmp*"},
		{"***", "a/b"},
		{"**a**a**a**b", "aaaaaaaaaaaaaaaa"},
		{"*a*a*a*a*b", "aaaaaaaaaaaaaa/aa"},
		{"a*a", "a"},
		{"/etc/*/x**y*z", "/etc/a/xqy/yz"},
		{"**/.env.*", "/srv/app/.env.local"},
		{"ab**ba", "aba"},
	} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, p, s string) {
		got := baseline.Match(p, s)
		if nfa := baseline.MatchNFA(p, s); got != nfa {
			t.Fatalf("Match(%q, %q) = %v, the plain simulation says %v (a literal pre-test is wrong)", p, s, got, nfa)
		}
		if again := baseline.CompileGlob(p).Match(s); again != got {
			t.Fatalf("CompileGlob(%q).Match(%q) = %v, Match says %v", p, s, again, got)
		}
		// The reference is exponential: compare only where it is cheap.
		if len(p) <= 12 && len(s) <= 24 && strings.Count(p, "*") <= 6 {
			if want := backtrack(p, s); got != want {
				t.Fatalf("Match(%q, %q) = %v, reference says %v", p, s, got, want)
			}
		}
		if !strings.Contains(p, "*") && got != (p == s) {
			t.Fatalf("Match(%q, %q) = %v for a literal pattern", p, s, got)
		}
		if strings.Trim(p, "*") == "" && len(p) >= 2 && !got {
			t.Fatalf("Match(%q, %q) = false: ** matches everything", p, s)
		}
	})
}

// pathological is a pattern a backtracking matcher needs exponential time
// for: every "**" can take any split of the a's before failing on "b".
func pathological(n int) (pattern, input string) {
	return strings.Repeat("**a", n) + "b", strings.Repeat("a", 4*n)
}

// A pathological allow: pattern returns (with backtracking, n=30 would not
// finish before the test timeout).
func TestMatchPathological(t *testing.T) {
	for _, n := range []int{10, 30, 200} {
		p, s := pathological(n)
		if baseline.Match(p, s) {
			t.Errorf("Match(%d× **a + b, a…) = true", n)
		}
		if !baseline.Match(p, s+"b") {
			t.Errorf("Match(%d× **a + b, a…b) = false", n)
		}
	}
	// Mixed "*" and "**" around slashes.
	p := strings.Repeat("*/**a", 40) + "x"
	s := strings.Repeat("a/", 200)
	if baseline.Match(p, s) {
		t.Errorf("Match(mixed pathological) = true")
	}
}

// BenchmarkMatchPathological reports the time of a pathological pattern
// relative to a plain glob of the same length on the same input: linear
// matching keeps the ratio small (about the ratio of the pattern sizes).
func BenchmarkMatchPathological(b *testing.B) {
	p, s := pathological(20)
	plain := "/" + strings.Repeat("x", len(p)-3) + "/**"
	var tb float64
	b.Run("plain", func(b *testing.B) {
		for b.Loop() {
			baseline.Match(plain, s)
		}
		tb = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	})
	b.Run("pathological", func(b *testing.B) {
		for b.Loop() {
			baseline.Match(p, s)
		}
		tp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		if tb > 0 {
			b.ReportMetric(tp/tb, "x_plain")
		}
	})
}
