package baseline

import (
	"fmt"
	"regexp"
	"strings"
)

// Placeholders used by normalisation. "*" is also a glob wildcard, so a
// normalised value is a glob that matches every raw value it stands for.
const (
	PhWorkspace = "$WORKSPACE"
	PhHome      = "$HOME"
	PhPID       = "$PID"
	PhTID       = "$TID"
	PhAny       = "*"
)

// DefaultHome is the HOME the sandbox gives every command.
const DefaultHome = "/root"

// Redaction is a user rule from the baseline's redact: section: every match
// of Pattern in a normalised string is replaced by Replace (regexp
// replacement syntax, so $1 refers to a group).
type Redaction struct {
	Pattern string
	Replace string
	re      *regexp.Regexp
}

// Compile checks the pattern; FromTrace and Parse call it.
func (r *Redaction) Compile() error {
	if r.re != nil {
		return nil
	}
	re, err := regexp.Compile(r.Pattern)
	if err != nil {
		return fmt.Errorf("redact %q: %v", r.Pattern, err)
	}
	r.re = re
	return nil
}

// tempRoots are directories whose entries are typically randomly named; the
// more aggressive word rules apply below them.
var tempRoots = []string{"/tmp/", "/var/tmp/", "/dev/shm/"}

var (
	reUUID     = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
	reDate     = regexp.MustCompile(`\b\d{4}-\d{2}-\d{2}(T\d{2}[:-]?\d{2}([:-]?\d{2})?)?`)
	reTime     = regexp.MustCompile(`\b\d{2}:\d{2}:\d{2}\b`)
	reProcPID  = regexp.MustCompile(`/proc/\d+(/|$)`)
	reTask     = regexp.MustCompile(`/task/\d+(/|$)`)
	reFD       = regexp.MustCompile(`(/proc/(?:self|thread-self|\$PID)/fd(?:info)?/|/dev/fd/)\d+`)
	rePts      = regexp.MustCompile(`/dev/pts/\d+`)
	reInode    = regexp.MustCompile(`([a-z_]+):\[\d+\]`)
	reIPv4     = regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\b`)
	reManyStar = regexp.MustCompile(`\*{2,}`)
	reSoVer    = regexp.MustCompile(`(\.so)(\.[0-9]+)+\b`)
	reGitObj   = regexp.MustCompile(`(/\.git/(?:modules/[^/]+/)?objects/)[0-9a-f]{2}(/|$)`)
)

// normaliser turns raw strings (paths, argv tokens, DNS names, decoded
// syscall args) into their run-independent form. It memoises results: a
// trace repeats the same few thousand strings millions of times.
type normaliser struct {
	workspace string
	home      string
	redact    []Redaction
	cache     map[string]string
	// randomWords are the random parts of names this run created
	// exclusively below a temp root (O_CREAT|O_EXCL, mkdir: what mkstemp
	// and mkdtemp do); below a temp root they become * wherever they occur.
	randomWords map[string]bool
}

// minTempWord is the length of the shortest random part learnTempName
// learns: shorter words need no lookup.
const minTempWord = 6

// learnTempName records the random part of a path the run created
// exclusively below a temp root: the longest word of 6 or more letters,
// digits and underscores in its last component ("ccAbCdEf.s" → "ccAbCdEf";
// Python's tempfile draws from [a-z0-9_], so "cache-alrk_zsj" → "alrk_zsj").
func (n *normaliser) learnTempName(p string) {
	under := false
	for _, r := range tempRoots {
		under = under || strings.HasPrefix(p, r)
	}
	if !under {
		return
	}
	base := p[strings.LastIndexByte(p, '/')+1:]
	best := ""
	for i := 0; i < len(base); {
		if !isWordByte(base[i]) {
			i++
			continue
		}
		j := i
		for j < len(base) && isWordByte(base[j]) {
			j++
		}
		if j-i >= minTempWord && j-i > len(best) {
			best = base[i:j]
		}
		i = j
	}
	if best != "" {
		if n.randomWords == nil {
			n.randomWords = map[string]bool{}
		}
		n.randomWords[best] = true
	}
}

func newNormaliser(workspace, home string, redact []Redaction) (*normaliser, error) {
	n := &normaliser{workspace: cleanRoot(workspace), home: cleanRoot(home), cache: map[string]string{}}
	for _, r := range redact {
		if err := r.Compile(); err != nil {
			return nil, err
		}
		n.redact = append(n.redact, r)
	}
	return n, nil
}

func cleanRoot(p string) string {
	p = strings.TrimRight(p, "/")
	if p == "" {
		return ""
	}
	return p
}

// str normalises any string that may contain paths.
func (n *normaliser) str(s string) string {
	if v, ok := n.cache[s]; ok {
		return v
	}
	v := n.apply(s)
	n.cache[s] = v
	return v
}

func (n *normaliser) apply(s string) string {
	// Workspace before home: the workspace often lives under home.
	if n.workspace != "" && n.workspace != "/" {
		s = replaceRoot(s, n.workspace, PhWorkspace)
	}
	if n.home != "" && n.home != "/" && n.home != n.workspace {
		s = replaceRoot(s, n.home, PhHome)
	}
	if strings.Contains(s, "/proc/") {
		s = reProcPID.ReplaceAllString(s, "/proc/$$PID${1}")
		s = reTask.ReplaceAllString(s, "/task/$$TID${1}")
	}
	if strings.Contains(s, "/fd") {
		s = reFD.ReplaceAllString(s, "${1}*")
	}
	if strings.Contains(s, "/dev/pts/") {
		s = rePts.ReplaceAllString(s, "/dev/pts/*")
	}
	if strings.Contains(s, ":[") {
		s = reInode.ReplaceAllString(s, "$1:[*]")
	}
	// Cheap tests first: most strings need none of these expressions.
	if strings.Contains(s, ".so.") {
		s = reSoVer.ReplaceAllString(s, "$1.*") // libssl.so.3 → libssl.so.*: upgrades change the number
	}
	if strings.Contains(s, "/.git/") {
		s = reGitObj.ReplaceAllString(s, "$1*$2") // loose objects: .git/objects/ab/cdef… → .git/objects/*/*
	}
	if dashes := strings.Count(s, "-"); dashes >= 4 {
		s = reUUID.ReplaceAllString(s, PhAny)
	}
	s = tmpNames(s)
	if strings.Count(s, "-") >= 2 {
		s = reDate.ReplaceAllString(s, PhAny)
	}
	if strings.Count(s, ":") >= 2 {
		s = reTime.ReplaceAllString(s, PhAny)
	}
	s = words(s, n.randomWords)
	for _, r := range n.redact {
		s = r.re.ReplaceAllString(s, r.Replace)
	}
	if strings.Contains(s, "**") {
		s = reManyStar.ReplaceAllString(s, PhAny)
	}
	return s
}

// tmpNames replaces every temp-file name "tmp" + an optional ".", "_" or
// "-" + 6 or more letters, digits or underscores, starting at a word
// boundary, with "tmp*" (tmpAbC123, tmp_x8f2k1l, tmp.ABCDEF): the regular
// expression `\btmp[._-]?[A-Za-z0-9_]{6,}` replaced leftmost first, by hand
// because nearly every path holds no match and the expression's engine
// cost ~0.5 µs per path (TestTmpNamesIsTheExpression, FuzzTmpNames).
func tmpNames(s string) string {
	var b []byte // nil until the first match
	done := 0    // s[:done] is in b
	for off := 0; ; {
		i := strings.Index(s[off:], "tmp")
		if i < 0 {
			break
		}
		i += off
		off = i + 1
		if i > 0 && isWordByte(s[i-1]) {
			continue // not at a word boundary
		}
		j := i + 3
		if j < len(s) && (s[j] == '.' || s[j] == '-') {
			j++ // the separator; '_' is a word byte and counts either way
		}
		k := j
		for k < len(s) && isWordByte(s[k]) {
			k++
		}
		if k-j < 6 {
			continue
		}
		if b == nil {
			b = make([]byte, 0, len(s))
		}
		b = append(append(b, s[done:i]...), "tmp*"...)
		done, off = k, k
	}
	if b == nil {
		return s
	}
	return string(append(b, s[done:]...))
}

// replaceRoot replaces root where it appears as a whole path prefix: at the
// start of s or after a non-path character, and followed by "/" or the end
// of a path.
func replaceRoot(s, root, ph string) string {
	if !strings.Contains(s, root) {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, root)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + len(root)
		before := i == 0 || !isPathByte(s[i-1])
		after := end == len(s) || s[end] == '/' || !isPathByte(s[end])
		b.WriteString(s[:i])
		if before && after {
			b.WriteString(ph)
		} else {
			b.WriteString(root)
		}
		s = s[end:]
	}
}

func isPathByte(c byte) bool {
	return isAlnum(c) || c == '/' || c == '.' || c == '-' || c == '_' || c == '~' || c == '+' || c == '@'
}

func isAlnum(c byte) bool { return isDigit(c) || isLetter(c) }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isLetter(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}
func isHex(c byte) bool { return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') }

// words applies the word rules to every maximal alphanumeric run ("word"):
//
//   - a word of 3 or more digits becomes * (pids, ports, counters, years);
//   - a word of 8 or more hex digits with both digits and letters becomes *
//     (hashes, hex ids);
//   - inside a word, a run of 6 or more digits becomes * (go-build1234567);
//   - below a temp root (/tmp/, /var/tmp/, /dev/shm/), a word of 6 or more
//     characters mixing letters and digits becomes *, and so does any run of
//     3 or more digits inside a word (mkstemp and mkdtemp suffixes).
//
// Below a temp root, a word the run created as a temp name (see
// learnTempName) becomes *. Dotted IPv4 addresses are left alone. Words that follow "$" are
// placeholders and left alone.
func words(s string, random map[string]bool) string {
	hasDigit := false
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			hasDigit = true
			break
		}
	}
	if !hasDigit && (len(random) == 0 || !strings.Contains(s, "/")) {
		return s
	}
	var protect [][]int
	if strings.Count(s, ".") >= 3 {
		protect = reIPv4.FindAllStringIndex(s, -1)
	}
	// Regions below a temp root, up to the next character that ends a path.
	var tempBuf [4][2]int
	temp := tempBuf[:0]
	for _, root := range tempRoots {
		off := 0
		for {
			i := strings.Index(s[off:], root)
			if i < 0 {
				break
			}
			i += off
			start := i + len(root)
			end := start
			for end < len(s) && isPathByte(s[end]) {
				end++
			}
			if i == 0 || !isPathByte(s[i-1]) {
				temp = append(temp, [2]int{start, end})
			}
			off = start
		}
	}
	inTemp := func(i int) bool {
		for _, r := range temp {
			if i >= r[0] && i < r[1] {
				return true
			}
		}
		return false
	}
	inProtect := func(i int) bool {
		for _, r := range protect {
			if i >= r[0] && i < r[1] {
				return true
			}
		}
		return false
	}

	// Most strings keep every word: the output is built only from the
	// first word that changes (s[:done] is in b by then).
	var b []byte
	done := 0
	put := func(i, j int, w string) {
		if b == nil {
			b = make([]byte, 0, len(s))
		}
		b = append(append(b, s[done:i]...), w...)
		done = j
	}
	i := 0
	for i < len(s) {
		// A learned temp word may start with or contain '_', which is not
		// part of an ordinary word: try it on the whole run of word bytes
		// (Python's tempfile names "cache-_ab1cd2e" and "cache-ab1cd2e"
		// must both become "cache-*").
		if len(random) > 0 && isWordByte(s[i]) && (isAlnum(s[i]) || i == 0 || !isWordByte(s[i-1])) && inTemp(i) {
			k := i
			for k < len(s) && isWordByte(s[k]) {
				k++
			}
			if k-i >= minTempWord && random[s[i:k]] {
				put(i, k, PhAny)
				i = k
				continue
			}
		}
		if !isAlnum(s[i]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isAlnum(s[j]) {
			j++
		}
		w := s[i:j]
		switch {
		case i > 0 && s[i-1] == '$', inProtect(i):
		case len(w) >= minTempWord && random[w] && inTemp(i):
			put(i, j, PhAny)
		default:
			if r := word(w, inTemp(i)); r != w {
				put(i, j, r)
			}
		}
		i = j
	}
	if b == nil {
		return s
	}
	return string(append(b, s[done:]...))
}

func isWordByte(c byte) bool { return isAlnum(c) || c == '_' }

func word(w string, temp bool) string {
	digits, letters, hexOnly := 0, 0, true
	for k := 0; k < len(w); k++ {
		c := w[k]
		if isDigit(c) {
			digits++
		} else {
			letters++
		}
		if !isHex(c) {
			hexOnly = false
		}
	}
	switch {
	case digits == 0:
		return w
	case letters == 0 && digits >= 3:
		return PhAny
	case hexOnly && len(w) >= 8 && letters > 0:
		return PhAny
	case temp && len(w) >= 6 && letters > 0:
		return PhAny
	}
	minRun := 6
	if temp {
		minRun = 3
	}
	return digitRuns(w, minRun)
}

// digitRuns replaces runs of at least min digits inside w with *.
func digitRuns(w string, min int) string {
	var b strings.Builder
	changed := false
	i := 0
	for i < len(w) {
		if !isDigit(w[i]) {
			b.WriteByte(w[i])
			i++
			continue
		}
		j := i
		for j < len(w) && isDigit(w[j]) {
			j++
		}
		if j-i >= min {
			b.WriteString(PhAny)
			changed = true
		} else {
			b.WriteString(w[i:j])
		}
		i = j
	}
	if !changed {
		return w
	}
	return b.String()
}

// domain normalises a DNS name: lower case, no trailing dot, word rules.
func (n *normaliser) domain(d string) string {
	d = strings.TrimSuffix(strings.ToLower(d), ".")
	return n.str(d)
}
