package baseline

// MatchNFA runs the position-set simulation on the whole pattern, without
// Glob's literal pre-tests: the fuzz test checks the two agree.
func MatchNFA(pattern, s string) bool { return match(compileGlob(pattern), s) }
