package store

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

// TestHelperWriterProcess is not a test: TestTwoRecorderProcesses runs the
// test binary again with STORE_TEST_WRITER=path,k to write one run.
func TestHelperWriterProcess(t *testing.T) {
	spec := os.Getenv("STORE_TEST_WRITER")
	if spec == "" {
		t.Skip("helper process only")
	}
	var path string
	var k int
	if _, err := fmt.Sscanf(spec, "%d,%s", &k, &path); err != nil {
		t.Fatal(err)
	}
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w, err := db.BeginRun(ctx, Run{Name: "proc" + strconv.Itoa(k), Command: []string{"w"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 40000; i++ {
		if err := w.AddFile(FileEvent{Op: FileOpen, Path: fmt.Sprintf("/shared/%d", i%300), TS: int64(i)}); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			w.AddNet(NetEvent{Op: NetConnect, Family: 2, Address: fmt.Sprintf("10.0.%d.%d", k, i%200), Port: 443})
		}
	}
	if err := w.Finish(ctx, Final{Status: StatusOK}); err != nil {
		t.Fatal(err)
	}
}

// Two recorder processes (plus this one) write the same fresh file at once.
func TestTwoRecorderProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	path := filepath.Join(t.TempDir(), "traces.db")
	var cmds []*exec.Cmd
	for k := 1; k <= 2; k++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperWriterProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("STORE_TEST_WRITER=%d,%s", k, path))
		out, err := os.CreateTemp(t.TempDir(), "out")
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	own := writeTrace(t, db, sampleTrace())
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			b, _ := os.ReadFile(cmd.Stdout.(*os.File).Name())
			t.Fatalf("writer process: %v\n%s", err, b)
		}
	}
	res, err := db.Query(ctx, "SELECT name, status, file_event_count, net_event_count FROM runs ORDER BY name")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 3 {
		t.Fatalf("runs: %v", res.Rows)
	}
	for _, r := range res.Rows {
		if r[0] == "build" {
			continue
		}
		if r[1] != StatusOK || r[2] != int64(40000) || r[3] != int64(4000) {
			t.Errorf("run %v", r)
		}
	}
	if _, err := db.LoadTrace(ctx, own); err != nil {
		t.Fatal(err)
	}
}
