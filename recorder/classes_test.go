package recorder

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/net/dns/dnsmessage"

	"github.com/behavediff/behavediff/internal/linux"
	"github.com/behavediff/behavediff/store"
)

// recordScript copies testdata/classes/NAME into a fresh workspace and
// records `python3 NAME` there.
func recordScript(t *testing.T, name string) recorded {
	t.Helper()
	ws := t.TempDir()
	src, err := os.ReadFile(filepath.Join("..", "testdata", "classes", name))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(ws, name), string(src))
	r := record(t, ws, Spec{Args: []string{"/usr/bin/python3", name}}, nil)
	if r.res.ExitCode != 0 || r.res.Status != store.StatusOK {
		t.Fatalf("%s: exit %d status %s\nstdout %s\nstderr %s", name, r.res.ExitCode, r.res.Status, r.stdout, r.stderr)
	}
	return r
}

type fileWant struct {
	op    store.FileOp
	path  string
	path2 string
	ok    bool // result >= 0
	check func(store.FileEvent) error
}

func TestRecordFileClasses(t *testing.T) {
	requireRoot(t)
	r := recordScript(t, "files.py")
	ws := r.ws
	p := func(rel string) string { return filepath.Join(ws, rel) }
	wants := []fileWant{
		{op: store.FileMkdir, path: p("d"), ok: true},
		{op: store.FileRmdir, path: p("d"), ok: true},
		{op: store.FileLink, path: p("f.txt"), path2: p("hard.txt"), ok: true},
		{op: store.FileSymlink, path: "f.txt", path2: p("soft.txt"), ok: true},
		// Opened through the symlink: the kernel-resolved path is the target.
		{op: store.FileOpen, path: p("f.txt"), ok: true},
		{op: store.FileChmod, path: p("f.txt"), ok: true, check: func(e store.FileEvent) error {
			if e.Mode&0o4000 == 0 {
				return fmt.Errorf("setuid bit not in mode %o", e.Mode)
			}
			return nil
		}},
		{op: store.FileChown, path: p("f.txt")},
		{op: store.FileTruncate, path: p("f.txt"), ok: true},
		{op: store.FileUtimes, path: p("f.txt"), ok: true},
		{op: store.FileMknod, path: p("fifo"), ok: true},
		{op: store.FileMemfd, path: "memfd:sneaky", ok: true},
		{op: store.FileOpen, path: "/proc/self/status", ok: true},
		{op: store.FileOpen, path: p("sub2/rel.txt"), ok: true, check: func(e store.FileEvent) error {
			if e.Flags&0x40 == 0 {
				return fmt.Errorf("O_CREAT missing from flags %#x", e.Flags)
			}
			return nil
		}},
		{op: store.FileRename, path: p("sub2/rel.txt"), path2: p("sub2/renamed.txt"), ok: true},
		{op: store.FileUnlink, path: p("hard.txt"), ok: true},
	}
	for _, w := range wants {
		var found *store.FileEvent
		for i := range r.trace.Files {
			e := r.trace.Files[i]
			if e.Op == w.op && e.Path == w.path && (w.path2 == "" || e.Path2 == w.path2) {
				found = &r.trace.Files[i]
				break
			}
		}
		name := store.FileOpNames[w.op] + " " + w.path
		if found == nil {
			t.Errorf("%s: not recorded", name)
			continue
		}
		if w.ok && found.Result < 0 {
			t.Errorf("%s: result %d, want success", name, found.Result)
		}
		if w.check != nil {
			if err := w.check(*found); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
	}
	if t.Failed() {
		for _, e := range r.trace.Files {
			if strings.HasPrefix(e.Path, ws) || strings.HasPrefix(e.Path, "memfd") || strings.HasPrefix(e.Path, "/proc/self") || strings.HasPrefix(e.Path, "f.txt") {
				t.Logf("  %s %s %s flags=%#x mode=%o res=%d", store.FileOpNames[e.Op], e.Path, e.Path2, e.Flags, e.Mode, e.Result)
			}
		}
	}
}

func TestRecordNetClasses(t *testing.T) {
	requireRoot(t)
	r := recordScript(t, "net.py")
	var port int
	fmt.Sscanf(r.stdout[strings.Index(r.stdout, "net done"):], "net done %d", &port)
	if port == 0 {
		t.Fatalf("no port in output %q", r.stdout)
	}
	has := func(desc string, match func(store.NetEvent) bool) {
		t.Helper()
		for _, e := range r.trace.Net {
			if match(e) {
				return
			}
		}
		t.Errorf("%s: not recorded", desc)
	}
	has("socket(AF_INET, SOCK_STREAM)", func(e store.NetEvent) bool {
		return e.Op == store.NetSocket && e.Family == linux.AF_INET && e.SockType == 1 && e.Result >= 0
	})
	has("bind 127.0.0.1:0", func(e store.NetEvent) bool {
		return e.Op == store.NetBind && e.Address == "127.0.0.1" && e.Port == 0 && e.Result == 0
	})
	has("listen on the bound port", func(e store.NetEvent) bool {
		return e.Op == store.NetListen && e.Port == uint16(port) && e.Result == 0
	})
	has("connect to the listener", func(e store.NetEvent) bool {
		return e.Op == store.NetConnect && e.Address == "127.0.0.1" && e.Port == uint16(port) && e.Result == 0
	})
	has("accept with peer", func(e store.NetEvent) bool {
		return e.Op == store.NetAccept && e.Address == "127.0.0.1" && e.Port != 0 && e.Result >= 0
	})
	has("unconnected sendto 127.0.0.1:9999", func(e store.NetEvent) bool {
		return e.Op == store.NetSend && e.Address == "127.0.0.1" && e.Port == 9999 && e.SockType == 2
	})
	has("unix bind app.sock", func(e store.NetEvent) bool {
		return e.Op == store.NetBind && e.Family == linux.AF_UNIX && strings.HasSuffix(e.Address, "app.sock")
	})
	has("unix connect app.sock", func(e store.NetEvent) bool {
		return e.Op == store.NetConnect && e.Family == linux.AF_UNIX && strings.HasSuffix(e.Address, "app.sock") && e.Result == 0
	})
	has("DNS query for updates.example.com", func(e store.NetEvent) bool {
		return e.Op == store.NetDNS && e.Domain == "updates.example.com" && e.Port == 53 && (e.QType == 1 || e.QType == 28)
	})
	if t.Failed() {
		for _, e := range r.trace.Net {
			t.Logf("  %+v", e)
		}
	}
}

func TestRecordPrivClasses(t *testing.T) {
	requireRoot(t)
	r := recordScript(t, "priv.py")
	want := map[string]string{
		"setuid":         "id=1000",
		"unshare":        "flags=CLONE_NEWUSER|CLONE_NEWNET",
		"mount":          `target="/mnt"`,
		"ptrace":         "request=PTRACE_ATTACH pid=1",
		"prctl":          "option=PR_SET_NO_NEW_PRIVS",
		"personality":    "persona=0x40000",
		"bpf":            "cmd=0",
		"io_uring_setup": "entries=8",
		"chroot":         `path="/tmp"`,
	}
	got := map[string]store.PrivEvent{}
	for _, e := range r.trace.Priv {
		if _, ok := got[e.Syscall]; !ok {
			got[e.Syscall] = e
		}
	}
	for name, args := range want {
		e, ok := got[name]
		if !ok {
			t.Errorf("%s: not recorded", name)
			continue
		}
		if !strings.Contains(e.Args, args) {
			t.Errorf("%s: args %q, want %q in them", name, e.Args, args)
		}
		if name != "prctl" && name != "personality" && e.Result >= 0 {
			t.Errorf("%s: result %d, expected the sandbox to refuse it", name, e.Result)
		}
	}
	if t.Failed() {
		for _, e := range r.trace.Priv {
			t.Logf("  %+v", e)
		}
	}
}

// 200 children each opening 1,000 files concurrently: the stored rows and
// the syscall counts match what the program did, and nothing is lost.
func TestRecordForkOpenFlood(t *testing.T) {
	requireRoot(t)
	ws := t.TempDir()
	bin := buildHelper(t, "forkopen", ws)
	const children, files = 200, 1000
	r := record(t, ws, Spec{Args: []string{bin, strconv.Itoa(children), strconv.Itoa(files)}}, nil)
	if r.res.ExitCode != 0 || !strings.Contains(r.stdout, "failed=0") {
		t.Fatalf("helper: exit %d %q", r.res.ExitCode, r.stdout)
	}
	if r.res.Lost != 0 || r.trace.Run.LostEvents != 0 {
		t.Fatalf("lost %d events", r.res.Lost)
	}
	perProc := map[int32]int{}
	for _, e := range r.trace.Files {
		if e.Op == store.FileOpen && strings.HasPrefix(filepath.Base(e.Path), "fo-") {
			perProc[e.Proc]++
		}
	}
	if len(perProc) != children {
		t.Errorf("%d processes opened fo-* files, want %d", len(perProc), children)
	}
	total := 0
	for _, n := range perProc {
		total += n
		if n != files {
			t.Errorf("a child has %d open rows, want %d", n, files)
			break
		}
	}
	if total != children*files {
		t.Errorf("%d open rows, want %d", total, children*files)
	}
	countBy := map[int32]uint64{}
	for _, s := range r.trace.Syscalls {
		if s.Name == "openat" || s.Name == "open" {
			countBy[s.Proc] += s.Count
		}
	}
	for proc, n := range perProc {
		if countBy[proc] < uint64(n) {
			t.Errorf("process %d: openat count %d < %d rows", proc, countBy[proc], n)
		}
	}
}

// A deliberately tiny ring buffer overflows: the run is incomplete, the lost
// count accounts exactly for what is missing, nothing is silently dropped.
func TestRecordLossAccounting(t *testing.T) {
	requireRoot(t)
	ws := t.TempDir()
	bin := buildHelper(t, "syscall_heavy", ws)
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out bytes.Buffer
	res, err := Record(ctx, db, Options{
		Spec:         Spec{Args: []string{bin, "50000"}, Workspace: ws},
		Stdout:       &out,
		Stderr:       &out,
		RingBufBytes: 4096,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != store.StatusIncomplete || res.Lost == 0 {
		t.Fatalf("status %s lost %d, want incomplete with losses", res.Status, res.Lost)
	}
	tr, err := db.LoadTrace(ctx, res.RunID)
	if err != nil {
		t.Fatal(err)
	}
	if tr.Run.Status != store.StatusIncomplete || tr.Run.LostEvents != res.Lost || tr.Run.LostByClass["file"] == 0 {
		t.Fatalf("stored run: status %s lost %d by class %v", tr.Run.Status, tr.Run.LostEvents, tr.Run.LostByClass)
	}
	var opens, made uint64
	for _, f := range tr.Files {
		if f.Op == store.FileOpen {
			opens++
		}
	}
	for _, s := range tr.Syscalls {
		if s.Name == "openat" || s.Name == "open" || s.Name == "creat" || s.Name == "openat2" {
			made += s.Count
		}
	}
	if opens+uint64(tr.Run.LostByClass["file"]) != made {
		t.Errorf("stored opens %d + lost file events %d != opens made %d", opens, tr.Run.LostByClass["file"], made)
	}
}

// fakeDNS answers every A query on addr (UDP, a loopback address, port 53)
// with answer[name], until the test ends.
func fakeDNS(t *testing.T, addr string, answer map[string]netip.Addr) {
	t.Helper()
	pc, err := net.ListenPacket("udp4", net.JoinHostPort(addr, "53"))
	if err != nil {
		t.Fatalf("fake DNS server on %s:53: %v", addr, err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 512)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true})
			b.StartQuestions()
			b.Question(q)
			b.StartAnswers()
			if a, ok := answer[strings.TrimSuffix(q.Name.String(), ".")]; ok {
				b.AResource(dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}, dnsmessage.AResource{A: a.As4()})
			}
			if msg, err := b.Finish(); err == nil {
				pc.WriteTo(msg, from)
			}
		}
	}()
}

// DNS answers are recorded whichever way the program receives them
// (recvfrom with or without a source address, read, recvmsg). The sandbox
// shares the host's network here, and all traffic stays on loopback: the
// fake server is on 127.83.0.1:53 and the connects go to 127.0.0.x.
func TestRecordDNSAnswers(t *testing.T) {
	requireRoot(t)
	const server = "127.83.0.1"
	answers := map[string]netip.Addr{
		"recvfrom.example": netip.MustParseAddr("127.0.0.21"),
		"recv.example":     netip.MustParseAddr("127.0.0.22"),
		"read.example":     netip.MustParseAddr("127.0.0.23"),
		"recvmsg.example":  netip.MustParseAddr("127.0.0.24"),
	}
	fakeDNS(t, server, answers)
	ws := t.TempDir()
	src, err := os.ReadFile(filepath.Join("..", "testdata", "classes", "dns.py"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(ws, "dns.py"), string(src))
	r := record(t, ws, Spec{Args: []string{"/usr/bin/python3", "dns.py", server}, Network: true}, nil)
	if r.res.ExitCode != 0 || r.res.Status != store.StatusOK {
		t.Fatalf("dns.py: exit %d status %s\nstdout %s\nstderr %s", r.res.ExitCode, r.res.Status, r.stdout, r.stderr)
	}
	got := map[string]string{}
	queried := map[string]bool{}
	for _, e := range r.trace.Net {
		switch e.Op {
		case store.NetDNSAnswer:
			if e.Port != 53 || e.QType != 1 || e.Family != linux.AF_INET {
				t.Errorf("answer row %+v: want port 53, qtype A, family inet", e)
			}
			got[e.Domain] = e.Address
		case store.NetDNS:
			queried[e.Domain] = true
		}
	}
	want := map[string]string{}
	for name, a := range answers {
		want[name] = a.String()
		if !queried[name] {
			t.Errorf("query for %s not recorded", name)
		}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("DNS answers (-want +got):\n%s", d)
	}
	if t.Failed() {
		for _, e := range r.trace.Net {
			t.Logf("  %+v", e)
		}
	}
}
