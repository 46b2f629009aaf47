package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/behavediff/behavediff/internal/golden"
	"github.com/behavediff/behavediff/store"
)

// The show summary is what people read first: keep its layout stable.
func TestShowGolden(t *testing.T) {
	tr := showTrace()
	var buf bytes.Buffer
	if err := writeShow(&buf, tr, 25); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("..", "..", "testdata", "cmd", "show.txt"), buf.Bytes())
}

// show --format json is the documented snake_case schema: names, not codes.
func TestShowJSONGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := writeShowJSON(&buf, showTrace()); err != nil {
		t.Fatal(err)
	}
	golden.Check(t, filepath.Join("..", "..", "testdata", "cmd", "show.json"), buf.Bytes())
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	fe := doc["file_events"].([]any)[4].(map[string]any)
	if fe["op"] != "open" || fe["access"] != "create" || fe["exe"] != "/usr/bin/python3" {
		t.Errorf("file event: %v", fe)
	}
	ne := doc["net_events"].([]any)[1].(map[string]any)
	if ne["op"] != "dns" || ne["qtype"] != "A" || ne["family"] != "inet" {
		t.Errorf("net event: %v", ne)
	}
}

func showTrace() *store.Trace {
	start := time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)
	tr := &store.Trace{
		Run: store.Run{ID: 7, Name: "build", Command: []string{"sh", "build.sh"}, Workspace: "/src/app",
			StartedAt: start, EndedAt: start.Add(1500 * time.Millisecond), ExitCode: 0, Status: store.StatusOK},
		Processes: []store.Process{
			{Idx: 0, Pid: 100, ParentIdx: -1, Exe: "/bin/sh", Argv: []string{"sh", "build.sh"}, Chain: "sh", Exited: true},
			{Idx: 1, Pid: 101, Ppid: 100, ParentIdx: 0, Exe: "/usr/bin/curl", Argv: []string{"curl", "-s", "https://updates.example.com/x"}, Chain: "sh > curl", Exited: true, ExitCode: 6},
			{Idx: 2, Pid: 102, Ppid: 100, ParentIdx: 0, Exe: "/usr/bin/python3", Argv: []string{"python3", "gen.py"}, Chain: "sh > python3", ExitSignal: 9, Exited: true},
		},
		Files: []store.FileEvent{
			{Proc: 0, Op: store.FileExec, Path: "/bin/sh"},
			{Proc: 0, Op: store.FileOpen, Path: "/src/app/build.sh", Result: 3},
			{Proc: 2, Op: store.FileOpen, Path: "/etc/hosts", Result: 3},
			{Proc: 2, Op: store.FileOpen, Path: "/etc/hosts", Result: 3},
			{Proc: 2, Op: store.FileOpen, Path: "/src/app/out/gen.c", Flags: 0x241, Result: 4},
			{Proc: 2, Op: store.FileOpen, Path: "/root/.ssh/id_rsa", Result: -2},
			{Proc: 2, Op: store.FileUnlink, Path: "/etc/motd", Result: -30},
		},
		Net: []store.NetEvent{
			{Proc: 1, Op: store.NetSocket, Family: 2, SockType: 1, Result: 3},
			{Proc: 1, Op: store.NetDNS, Family: 2, Address: "127.0.0.53", Port: 53, Domain: "updates.example.com", QType: 1, Result: 37},
			{Proc: 1, Op: store.NetConnect, Family: 2, Address: "203.0.113.5", Port: 443, Result: -101},
		},
		Priv: []store.PrivEvent{{Proc: 2, Syscall: "unshare", Args: "flags=CLONE_NEWUSER", Result: -1}},
		Syscalls: []store.SyscallCount{
			{Proc: 0, Name: "openat", Count: 40, Errors: 3}, {Proc: 2, Name: "openat", Count: 10},
			{Proc: 1, Name: "connect", Count: 1, Errors: 1},
		},
		Changes: []store.FSChange{{Path: "/src/app/out/gen.c", Change: "created", Size: 12, SHA256: "0123456789abcdef0123"}},
	}
	return tr
}
