package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var ctx = context.Background()

func openTemp(t testing.TB) (*DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sub", "traces.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, path
}

// sampleTrace is a small but complete trace touching every field.
func sampleTrace() *Trace {
	start := time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.UTC)
	return &Trace{
		Run: Run{
			Name:        "build",
			Command:     []string{"sh", "-c", "make && curl https://example.com"},
			Workspace:   "/home/u/proj",
			StartedAt:   start,
			EndedAt:     start.Add(2500 * time.Millisecond),
			ExitCode:    3,
			Status:      StatusIncomplete,
			LostEvents:  7,
			LostByClass: map[string]int64{"file": 5, "net": 2},
			Spec:        []byte(`{"name":"build"}`),
			Stdout:      []byte("hello\n"),
			Stderr:      []byte{0xff, 0xfe, 'x'},
			StdoutCap:   1 << 20,
			StderrCap:   1 << 20,
			StderrTrunc: true,
			ToolVersion: "v0.1.0",
		},
		Processes: []Process{
			{Idx: 0, Pid: 100, Ppid: 90, ParentIdx: -1, Exe: "/bin/sh", Argv: []string{"sh", "-c", "make"}, Cwd: "/home/u/proj", UID: 1000,
				Chain: "/bin/sh", StartedAt: 0, ExitedAt: 2_400_000_000, Exited: true, ExitCode: 3},
			{Idx: 1, Pid: 101, Ppid: 100, ParentIdx: 0, Exe: "/usr/bin/curl", Argv: []string{"curl", "https://example.com"}, Cwd: "/home/u/proj",
				Chain: "/bin/sh > /usr/bin/curl", StartedAt: 1_000_000, ExitedAt: 2_000_000_000, Exited: true, ExitSignal: 9},
			{Idx: 2, Pid: 102, Ppid: 100, ParentIdx: 0, Exe: "", Cwd: "", Chain: "/bin/sh > ?", StartedAt: 5},
		},
		Files: []FileEvent{
			{Proc: 0, Op: FileExec, Path: "/bin/sh", TS: 10},
			{Proc: 0, Op: FileOpen, Path: "/etc/passwd", Flags: 0x80000, Result: 3, TS: 20},
			{Proc: 0, Op: FileOpen, Path: "/etc/shadow", Result: -13, TS: 30},
			{Proc: 1, Op: FileOpen, Path: "/home/u/proj/out.txt", Flags: 0x241, Mode: 0o644, Result: 4, TS: 40},
			{Proc: 1, Op: FileRename, Path: "/home/u/proj/out.txt", Path2: "/home/u/proj/final.txt", TS: 50},
			{Proc: 1, Op: FileChmod, Path: "/home/u/proj/final.txt", Mode: 0o4755, TS: 60},
			{Proc: 2, Op: FileUnlink, Path: "/tmp/x", Result: -2, TS: 70},
			{Proc: 1, Op: FileMemfd, Path: "memfd:jit", TS: 3_000_000_000_000},
		},
		Net: []NetEvent{
			{Proc: 1, Op: NetSocket, Family: 2, SockType: 2, Result: 5, TS: 100},
			{Proc: 1, Op: NetDNS, Family: 2, SockType: 2, Address: "127.0.0.53", Port: 53, Domain: "example.com", QType: 1, Result: 29, TS: 110},
			{Proc: 1, Op: NetConnect, Family: 10, SockType: 1, Address: "2001:db8::1", Port: 443, Domain: "example.com", Result: -101, TS: 120},
			{Proc: 1, Op: NetConnect, Family: 1, SockType: 1, Address: "/run/docker.sock", Result: -2, TS: 130},
		},
		Priv: []PrivEvent{
			{Proc: 0, Syscall: "unshare", Args: "flags=CLONE_NEWUSER|CLONE_NEWNET", Result: -1, TS: 200},
			{Proc: 1, Syscall: "setuid", Args: "uid=0", Result: 0, TS: 210},
		},
		Syscalls: []SyscallCount{
			{Proc: 0, Name: "openat", Count: 10, Errors: 1},
			{Proc: 0, Name: "read", Count: 100},
			{Proc: 1, Name: "connect", Count: 2, Errors: 2},
		},
		Changes: []FSChange{
			{Path: "/home/u/proj/final.txt", Change: "created", Size: 12, SHA256: "ab12"},
			{Path: "/home/u/proj/old", Change: "deleted", Size: -1},
			{Path: "/home/u/proj/dir", Change: "created", Size: -1, IsDir: true},
		},
		Proxy: []ProxyRequest{
			{Proc: 1, Pid: 101, TS: 105, Protocol: ProxyDNS, Host: "example.com", Method: "A", BytesUp: 29, BytesDown: 45,
				Allowed: true, Via: "127.0.0.53:53"},
			{Proc: 1, Pid: 101, TS: 115, Protocol: ProxyConnect, Host: "example.com", Port: 443, Method: "CONNECT", SNI: "example.com",
				BytesUp: 517, BytesDown: 4096, Allowed: true, Status: 200, Via: "127.0.0.1:3128"},
			{Proc: 1, Pid: 101, TS: 120, Protocol: ProxyDNS, Host: "evil.example", Method: "AAAA", BytesUp: 30, BytesDown: 30,
				Reason: "name not allowed by the egress policy", Status: 3, Via: "127.0.0.53:53"},
			{Proc: -1, TS: 125, Protocol: ProxyHTTP, Host: "evil.example", Port: 80, Method: "POST",
				Reason: "not allowed by the egress policy", Status: 403, Via: "127.0.0.1:3128"},
		},
	}
}

// writeTrace stores tr through a RunWriter, as the recorder does, and sets
// tr.Run.ID.
func writeTrace(t testing.TB, db *DB, tr *Trace) int64 {
	t.Helper()
	r := tr.Run
	w, err := db.BeginRun(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	// Interleave the three kinds as a recorder would.
	fi, ni, pi := 0, 0, 0
	for fi < len(tr.Files) || ni < len(tr.Net) || pi < len(tr.Priv) {
		if fi < len(tr.Files) {
			if err := w.AddFile(tr.Files[fi]); err != nil {
				t.Fatal(err)
			}
			fi++
		}
		if ni < len(tr.Net) {
			if err := w.AddNet(tr.Net[ni]); err != nil {
				t.Fatal(err)
			}
			ni++
		}
		if pi < len(tr.Priv) {
			if err := w.AddPriv(tr.Priv[pi]); err != nil {
				t.Fatal(err)
			}
			pi++
		}
	}
	err = w.Finish(ctx, Final{
		Processes: tr.Processes, Syscalls: tr.Syscalls, Changes: tr.Changes,
		ExitCode: r.ExitCode, Status: r.Status, LostByClass: r.LostByClass,
		Stdout: r.Stdout, Stderr: r.Stderr, StdoutTrunc: r.StdoutTrunc, StderrTrunc: r.StderrTrunc,
		EndedAt: r.EndedAt, Proxy: tr.Proxy,
	})
	if err != nil {
		t.Fatal(err)
	}
	tr.Run.ID = w.ID()
	return w.ID()
}

func TestRoundTrip(t *testing.T) {
	db, _ := openTemp(t)
	want := sampleTrace()
	id := writeTrace(t, db, want)
	got, err := db.LoadTrace(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("LoadTrace mismatch (-want +got):\n%s", d)
	}
}

func TestRoundTripMany(t *testing.T) {
	// More than one batch and more than one statement per batch, with
	// strings shared and new across batches.
	db, _ := openTemp(t)
	tr := sampleTrace()
	tr.Files = nil
	for i := 0; i < 3*batchRows+17; i++ {
		tr.Files = append(tr.Files, FileEvent{Proc: int32(i % 3), Op: FileOpen, Path: fmt.Sprintf("/p/%d", i%1500), Result: int64(i%5) - 2, TS: int64(i) * 1000})
	}
	id := writeTrace(t, db, tr)
	got, err := db.LoadTrace(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(tr, got, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("LoadTrace mismatch (-want +got):\n%s", d)
	}
}

func TestRoundTripExtremes(t *testing.T) {
	db, _ := openTemp(t)
	tr := &Trace{
		Run: Run{Command: []string{"x"}, StartedAt: time.Unix(0, 1), EndedAt: time.Unix(1<<32, 999999999), Status: StatusTimeout, ExitCode: 137, ReplayOf: 0},
		Files: []FileEvent{
			{Proc: -1, Op: FileStat, Path: "/ünïcödé/☃ path with spaces", Path2: "/'quote\"", Flags: 0xFFFFFFFF, Mode: 0xFFFFFFFF, Result: -4095, TS: 1<<62 + 1},
			{Proc: 1 << 30, Op: FileOpen, Path: "/", Result: 1<<62 - 1, TS: -1},
		},
		Net:  []NetEvent{{Proc: 7, Op: NetDNS, Family: 0xFFFF, SockType: 0xFFFF, Port: 0xFFFF, QType: 0xFFFF, Address: "::", Domain: "a.b", Result: -1 << 40, TS: 0}},
		Priv: []PrivEvent{{Proc: 3, Syscall: "bpf", Args: "", Result: 0}},
	}
	id := writeTrace(t, db, tr)
	got, err := db.LoadTrace(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(tr, got, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("LoadTrace mismatch (-want +got):\n%s", d)
	}
}
