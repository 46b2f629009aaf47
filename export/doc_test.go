package export_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/behavediff/behavediff/export"
)

// docs/export.md lists every exported view with its columns and types,
// exactly as the export writes them.
func TestExportDoc(t *testing.T) {
	b, err := os.ReadFile("../docs/export.md")
	if err != nil {
		t.Fatal(err)
	}
	heading := regexp.MustCompile("^### `([a-z_]+)`")
	row := regexp.MustCompile("^\\| `([a-z_0-9]+)` \\| ([a-z]+) \\|")
	got := map[string][]string{}
	var order []string
	cur := ""
	for _, line := range strings.Split(string(b), "\n") {
		if m := heading.FindStringSubmatch(line); m != nil {
			cur = m[1]
			order = append(order, cur)
			continue
		}
		if strings.HasPrefix(line, "#") {
			cur = ""
		}
		if m := row.FindStringSubmatch(line); m != nil && cur != "" {
			got[cur] = append(got[cur], m[1]+" "+m[2])
		}
	}
	var wantOrder []string
	for _, v := range export.Views {
		wantOrder = append(wantOrder, v.Name)
		var want []string
		for _, c := range v.Columns {
			want = append(want, c.Name+" "+c.Type.String())
		}
		if d := cmp.Diff(want, got[v.Name]); d != "" {
			t.Errorf("docs/export.md, view %s (-export +doc):\n%s", v.Name, d)
		}
	}
	if d := cmp.Diff(wantOrder, order); d != "" {
		t.Errorf("docs/export.md views (-export +doc):\n%s", d)
	}
}
