package store

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func readSchemaDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../docs/schema.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func docsDB(t *testing.T) *DB {
	db, _ := openTemp(t)
	writeTrace(t, db, sampleTrace())
	tr := sampleTrace()
	tr.Run.Name = "build2"
	tr.Files = append(tr.Files, FileEvent{Proc: 1, Op: FileOpen, Path: "/etc/hosts", Result: 5, TS: 999})
	id2 := writeTrace(t, db, tr)
	f := CheckFinding{Level: 4, RuleID: "BD-SECRET-READ", Kind: "secret-read", Change: "added", Section: "files.read",
		Subject: "$HOME/.aws/credentials", Reason: "reads a secret", Fingerprint: "0123abcd"}
	for i := 0; i < 2; i++ {
		if _, err := db.AddChecks(ctx, []Check{{RunID: id2, Spec: "build2", Command: "check", Status: "fail", FailOn: "medium",
			Findings: []CheckFinding{f}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.w.ExecContext(ctx, "INSERT INTO _origin VALUES (?, 'shard-1.db', 7)", id2); err != nil {
		t.Fatal(err)
	}
	return db
}

// Every ```sql block in docs/schema.md runs and returns rows.
func TestSchemaDocExamples(t *testing.T) {
	doc := readSchemaDoc(t)
	db := docsDB(t)
	blocks := regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllStringSubmatch(doc, -1)
	if len(blocks) < 8 {
		t.Fatalf("docs/schema.md has %d sql examples, want >= 8", len(blocks))
	}
	for _, b := range blocks {
		q := b[1]
		res, err := db.Query(ctx, q)
		if err != nil {
			t.Errorf("example fails: %v\n%s", err, q)
			continue
		}
		if len(res.Rows) == 0 {
			t.Errorf("example returns no rows on the test trace:\n%s", q)
		}
	}
}

// The column tables in docs/schema.md match the views exactly, in order.
func TestSchemaDocColumns(t *testing.T) {
	doc := readSchemaDoc(t)
	db := docsDB(t)
	heading := regexp.MustCompile("^### `([a-z_]+)`")
	row := regexp.MustCompile("^\\| `([a-z_0-9]+)` \\|")
	documented := map[string][]string{}
	var order []string
	cur := ""
	for _, line := range strings.Split(doc, "\n") {
		if m := heading.FindStringSubmatch(line); m != nil {
			cur = m[1]
			order = append(order, cur)
			continue
		}
		if strings.HasPrefix(line, "#") {
			cur = ""
		}
		if m := row.FindStringSubmatch(line); m != nil && cur != "" {
			documented[cur] = append(documented[cur], m[1])
		}
	}
	want := []string{"runs", "processes", "file_events", "net_events", "priv_events", "fs_changes", "syscalls", "lost_events", "proxy_requests", "checks", "findings", "run_origins", "malformed_inputs"}
	if d := cmp.Diff(want, order); d != "" {
		t.Errorf("documented views (-want +got):\n%s", d)
	}
	// Every public view of the schema is documented.
	res, err := db.Query(ctx, "SELECT name FROM sqlite_master WHERE type = 'view' ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res.Rows {
		if _, ok := documented[r[0].(string)]; !ok {
			t.Errorf("view %s is not documented in docs/schema.md", r[0])
		}
	}
	for _, v := range order {
		res, err := db.Query(ctx, "SELECT name FROM pragma_table_info(?)", v)
		if err != nil {
			t.Fatal(err)
		}
		var cols []string
		for _, r := range res.Rows {
			cols = append(cols, r[0].(string))
		}
		if d := cmp.Diff(cols, documented[v]); d != "" {
			t.Errorf("view %s: documented columns differ from the schema (-schema +doc):\n%s", v, d)
		}
	}
}
