package baseline_test

import (
	"fmt"

	"github.com/behavediff/behavediff/baseline"
	"github.com/behavediff/behavediff/baseline/baselinetest"
	"github.com/behavediff/behavediff/store"
)

// FromTrace turns a recorded trace into a baseline: events grouped by what
// they did, the workspace and the random temp name normalised away, the stat
// of /etc/passwd not behaviour at all.
func ExampleFromTrace() {
	b := baselinetest.New(1, "/ws", "make")
	mk := b.Exec(-1, "/usr/bin/make", "make")
	b.Read(mk, "/ws/Makefile")
	cc := b.Exec(b.Fork(mk), "/usr/bin/cc", "cc", "-c", "main.c")
	b.Read(cc, "/ws/main.c")
	b.Open(cc, "/tmp/cc"+b.RandName(6, "abcdefghijklmnopqrstuvwxyz")+".s", baselinetest.OWronly|baselinetest.OCreat|baselinetest.OExcl, 3)
	b.Write(cc, "/ws/main.o")
	b.Connect(cc, "203.0.113.5", 443, 0)
	b.File(cc, store.FileStat, "/etc/passwd", 0, 0)

	bl, err := baseline.FromTrace(b.T, baseline.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, sec := range []struct {
		name    string
		entries []baseline.Entry
	}{
		{"files.read", bl.Files.Read},
		{"files.write", bl.Files.Write},
		{"files.create", bl.Files.Create},
		{"files.exec", bl.Files.Exec},
		{"network.egress", bl.Network.Egress},
	} {
		for _, e := range sec.entries {
			fmt.Println(sec.name, e.Value)
		}
	}
	// Output:
	// files.read $WORKSPACE/Makefile
	// files.read $WORKSPACE/main.c
	// files.write $WORKSPACE/main.o
	// files.create /tmp/*.s
	// files.exec /usr/bin/cc
	// files.exec /usr/bin/make
	// network.egress 203.0.113.5:443
}
