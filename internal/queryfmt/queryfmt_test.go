package queryfmt

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/behavediff/behavediff/store"
)

func TestFormats(t *testing.T) {
	r := &store.Result{Columns: []string{"id", "path", "blob", "n", "id"}, Rows: [][]any{
		{int64(1), "/a<b>", []byte{0xff, 0x00}, nil, int64(2)},
		{int64(22), "x\ty", []byte("text"), 1.5, nil},
	}}
	var b bytes.Buffer
	if err := JSON(&b, r); err != nil {
		t.Fatal(err)
	}
	want := `[
  {"id": 1, "path": "/a<b>", "blob": "/wA=", "n": null, "id_2": 2},
  {"id": 22, "path": "x\ty", "blob": "text", "n": 1.5, "id_2": null}
]
`
	if d := cmp.Diff(want, b.String()); d != "" {
		t.Errorf("json (-want +got):\n%s", d)
	}
	b.Reset()
	CSV(&b, r)
	if want := "id,path,blob,n,id\n1,/a<b>,/wA=,,2\n22,x\ty,text,1.5,\n"; b.String() != want {
		t.Errorf("csv:\n%q\nwant\n%q", b.String(), want)
	}
	b.Reset()
	Table(&b, r)
	want = "id  path   blob    n  id\n--  -----  ----  ---  --\n 1  /a<b>  /wA=        2\n22  x\\ty   text  1.5\n"
	if d := cmp.Diff(want, b.String()); d != "" {
		t.Errorf("table (-want +got):\n%s", d)
	}
	b.Reset()
	JSON(&b, &store.Result{Columns: []string{"a"}, Rows: [][]any{}})
	if b.String() != "[]\n" {
		t.Errorf("empty json %q", b.String())
	}
}
