package baseline_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/behavediff/behavediff/baseline"
)

// FuzzParse: baseline files arrive in pull requests, often written by an
// agent. Parse must return a baseline or a *ParseError (never panic, never
// take unbounded time: YAML alias bombs included), and what it accepts must
// survive Marshal and Parse again unchanged.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../testdata/baseline/*.yaml")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"version: 1\n",
		"version: 99\nfuture: [x]\n",
		"version: 1\nallow:\n  files: ['**a**a**a**a**a**a**b']\n",
		"version: 1\nredact:\n  - {pattern: '(a+)+$', replace: x}\n",
		"a: &a [*a]\n",
		"a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n",
		"version: 1\nfiles:\n  read: {path: x}\n",
		"- [",
		"\t",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := baseline.Parse(data, "fuzz.yaml")
		if err != nil {
			var pe *baseline.ParseError
			if !errors.As(err, &pe) && !errors.Is(err, baseline.ErrNewerFormat) {
				t.Fatalf("error is neither a ParseError nor ErrNewerFormat: %T %v", err, err)
			}
			return
		}
		for _, sec := range b.Sections() {
			for _, e := range *sec.Entries {
				b.Allowed(sec.Name, e.Value)
			}
		}
		out, err := b.Marshal()
		if err != nil {
			t.Fatalf("Marshal of a parsed baseline: %v", err)
		}
		again, err := baseline.Parse(out, "fuzz.yaml")
		if err != nil {
			t.Fatalf("Parse(Marshal(Parse(input))): %v\n%s", err, out)
		}
		if d := cmp.Diff(b, again, cmpopts.EquateEmpty(), cmpopts.IgnoreUnexported(baseline.Redaction{}, baseline.Entry{}, baseline.Baseline{})); d != "" {
			t.Fatalf("round trip changed the baseline (-parsed +reparsed):\n%s", d)
		}
	})
}
