package baseline

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// Every example row of docs/normalisation.md ("| rule | `before` | `after` |")
// must hold.
func TestNormalisationDocExamples(t *testing.T) {
	data, err := os.ReadFile("../docs/normalisation.md")
	if err != nil {
		t.Fatal(err)
	}
	n, err := newNormaliser("/builds/ci/proj", "/root", nil)
	if err != nil {
		t.Fatal(err)
	}
	rows := 0
	for _, line := range strings.Split(string(data), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) != 5 {
			continue
		}
		before, after := strings.TrimSpace(cells[2]), strings.TrimSpace(cells[3])
		if strings.Count(before, "`") != 2 || strings.Count(after, "`") != 2 || before[0] != '`' || after[0] != '`' || !strings.HasSuffix(before, "`") || !strings.HasSuffix(after, "`") {
			continue
		}
		before, after = strings.Trim(before, "`"), strings.Trim(after, "`")
		rows++
		got := n.str(before)
		if strings.Contains(before, ".COM") {
			got = n.domain(before)
		}
		if got != after {
			t.Errorf("%s: %q → %q, doc says %q", strings.TrimSpace(cells[1]), before, got, after)
		}
	}
	if rows < 20 {
		t.Errorf("found only %d example rows in docs/normalisation.md", rows)
	}
}

func TestLearnedTempNames(t *testing.T) {
	n, _ := newNormaliser("/ws", "/root", nil)
	n.learnTempName("/tmp/ccAbCdEf.s")
	n.learnTempName("/tmp/cache-alrk_zsj") // Python tempfile: [a-z0-9_]
	n.learnTempName("/tmp/cache-_ab1cd2e") // a random part that starts with '_'
	n.learnTempName("/tmp/cache-xy_9_a_b") // or has '_' between short runs
	n.learnTempName("/tmp/build")          // too short to be random
	n.learnTempName("/home/x/abcdefgh")    // not below a temp root
	for in, want := range map[string]string{
		"/tmp/ccAbCdEf.s":       "/tmp/*.s",
		"/tmp/cache-alrk_zsj":   "/tmp/cache-*",
		"/tmp/alrk_zsj/x":       "/tmp/*/x",
		"/tmp/cache-_ab1cd2e":   "/tmp/cache-*",
		"/tmp/cache-xy_9_a_b":   "/tmp/cache-*",
		"--out=/tmp/ccAbCdEf.o": "--out=/tmp/*.o",
		"/usr/share/ccAbCdEf":   "/usr/share/ccAbCdEf",
		"/tmp/build/x":          "/tmp/build/x",
		"/home/x/abcdefgh":      "/home/x/abcdefgh",
	} {
		if got := n.str(in); got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
}

func TestBucket(t *testing.T) {
	for c, want := range map[uint64]string{0: "0", 1: "1e0", 9: "1e0", 10: "1e1", 999: "1e2", 1000: "1e3", 123456: "1e5"} {
		if got := Bucket(c); got != want {
			t.Errorf("Bucket(%d) = %s, want %s", c, got, want)
		}
	}
}

// tmpNameExpr is the rule tmpNames implements by hand.
var tmpNameExpr = regexp.MustCompile(`\btmp[._-]?[A-Za-z0-9_]{6,}`)

var tmpNameCases = []string{
	"/tmp/tmpAbC123", "/tmp/tmp_x8f2k1l", "/tmp/tmp.ABCDEF", "/tmp/tmp-abcdef/x", "/tmp/tmp.abcde", "tmp_abcde",
	"tmp_abcdef", "tmp__abcde", "xtmpabcdefgh", "_tmpabcdefgh", "tmptmpabcdef", "/a/tmpabcdef/tmp.qwerty-tmp-123456",
	"tmp", "tmp.", "tmp-", "/tmp/", "-tmpé123456", "étmp123456", "tmp\xff123456", "tmp123456\xfftmp654321",
	"--out=/tmp/tmpk3j4l5m.o", "tmp.-abcdef", "tmp-_abcdef", "tmp..abcdef",
}

// tmpNames replaces exactly what its expression replaces.
func TestTmpNamesIsTheExpression(t *testing.T) {
	for _, s := range tmpNameCases {
		if got, want := tmpNames(s), tmpNameExpr.ReplaceAllString(s, "tmp*"); got != want {
			t.Errorf("tmpNames(%q) = %q, the expression gives %q", s, got, want)
		}
	}
}

func FuzzTmpNames(f *testing.F) {
	for _, s := range tmpNameCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := tmpNames(s), tmpNameExpr.ReplaceAllString(s, "tmp*"); got != want {
			t.Fatalf("tmpNames(%q) = %q, the expression gives %q", s, got, want)
		}
	})
}
