package recorder

import (
	"bytes"
	"regexp"
	"testing"
)

func TestTimingsOffWhenNoWriter(t *testing.T) {
	tm := newTimings(nil)
	if tm != nil {
		t.Fatalf("newTimings(nil) = %v, want nil (off)", tm)
	}
	tm.begin("anything")() // must not panic
	tm.print(nil)
}

func TestTimingsOneLinePerSpan(t *testing.T) {
	var out bytes.Buffer
	tm := newTimings(&out)
	endOuter := tm.begin("outer")
	tm.begin("inner")()
	endOuter()
	tm.print(&out)
	re := regexp.MustCompile(`(?m)^behavediff: timing: +[0-9.]+ ms \+ *[0-9.]+ ms  (\w+)$`)
	m := re.FindAllStringSubmatch(out.String(), -1)
	if len(m) != 2 || m[0][1] != "inner" || m[1][1] != "outer" {
		t.Errorf("want the spans in the order they ended (inner, outer), got:\n%s", out.String())
	}
}
