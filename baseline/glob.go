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
//
// Match compiles pattern on every call; CompileGlob once for a pattern
// matched against many values.
func Match(pattern, s string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == s
	}
	return CompileGlob(pattern).Match(s)
}

// Glob is a compiled pattern (see Match for the syntax).
type Glob struct {
	pattern string
	literal bool // no wildcard: only the pattern itself matches
	// A value must start with prefix (the literal text before the first
	// star), end with suffix (after the last star) and hold chunks (the
	// literal runs between stars) in order in between: cheap tests that
	// reject nearly every value before the position-set simulation runs.
	prefix, suffix string
	chunks         []string
	deepOnly       bool      // every wildcard is "**": the chunks in order decide alone
	toks           []globTok // the pattern from its first star to its last
}

// CompileGlob compiles pattern for Glob.Match; every string is a valid
// pattern.
func CompileGlob(pattern string) *Glob {
	g := &Glob{pattern: pattern}
	first, last := strings.IndexByte(pattern, '*'), strings.LastIndexByte(pattern, '*')
	if first < 0 {
		g.literal = true
		return g
	}
	g.prefix, g.suffix = pattern[:first], pattern[last+1:]
	g.toks = compileGlob(pattern[first : last+1])
	g.deepOnly = true
	for i := 0; i < len(g.toks); {
		switch g.toks[i].kind {
		case globStar:
			g.deepOnly = false
			i++
		case globDeep:
			i++
		default:
			j := i
			for j < len(g.toks) && g.toks[j].kind == globLit {
				j++
			}
			b := make([]byte, j-i)
			for k := range b {
				b[k] = g.toks[i+k].lit
			}
			g.chunks = append(g.chunks, string(b))
			i = j
		}
	}
	return g
}

// String returns the pattern.
func (g *Glob) String() string { return g.pattern }

// Match reports whether s matches the pattern.
func (g *Glob) Match(s string) bool {
	if g.literal {
		return s == g.pattern
	}
	if len(s) < len(g.prefix)+len(g.suffix) || !strings.HasPrefix(s, g.prefix) || !strings.HasSuffix(s, g.suffix) {
		return false
	}
	mid := s[len(g.prefix) : len(s)-len(g.suffix)]
	// The middle pattern starts and ends with a wildcard, so finding each
	// chunk leftmost after the previous one is necessary, and sufficient
	// when no wildcard stops at "/".
	rest := mid
	for _, c := range g.chunks {
		i := strings.Index(rest, c)
		if i < 0 {
			return false
		}
		rest = rest[i+len(c):]
	}
	if g.deepOnly {
		return true
	}
	return match(g.toks, mid)
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
	// Position sets of common patterns live on the stack.
	var buf [2 * 64]bool
	var cur, next []bool
	if n < 64 {
		cur, next = buf[:n+1], buf[64:64+n+1]
	} else {
		cur, next = make([]bool, n+1), make([]bool, n+1)
	}
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
