package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/behavediff/behavediff/store"
)

// buildCLI builds the behavediff command into a temporary directory.
func buildCLI(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "behavediff")
	if msg, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, msg)
	}
	return bin
}

// waitRunning polls the database until a run is recording.
func waitRunning(t *testing.T, db string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if d, err := store.OpenReadOnly(context.Background(), db); err == nil {
			runs, _ := d.Runs(context.Background())
			d.Close()
			if len(runs) == 1 && runs[0].Status == store.StatusRunning {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the run never started")
}

func onlyRun(t *testing.T, db string) store.Run {
	t.Helper()
	d, err := store.OpenReadOnly(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	runs, err := d.Runs(context.Background())
	if err != nil || len(runs) != 1 {
		t.Fatalf("runs %v %v", runs, err)
	}
	return runs[0]
}

// Killing behavediff never leaves a run that looks complete: SIGTERM is
// handled (the sandbox is killed, the run stored as interrupted, exit 130);
// after SIGKILL the run reads as interrupted and the next record sweeps the
// orphaned sandbox.
func TestKilledRecorder(t *testing.T) {
	requireRoot(t)
	bin := buildCLI(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			db := filepath.Join(dir, "t.db")
			cmd := exec.Command(bin, "record", "--db", db, "--workspace", dir, "--", "/bin/sleep", "60")
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitRunning(t, db)
			time.Sleep(300 * time.Millisecond)
			cmd.Process.Signal(sig)
			err := cmd.Wait()
			code := cmd.ProcessState.ExitCode()
			if sig == syscall.SIGTERM && code != 130 {
				t.Errorf("exit %d (%v), want 130", code, err)
			}
			if r := onlyRun(t, db); r.Status != store.StatusInterrupted {
				t.Errorf("run status %s after %s, want interrupted", r.Status, sig)
			}
			if sig == syscall.SIGKILL {
				// The next record removes the sandbox the killed one left.
				out, err := exec.Command(bin, "record", "--db", filepath.Join(dir, "t2.db"), "--workspace", dir, "--", "/bin/true").CombinedOutput()
				if err != nil {
					t.Fatalf("next record: %v\n%s", err, out)
				}
				if got := string(out); !strings.Contains(got, "removed 1 sandbox(es) left by interrupted runs") {
					t.Errorf("next record did not sweep the orphan:\n%s", got)
				}
			}
		})
	}
}
