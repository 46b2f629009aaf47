package baseline

import "strings"

// Match reports whether s matches the glob pattern. "**" matches any run of
// characters, "*" any run without "/". Everything else is literal (a "*"
// placeholder in a normalised value therefore matches itself, too).
func Match(pattern, s string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == s
	}
	return match(pattern, s)
}

// IsGlob reports whether v contains a wildcard.
func IsGlob(v string) bool { return strings.Contains(v, "*") }

func match(p, s string) bool {
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
			if match(p, s[i:]) {
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
