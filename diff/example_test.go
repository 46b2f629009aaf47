package diff_test

import (
	"fmt"

	"github.com/behavediff/behavediff/baseline"
	"github.com/behavediff/behavediff/baseline/baselinetest"
	"github.com/behavediff/behavediff/diff"
)

// Compare rates what a run does differently from its approved baseline: a
// new read of a private key is a finding, and a new destination in the same
// run is rated as possible exfiltration; each finding names its risk rule.
func ExampleCompare() {
	run := func(compromised bool) *baseline.Baseline {
		b := baselinetest.New(1, "/ws", "make")
		mk := b.Exec(-1, "/usr/bin/make", "make")
		b.Read(mk, "/ws/Makefile")
		b.Write(mk, "/ws/out.o")
		if compromised {
			b.Read(mk, "/root/.ssh/id_ed25519")
			b.Connect(mk, "198.51.100.7", 443, 0)
		}
		bl, err := baseline.FromTrace(b.T, baseline.Options{})
		if err != nil {
			panic(err)
		}
		return bl
	}
	approved, current := run(false), run(true)

	findings := diff.Compare(approved, current, diff.Context{})
	for _, f := range findings {
		fmt.Println(f.Level, f.Rule, f.Change, f.Section, f.Subject)
	}
	fmt.Println("status:", diff.StatusFor(findings, diff.High))
	// Output:
	// critical BD-EXFIL added network.egress 198.51.100.7:443
	// critical BD-SECRET-READ added files.read $HOME/.ssh/id_ed25519
	// status: fail
}
