package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/behavediff/behavediff/store"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runCLIB(args...)
}

// runCLIB runs the CLI in-process with captured output.
func runCLIB(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
	code := a.run(context.Background(), args)
	return code, out.String(), errb.String()
}

// Bad input never panics, exits 125 with one clear line, and leaves no run.
func TestRecordBadInput(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "not.db")
	os.WriteFile(notDB, []byte("this is not a database, just text that is long enough to look like a header ........................................."), 0o644)
	corrupt := filepath.Join(dir, "corrupt.db")
	{
		db, err := store.Open(context.Background(), corrupt)
		if err != nil {
			t.Fatal(err)
		}
		db.Close()
		b, _ := os.ReadFile(corrupt)
		for i := 100; i < len(b); i++ {
			b[i] = 0xA5
		}
		os.WriteFile(corrupt, b, 0o644)
		os.Remove(corrupt + "-wal")
		os.Remove(corrupt + "-shm")
	}
	aFile := filepath.Join(dir, "file")
	os.WriteFile(aFile, nil, 0o644)
	goodDB := filepath.Join(dir, "good.db")

	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", []string{"record", "--db", goodDB}, "no command given"},
		{"no command after --", []string{"record", "--db", goodDB, "--"}, "no command given"},
		{"unknown flag", []string{"record", "--bogus", "--", "true"}, "flag provided but not defined: -bogus"},
		{"missing workspace", []string{"record", "--db", goodDB, "--workspace", filepath.Join(dir, "nope"), "--", "true"}, "no such file or directory"},
		{"workspace is a file", []string{"record", "--db", goodDB, "--workspace", aFile, "--", "true"}, "is not a directory"},
		{"bad env", []string{"record", "--db", goodDB, "--env", "NOEQUALS", "--", "true"}, "want NAME=VALUE"},
		{"bad name", []string{"record", "--db", goodDB, "--name", "../x", "--", "true"}, "bad spec name"},
		{"unwritable db", []string{"record", "--db", filepath.Join(aFile, "traces.db"), "--", "true"}, "traces.db"},
		{"not a database", []string{"record", "--db", notDB, "--", "true"}, "not a behavediff trace database"},
		{"corrupt database", []string{"record", "--db", corrupt, "--", "true"}, corrupt},
		{"unknown command", []string{"recrod"}, "unknown command"},
		{"bad disk size", []string{"record", "--db", goodDB, "--disk", "lots", "--", "true"}, "--disk: bad size"},
		{"tiny disk", []string{"record", "--db", goodDB, "--disk", "1M", "--", "true"}, "below the 64 MiB minimum"},
		{"bad tmpfs size", []string{"record", "--db", goodDB, "--tmpfs-size", "-1G", "--", "true"}, "--tmpfs-size: bad size"},
		{"negative cpus", []string{"record", "--db", goodDB, "--cpus", "-1", "--", "true"}, "--cpus -1 is negative"},
		{"bad user", []string{"record", "--db", goodDB, "--user", "alice", "--", "true"}, "want UID or UID:GID"},
		{"user outside the namespace", []string{"record", "--db", goodDB, "--user", "70000", "--", "true"}, "outside the sandbox's user namespace"},
		{"bad userns", []string{"record", "--db", goodDB, "--userns", "maybe", "--", "true"}, "bad --userns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCLI(t, tt.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d; stderr: %s", code, exitUsage, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr %q does not mention %q", stderr, tt.want)
			}
		})
	}
	// None of that left a run behind.
	if _, err := os.Stat(goodDB); err == nil {
		db, err := store.OpenReadOnly(context.Background(), goodDB)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		runs, err := db.Runs(context.Background())
		if err != nil || len(runs) != 0 {
			t.Errorf("runs after bad input: %v %v", runs, err)
		}
	}
}

func TestHelpTeaches(t *testing.T) {
	for _, cmd := range []string{"record", "query", "show", "check", "approve", "diff", "replay", "runs", "review", "init", "completion"} {
		// Asked for, help goes to stdout (check --help | less); "help CMD" is the same.
		for _, args := range [][]string{{cmd, "--help"}, {"help", cmd}} {
			code, stdout, _ := runCLI(t, args...)
			if code != exitOK {
				t.Errorf("%q: exit %d", args, code)
			}
			if !strings.Contains(stdout, "Usage: behavediff "+cmd) || !strings.Contains(stdout, "Flags:") {
				t.Errorf("%q does not teach on stdout:\n%s", args, stdout)
			}
		}
	}
	if code, out, _ := runCLI(t, "help"); code != 0 || !strings.Contains(out, "behavediff record") {
		t.Errorf("help: %d %s", code, out)
	}
}
