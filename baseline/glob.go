package baseline

import "strings"

// Match reports whether s matches the glob pattern. "**" (or any longer run
// of stars) matches any run of characters, "*" any run without "/".
// Everything else is literal (a "*" placeholder in a normalised value
// therefore matches itself, too).
//
// Patterns come from `allow:` lists that users (and agents) write into
// baselines, so matching must not depend on the pattern's shape: a
// backtracking matcher takes exponential time on "**a**a**a…b". Match
// simulates the pattern as a set of positions instead (a Thompson NFA): time
// O(len(pattern) × len(s)), memory O(len(pattern)), whatever the pattern.
func Match(pattern, s string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == s
	}
	return match(compileGlob(pattern), s)
}

// IsGlob reports whether v contains a wildcard.
func IsGlob(v string) bool { return strings.Contains(v, "*") }

// globTok is one pattern element: a literal byte, "*" or "**".
type globTok struct {
	kind byte // globLit, globStar, globDeep
	lit  byte
}

const (
	globLit byte = iota
	globStar
	globDeep
)

func compileGlob(p string) []globTok {
	toks := make([]globTok, 0, len(p))
	for i := 0; i < len(p); {
		if p[i] != '*' {
			toks = append(toks, globTok{kind: globLit, lit: p[i]})
			i++
			continue
		}
		j := i
		for j < len(p) && p[j] == '*' {
			j++
		}
		if j-i > 1 {
			toks = append(toks, globTok{kind: globDeep})
		} else {
			toks = append(toks, globTok{kind: globStar})
		}
		i = j
	}
	return toks
}

// match runs the position-set simulation: cur[i] says the first i tokens
// can match the input read so far.
func match(toks []globTok, s string) bool {
	n := len(toks)
	cur := make([]bool, n+1)
	next := make([]bool, n+1)
	cur[0] = true
	closeStars(toks, cur)
	for k := 0; k < len(s); k++ {
		c := s[k]
		alive := false
		for i := range next {
			next[i] = false
		}
		for i := 0; i < n; i++ {
			if !cur[i] {
				continue
			}
			switch t := toks[i]; t.kind {
			case globLit:
				if t.lit == c {
					next[i+1] = true
					alive = true
				}
			case globStar:
				if c != '/' {
					next[i] = true
					alive = true
				}
			case globDeep:
				next[i] = true
				alive = true
			}
		}
		if !alive {
			return false
		}
		closeStars(toks, next)
		cur, next = next, cur
	}
	return cur[n]
}

// closeStars adds the positions reachable without reading a character: a
// star may match the empty string.
func closeStars(toks []globTok, set []bool) {
	for i, t := range toks {
		if set[i] && t.kind != globLit {
			set[i+1] = true
		}
	}
}
