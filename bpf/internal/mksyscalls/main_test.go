package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The committed files are what the generator makes of the pinned tables
// (make check-generate checks this too, but needs clang for the objects).
func TestCommittedFilesCurrent(t *testing.T) {
	bpfDir := filepath.Join("..", "..")
	inc, out := t.TempDir(), t.TempDir()
	events, err := os.ReadFile(filepath.Join(bpfDir, "include", "events.h"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(inc, "events.h"), events, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(filepath.Join(bpfDir, "testdata", "syscalls"), inc, out); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"zsyscalls_amd64.go", "zsyscalls_arm64.go", "zcompat_amd64.go", "zsysid.go", "include/nr_table.h"} {
		gen := filepath.Join(out, f)
		if dir, name, ok := strings.Cut(f, "/"); ok && dir == "include" {
			gen = filepath.Join(inc, name)
		}
		want, err := os.ReadFile(gen)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(bpfDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("bpf/%s is stale: run go generate ./bpf", f)
		}
	}
}

func TestParseRejects(t *testing.T) {
	if _, err := parseUnistd([]byte("#define __NR_a 1\n#define __NR_b 1\n")); err == nil {
		t.Error("two names for one number accepted")
	}
	if _, err := parseXSys([]byte("\tSYS_A = 1\n\tSYS_A = 2\n")); err == nil {
		t.Error("two numbers for one name accepted")
	}
	if got, err := parseXSys([]byte("\tSYS_NEWFSTATAT = 262\n\tSYS_X = 0x10\n")); err != nil || len(got) != 1 || got[262] != "newfstatat" {
		t.Errorf("parseXSys = %v, %v", got, err)
	}
	dir := t.TempDir()
	for name, enum := range map[string]string{
		"value":    "enum sc_id {\n SC_NONE = 0, SC_open = 5, SC_MAX,\n};",
		"prefix":   "enum sc_id {\n SC_NONE = 0, open, SC_MAX,\n};",
		"no none":  "enum sc_id {\n SC_open, SC_MAX,\n};",
		"no max":   "enum sc_id {\n SC_NONE = 0, SC_open,\n};",
		"no enum":  "enum other { A };",
		"too many": "enum sc_id {\n SC_NONE = 0," + strings.Repeat(" SC_x,", 256) + " SC_MAX,\n};",
	} {
		p := filepath.Join(dir, "events.h")
		if err := os.WriteFile(p, []byte(enum), 0o644); err != nil {
			t.Fatal(err)
		}
		if ids, err := readIDs(p); err == nil {
			t.Errorf("%s: accepted, ids %v", name, ids)
		}
	}
}

func TestGoName(t *testing.T) {
	for in, want := range map[string]string{"process_vm_readv": "SysProcessVmReadv", "umount2": "SysUmount2", "NONE": "SysNone"} {
		if got := goName(in); got != want {
			t.Errorf("goName(%q) = %q, want %q", in, got, want)
		}
	}
}
