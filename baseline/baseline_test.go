package baseline_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/behavediff/behavediff/baseline"
	"github.com/behavediff/behavediff/baseline/baselinetest"
	"github.com/behavediff/behavediff/internal/golden"
	"github.com/behavediff/behavediff/store"
)

var ignoreUnexported = cmpopts.IgnoreUnexported(baseline.Baseline{}, baseline.Entry{}, baseline.Redaction{})

func goldenFile(t *testing.T, name string, got []byte) {
	t.Helper()
	golden.Check(t, filepath.Join("..", "testdata", "baseline", name), got)
}

func mustFromTrace(t testing.TB, tr *store.Trace, o baseline.Options) *baseline.Baseline {
	t.Helper()
	b, err := baseline.FromTrace(tr, o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestGoldenBenign(t *testing.T) {
	b := mustFromTrace(t, baselinetest.Benign(1).T, baseline.Options{})
	data, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	goldenFile(t, "benign.yaml", data)
}

func TestGoldenCountsAndUserSections(t *testing.T) {
	tr := baselinetest.Benign(2).T
	o := baseline.Options{Counts: true, Redactions: []baseline.Redaction{{Pattern: `gen\.py`, Replace: "GENERATOR"}}}
	b := mustFromTrace(t, tr, o)
	b.Allow = map[string][]string{"files.write": {"$HOME/.cache/**"}, "network.egress": {"*.pythonhosted.org:443"}}
	b.Files.Read[0].Optional = true
	data, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	goldenFile(t, "counts-allow-redact.yaml", data)
}

// Two runs of an unchanged program differ in pids, times, temp names,
// uuids, ephemeral ports, the addresses behind pypi.org, the number of
// workers and the checkout directory; their baselines must be identical.
func TestNondeterminismNormalisedAway(t *testing.T) {
	want := mustFromTrace(t, baselinetest.Benign(1).T, baseline.Options{})
	wantYAML, _ := want.Marshal()
	for seed := uint64(2); seed < 40; seed++ {
		got := mustFromTrace(t, baselinetest.Benign(seed).T, baseline.Options{})
		if d := cmp.Diff(want, got, ignoreUnexported); d != "" {
			t.Fatalf("seed %d: baseline differs (-seed1 +seed%d):\n%s", seed, seed, d)
		}
		gotYAML, _ := got.Marshal()
		if string(gotYAML) != string(wantYAML) {
			t.Fatalf("seed %d: YAML differs", seed)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		b := mustFromTrace(t, baselinetest.Benign(seed).T, baseline.Options{Counts: seed == 2})
		b.Name = "build"
		b.Allow = map[string][]string{"files": {"/var/cache/**"}, "processes": {"/usr/bin/git"}}
		b.Redact = []baseline.Redaction{{Pattern: `v\d+\.\d+`, Replace: "v*"}, {Pattern: `'quoted' "both"`, Replace: ""}}
		// Annotations and every entry shape.
		b.Files.Read[1].Optional = true
		b.Files.Other = append(b.Files.Other,
			baseline.Entry{Op: "symlink", Value: "$WORKSPACE/l", To: "../x: y", Optional: true},
			baseline.Entry{Op: "memfd", Value: "memfd:*"})
		b.Files.Chmod = []baseline.Entry{{Value: "$WORKSPACE/run.sh", Mode: "0755"}, {Value: "*", Mode: "4755", Failed: true}}
		b.Files.Rename = []baseline.Entry{{Value: "$WORKSPACE/a #1", To: "$WORKSPACE/[b]"}}
		// Byte strings YAML cannot hold as text: file names in another
		// encoding, control characters (hostile code picks its file names).
		b.Files.Create = append(b.Files.Create, baseline.Entry{Value: "$WORKSPACE/caf\xe9 \xff\xfe.txt"},
			baseline.Entry{Value: "$WORKSPACE/nl\nand\x01ctl\x7f \"q\" 'q' \\x41"})
		b.Processes = append(b.Processes, baseline.Process{Exe: "/w/\x80x", Argv: []string{"\xc3", "ok"}, Chain: "/bin/sh > /w/\x80x"})
		b.Files.Delete = append(b.Files.Delete, baseline.Entry{Value: "no"}, baseline.Entry{Value: "~"}, baseline.Entry{Value: "0755"}, baseline.Entry{Value: "- x"}, baseline.Entry{Value: "&a"}, baseline.Entry{Value: "!tag"}, baseline.Entry{Value: " lead"})
		b.Network.Egress = append(b.Network.Egress, baseline.Entry{Value: "*.example.com:443", Optional: true, Failed: true})
		b.Processes[0].Optional = true
		b.Privileged = []baseline.Entry{{Value: `mount source="none" target="/mnt" flags=0x0`}}
		for _, s := range b.Sections() {
			*s.Entries = sortForCompare(*s.Entries)
		}
		data, err := b.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := baseline.Parse(data, ".behavediff/baselines/build.yaml")
		if err != nil {
			t.Fatalf("%v\n%s", err, data)
		}
		if d := cmp.Diff(b, got, ignoreUnexported, cmpopts.EquateEmpty()); d != "" {
			t.Errorf("seed %d: Marshal→Parse changed the baseline (-want +got):\n%s\n%s", seed, d, data)
		}
		again, _ := got.Marshal()
		if string(again) != string(data) {
			t.Errorf("seed %d: Marshal→Parse→Marshal is not stable", seed)
		}
	}
}

// sortForCompare sorts like Parse does, via a round trip through Union.
func sortForCompare(es []baseline.Entry) []baseline.Entry {
	b := &baseline.Baseline{}
	b.Privileged = es
	u := baseline.Union(b)
	out := u.Privileged
	for i := range out {
		for _, e := range es {
			if e.Key() == out[i].Key() {
				out[i].Optional = e.Optional
			}
		}
	}
	return out
}

func TestParseErrors(t *testing.T) {
	ok := "version: 1\ncommand: [sh, build.sh]\n"
	cases := []struct {
		name, yaml string
		line       int
		want       string
	}{
		{"syntax", ok + "files:\n  read: [a, b\n", 4, "invalid YAML"},
		{"bad indent", ok + "files:\n  read:\n    - /a\n   - /b\n", 4, "invalid YAML"},
		{"scanner", ok + "files:\n  read:\n\t- /a\n", 5, "invalid YAML"},
		{"unknown top key", ok + "proceses: []\n", 3, `unknown key "proceses"`},
		{"unknown files section", ok + "files:\n  read: []\n  wirte: [/x]\n", 5, `files: unknown key "wirte"`},
		{"entry field typo", ok + "files:\n  read:\n    - /etc/hosts\n    - {path: /x, optinal: true}\n", 6, `unknown key "optinal"`},
		{"not a list", ok + "syscalls: read\n", 3, "syscalls: want a list"},
		{"bad bool", ok + "network:\n  egress:\n    - {addr: a:1, failed: maybe}\n", 5, "want true or false"},
		{"chmod without mode", ok + "files:\n  chmod:\n    - /x\n", 5, "without mode"},
		{"bad mode", ok + "files:\n  chmod:\n    - {path: /x, mode: rwx}\n", 5, "not an octal file mode"},
		{"unknown op", ok + "files:\n  other:\n    - {op: delete, path: /x}\n", 5, `unknown op "delete"`},
		{"bad allow section", ok + "allow:\n  file.write: [/x]\n", 4, `allow: unknown section "file.write"`},
		{"bad redact regexp", ok + "redact:\n  'a(': b\n", 4, "redact"},
		{"duplicate key", ok + "syscalls: []\nsyscalls: []\n", 4, "given twice"},
		{"process without exe", ok + "processes:\n  - argv: [x]\n", 4, "without exe"},
		{"bad version", "version: one\ncommand: []\n", 1, "version: want a whole number"},
		{"missing version", "command: []\n", 1, "no version"},
		{"missing command", "version: 1\n", 1, "no command"},
		{"top-level list", "- a\n", 1, "want a mapping"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := baseline.Parse([]byte(c.yaml), ".behavediff/baselines/build.yaml")
			if err == nil {
				t.Fatalf("no error for\n%s", c.yaml)
			}
			var pe *baseline.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not a *ParseError", err)
			}
			if pe.Line != c.line || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), ".behavediff/baselines/build.yaml:") {
				t.Errorf("got %q (line %d), want line %d and %q", err, pe.Line, c.line, c.want)
			}
		})
	}
	if _, err := baseline.Parse(nil, "x.yaml"); err == nil || !strings.Contains(err.Error(), "x.yaml: empty") {
		t.Errorf("empty file: %v", err)
	}
}

func TestNewerVersionRejected(t *testing.T) {
	_, err := baseline.Parse([]byte("# hi\nversion: 2\ncommand: []\nsomething_new: {x: 1}\n"), "b.yaml")
	if err == nil || !errors.Is(err, baseline.ErrNewerFormat) {
		t.Fatalf("got %v, want ErrNewerFormat", err)
	}
	want := "b.yaml:2: written by a newer behavediff (format 2; this one reads up to 1); upgrade behavediff"
	if err.Error() != want {
		t.Errorf("got  %q\nwant %q", err, want)
	}
}

func TestUnionMarksOptional(t *testing.T) {
	a := baselinetest.Benign(1)
	b := baselinetest.Benign(2)
	b.Read(1, "/etc/hosts")
	c := baselinetest.Benign(3)
	c.Read(1, "/etc/hosts")
	c.Exec(0, "/usr/bin/git", "git", "describe")
	ba := mustFromTrace(t, a.T, baseline.Options{})
	u := baseline.Union(ba, mustFromTrace(t, b.T, baseline.Options{}), mustFromTrace(t, c.T, baseline.Options{}))
	if u.Runs != 3 {
		t.Errorf("Runs = %d, want 3", u.Runs)
	}
	var hosts *baseline.Entry
	for i, e := range u.Files.Read {
		if e.Value == "/etc/hosts" {
			hosts = &u.Files.Read[i]
		} else if e.Optional {
			t.Errorf("%s marked optional but seen in every run", e.Value)
		}
	}
	if hosts == nil || !hosts.Optional {
		t.Errorf("/etc/hosts: got %+v, want optional", hosts)
	}
	found := false
	for _, p := range u.Processes {
		if p.Exe == "/usr/bin/git" {
			found = p.Optional
		} else if p.Optional {
			t.Errorf("process %s marked optional", p.Chain)
		}
	}
	if !found {
		t.Error("git process not optional")
	}
	// Union of identical baselines is the baseline itself (with Runs summed).
	same := baseline.Union(ba, mustFromTrace(t, baselinetest.Benign(9).T, baseline.Options{}))
	same.Runs = 1
	if d := cmp.Diff(ba, same, ignoreUnexported, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("Union of equal baselines changed them:\n%s", d)
	}
}

func TestSaveLoad(t *testing.T) {
	b := mustFromTrace(t, baselinetest.Benign(4).T, baseline.Options{})
	file := filepath.Join(t.TempDir(), ".behavediff", "baselines", "build.yaml")
	if err := b.Save(file); err != nil {
		t.Fatal(err)
	}
	got, err := baseline.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(b, got, ignoreUnexported, cmpopts.EquateEmpty()); d != "" {
		t.Error(d)
	}
	// Saving again replaces the file atomically and leaves no temp file.
	if err := b.Save(file); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Dir(file))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if d := cmp.Diff([]string{"build.yaml"}, names); d != "" {
		t.Errorf("Save left files behind (-want +got):\n%s", d)
	}
	if _, err := baseline.Load(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Error("no error for a missing file")
	}
}

func TestFileClassification(t *testing.T) {
	bl := baselinetest.New(1, "/ws", "x")
	p := bl.Exec(-1, "/bin/x", "x")
	bl.Read(p, "/ws/in")
	bl.Open(p, "/ws/rw", baselinetest.ORdwr, 3)
	bl.Open(p, "/ws/excl", baselinetest.OWronly|baselinetest.OCreat|baselinetest.OExcl, 3)
	bl.Open(p, "/ws/new", baselinetest.OWronly|baselinetest.OCreat, 3)
	bl.Change("/ws/new", "created", false)
	bl.Open(p, "/ws/existing", baselinetest.OWronly|baselinetest.OCreat|baselinetest.OTrunc, 3)
	bl.Open(p, "/root/.ssh/id_rsa", baselinetest.ORdonly, baselinetest.EACCES)
	bl.Open(p, "/root/.aws/credentials", baselinetest.ORdonly, baselinetest.ENOENT)
	bl.Read(p, "/root/.aws/credentials")
	bl.File(p, store.FileUnlink, "/ws/gone", 0, 0)
	bl.File2(p, store.FileRename, "/ws/a.tmp", "/ws/a", 0)
	bl.File2(p, store.FileSymlink, "/etc/passwd", "/ws/l", 0)
	bl.File2(p, store.FileLink, "/ws/a", "/ws/hard", 0)
	bl.Chmod(p, "/ws/run", 0o104755)
	bl.File(p, store.FileMkdir, "/ws", 0, baselinetest.EEXIST)
	bl.File(p, store.FileMemfd, "memfd:jit-12345", 0, 3)
	bl.File(p, store.FileStat, "/ws/statted", 0, 0)
	b := mustFromTrace(t, bl.T, baseline.Options{})
	e := func(vs ...string) []baseline.Entry {
		var out []baseline.Entry
		for _, v := range vs {
			out = append(out, baseline.Entry{Value: v})
		}
		return out
	}
	want := baseline.Files{
		Read:   []baseline.Entry{{Value: "$HOME/.aws/credentials"}, {Value: "$HOME/.ssh/id_rsa", Failed: true}, {Value: "$WORKSPACE/in"}},
		Write:  e("$WORKSPACE/existing", "$WORKSPACE/rw"),
		Create: e("$WORKSPACE/excl", "$WORKSPACE/new"),
		Delete: e("$WORKSPACE/gone"),
		Chmod:  []baseline.Entry{{Value: "$WORKSPACE/run", Mode: "4755"}},
		Rename: []baseline.Entry{{Value: "$WORKSPACE/a.tmp", To: "$WORKSPACE/a"}},
		Exec:   e("/bin/x"),
		Other: []baseline.Entry{
			{Op: "link", Value: "$WORKSPACE/hard", To: "$WORKSPACE/a"},
			{Op: "symlink", Value: "$WORKSPACE/l", To: "/etc/passwd"},
			{Op: "memfd", Value: "memfd:jit-*"},
		},
	}
	if d := cmp.Diff(want, b.Files, ignoreUnexported, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("files (-want +got):\n%s", d)
	}
	if got := b.Files.Read[0].Process(); got != "/bin/x" {
		t.Errorf("Process() = %q", got)
	}
}

func TestNetworkNormalisation(t *testing.T) {
	bl := baselinetest.New(1, "/ws", "x")
	p := bl.Exec(-1, "/usr/bin/curl", "curl")
	q := bl.Exec(-1, "/usr/bin/nc", "nc")
	bl.DNS(p, "Example.COM.", 1)
	bl.Answer(p, "Example.COM.", "93.184.216.34")
	bl.Answer(p, "Example.COM.", "2606:2800:220:1::1")
	bl.Connect(p, "93.184.216.34", 443, baselinetest.ENETUNREACH)
	bl.Connect(p, "2606:2800:220:1::1", 443, baselinetest.ENETUNREACH)
	bl.Connect(p, "198.51.100.66", 443, baselinetest.ENETUNREACH) // after the lookup, but not its answer
	bl.Connect(q, "10.0.0.1", 8080, baselinetest.ENETUNREACH)     // no DNS in this process
	bl.Connect(q, "2606:2800:220:1::1", 80, 0)                    // answered to another process: same name
	bl.Net(p, store.NetSend, 2, 2, "127.0.0.53", 53, 0)           // resolver: never keyed by name
	bl.Net(q, store.NetBind, 2, 2, "0.0.0.0", 5353, 0)            // UDP server
	bl.Net(q, store.NetBind, 2, 1, "0.0.0.0", 8080, 0)
	bl.Net(q, store.NetListen, 2, 1, "", 0, 0) // address from the bind
	bl.Net(q, store.NetListen, 10, 1, "::", 45000, 0)
	bl.Net(q, store.NetConnect, 1, 1, "/run/user/12345/bus", 0, 0)
	bl.Net(q, store.NetConnect, 1, 1, "@/tmp/.X11-unix/X0", 0, 0)
	b := mustFromTrace(t, bl.T, baseline.Options{})
	got := map[string][]string{}
	for _, s := range b.Sections() {
		if strings.HasPrefix(s.Name, "network.") {
			for _, e := range *s.Entries {
				got[s.Name] = append(got[s.Name], e.Value)
			}
		}
	}
	want := map[string][]string{
		"network.egress": {"10.0.0.1:8080", "127.0.0.53:53/udp", "198.51.100.66:443", "example.com:443", "example.com:80"},
		"network.listen": {"0.0.0.0:5353/udp", "0.0.0.0:8080", "[::]:*"},
		"network.dns":    {"example.com"},
		"network.unix":   {"/run/user/*/bus", "@/tmp/.X11-unix/X0"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("network (-want +got):\n%s", d)
	}
}

func TestAllowedAndMatch(t *testing.T) {
	b := &baseline.Baseline{Allow: map[string][]string{"files": {"$HOME/.cache/**"}, "network.egress": {"*.pypi.org:443"}}}
	for _, c := range []struct {
		sec, v string
		want   bool
	}{
		{"files.write", "$HOME/.cache/pip/x/y", true},
		{"files.read", "$HOME/.cache", false},
		{"network.egress", "files.pypi.org:443", true},
		{"network.egress", "pypi.org:443", false},
		{"network.dns", "files.pypi.org", false},
	} {
		if got := b.Allowed(c.sec, c.v); got != c.want {
			t.Errorf("Allowed(%s, %s) = %v", c.sec, c.v, got)
		}
	}
	for _, c := range []struct {
		p, s string
		want bool
	}{
		{"/tmp/*/x", "/tmp/abc/x", true},
		{"/tmp/*/x", "/tmp/a/b/x", false},
		{"/tmp/**/x", "/tmp/a/b/x", true},
		{"/tmp/**", "/tmp/a/b", true},
		{"**/.env", "/a/b/.env", true},
		{"*", "a/b", false},
		{"/a/b", "/a/b", true},
		{"tmp*", "tmp*", true},
	} {
		if got := baseline.Match(c.p, c.s); got != c.want {
			t.Errorf("Match(%q, %q) = %v", c.p, c.s, got)
		}
	}
}

// Process numbers index a slice when they are small, as the recorder
// writes them, and a map otherwise: a trace renumbered sparsely normalises
// to the same baseline, chains included.
func TestSparseProcessNumbers(t *testing.T) {
	for seed := uint64(1); seed <= 3; seed++ {
		b := baselinetest.Benign(seed)
		b.Read(1, "/root/.ssh/id_rsa")
		b.Connect(1, "203.0.113.7", 443, 0)
		dense := b.T
		want := mustFromTrace(t, dense, baseline.Options{})
		for _, renum := range []func(int32) int32{
			func(i int32) int32 { return i*1_000_003 + 7 },
			func(i int32) int32 { return i + 1<<30 },
		} {
			tr := *dense
			m := func(i int32) int32 {
				if i < 0 {
					return i
				}
				return renum(i)
			}
			tr.Processes = append([]store.Process(nil), dense.Processes...)
			for i := range tr.Processes {
				tr.Processes[i].Idx, tr.Processes[i].ParentIdx = m(tr.Processes[i].Idx), m(tr.Processes[i].ParentIdx)
			}
			tr.Files = append([]store.FileEvent(nil), dense.Files...)
			for i := range tr.Files {
				tr.Files[i].Proc = m(tr.Files[i].Proc)
			}
			tr.Net = append([]store.NetEvent(nil), dense.Net...)
			for i := range tr.Net {
				tr.Net[i].Proc = m(tr.Net[i].Proc)
			}
			tr.Syscalls = append([]store.SyscallCount(nil), dense.Syscalls...)
			for i := range tr.Syscalls {
				tr.Syscalls[i].Proc = m(tr.Syscalls[i].Proc)
			}
			got := mustFromTrace(t, &tr, baseline.Options{})
			if d := cmp.Diff(want, got, ignoreUnexported); d != "" {
				t.Fatalf("seed %d: renumbered processes changed the baseline (-dense +sparse):\n%s", seed, d)
			}
			for _, s := range want.Sections() {
				gs := got.Section(s.Name)
				for i, e := range *s.Entries {
					if e.Process() != gs[i].Process() {
						t.Fatalf("seed %d: %s %s: process %q, renumbered %q", seed, s.Name, e.Value, e.Process(), gs[i].Process())
					}
				}
			}
		}
	}
}

// The compiled allow list answers as Allowed, for a section's own list and
// its group's.
func TestAllowListIsAllowed(t *testing.T) {
	b := &baseline.Baseline{Allow: map[string][]string{
		"files":          {"/var/cache/**", "$WORKSPACE/build/*"},
		"files.read":     {"/srv/data/*.csv"},
		"network.egress": {"*.pypi.org:443", "198.51.100.*:443"},
		"processes":      {"/usr/bin/make"},
	}}
	al := b.AllowList()
	sections := []string{"files.read", "files.write", "network.egress", "network.dns", "processes", "env"}
	values := []string{"/var/cache/apt/x", "$WORKSPACE/build/a.o", "$WORKSPACE/build/sub/a.o", "/srv/data/x.csv", "/srv/data/x/y.csv",
		"files.pypi.org:443", "pypi.org:443", "198.51.100.7:443", "198.51.100.7:80", "/usr/bin/make", "/usr/bin/make2", ""}
	n := 0
	for _, s := range sections {
		for _, v := range values {
			want := b.Allowed(s, v)
			if got := al.Allowed(s, v); got != want {
				t.Errorf("AllowList().Allowed(%q, %q) = %v, Allowed says %v", s, v, got, want)
			}
			if want {
				n++
			}
		}
	}
	if n < 8 {
		t.Errorf("only %d allowed pairs: the cases test little", n)
	}
	if (&baseline.Baseline{}).AllowList().Allowed("files.read", "/x") {
		t.Error("an empty allow list allows")
	}
}
