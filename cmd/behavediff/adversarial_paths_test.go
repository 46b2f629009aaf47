package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// Path arguments rewritten by another thread while the kernel uses them
// (testdata/adversarial/pathrace.c, bpf/pathargs.h): the trace stores the
// string the kernel used and flags the call raced, or flags it late; it
// never stores the decoy as if it were the truth.

// replayRows runs a read-only query over the newest run (the replay) and
// returns its rows.
func replayRows(t *testing.T, sql string) []map[string]any {
	t.Helper()
	sql = strings.ReplaceAll(sql, "$RUN", "(SELECT max(id) FROM runs)")
	code, out, stderr := runCLI(t, "query", "--format", "json", sql)
	if code != 0 {
		t.Fatalf("query: exit %d: %s", code, stderr)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return rows
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// (a) A thread blocked in open() of a FIFO has its path rewritten to a
// secret's, then is interrupted (EINTR): 50 times per variant.
func TestAdversarialPathRaceFIFO(t *testing.T) {
	requireRoot(t)
	requireGCC(t)
	base := "#!/bin/sh\necho building\n"
	dir := adversarialProject(t, base)
	adversarialBinary(t, dir, "pathrace")
	const n = 50
	for _, v := range []struct {
		mode string
		kind string // the critical finding check must report
		// late: the variant may (maplong: must) end flagged late with the
		// decoy's path: no copy from before the call exists
		late, mustLate bool
		// cwdMoved: the path stored is joined to the cwd at exit; the flag
		// is what says it is not to be trusted
		cwdMoved bool
	}{
		// a resident buffer: the kernel's copy is caught
		{mode: "", kind: "raced-path"},
		// (c) the buffer is not resident at entry: the entry read fails,
		// the kernel's copy still says what was opened
		{mode: "map", kind: "raced-path", late: true},
		// past getname()'s embedded buffer: no kernel copy, the entry one
		{mode: "long", kind: "raced-path"},
		// neither: flagged late, rated like an unresolved path (here a
		// secret-looking one, so the secret rule fires)
		{mode: "maplong", kind: "secret-read", late: true, mustLate: true},
		// a relative path whose base (the cwd) another thread moves
		{mode: "cd", kind: "raced-path", cwdMoved: true},
	} {
		t.Run("mode="+v.mode, func(t *testing.T) {
			checkVariant(t, dir, base+fmt.Sprintf("./pathrace fifo %d /tmp/pr %s\n", n, v.mode), v.kind)
			// interrupted: -ERESTARTSYS at sys_exit, EINTR to the program
			rows := replayRows(t, "SELECT path, path_state FROM file_events WHERE run_id = $RUN AND op = 'open' AND result IN (-4, -512)")
			if len(rows) != n {
				t.Fatalf("%d interrupted opens recorded, want %d: %v", len(rows), n, rows)
			}
			states := map[string]int{}
			for _, r := range rows {
				p, st := str(r["path"]), str(r["path_state"])
				states[st]++
				switch {
				case st == "late" && v.late:
					// the exit read, flagged: allowed where no copy exists
				case st == "late":
					t.Errorf("open of %q flagged late: a copy from before the call exists", p)
				case v.mustLate:
					t.Errorf("open of %q state %q: want late (no copy from before the call)", p, st)
				case v.cwdMoved && st == "raced":
				case p != "/tmp/pr/fifo":
					t.Errorf("stored %q (state %q): the kernel opened /tmp/pr/fifo", p, st)
				case st != "raced":
					t.Errorf("open of %q state %q: the argument was rewritten, want raced", p, st)
				}
			}
			t.Logf("path states: %v", states)
		})
	}
}

// (b) A flipper thread toggles the path buffer between two names while the
// main thread makes 2000 mkdir/unlink/rename calls through it. Every stored
// path is the name the kernel used (the probe looks at the file system
// after each call) or the call is flagged raced; check rates it critical.
func TestAdversarialPathRaceFlipper(t *testing.T) {
	requireRoot(t)
	requireGCC(t)
	base := "#!/bin/sh\necho building\n"
	// every CPU: the flipper and the caller must be able to run at the same
	// time. The default has no cap now (a low weight), so this only pins the
	// test's bandwidth should the default ever cap again (it once left one
	// CPU out, and on a small machine the two then rarely ran together)
	dir := adversarialProjectIn(t, t.TempDir(), base, "--cpus", strconv.Itoa(runtime.NumCPU()))
	adversarialBinary(t, dir, "pathrace")
	// long: past getname()'s embedded buffer there is no kernel copy, so
	// every such call must be flagged (late when not raced). len: the
	// flipper moves the NUL (DIR/a<i> or DIR/a<i>x), against the sensor's
	// reads of exactly the entry copy's length at the kernel's free and at
	// exit (bpf/pathargs.h)
	for _, mode := range []string{"", "long", "len"} {
		t.Run("mode="+mode, func(t *testing.T) { flipperVariant(t, dir, base, mode) })
	}
}

func flipperVariant(t *testing.T, dir, base, mode string) {
	const n = 2000
	checkVariant(t, dir, base+fmt.Sprintf("./pathrace flip %d /tmp/pf %s\n", n, mode), "raced-path")
	// what the kernel used, by op and call index, from the probe's output
	used := map[string]byte{}
	out := replayRows(t, "SELECT CAST(stdout AS TEXT) AS out FROM runs WHERE id = $RUN")
	if len(out) != 1 {
		t.Fatalf("replay stdout: %v", out)
	}
	line := regexp.MustCompile(`(?m)^([MUR]) (\d+) ([ab?])$`)
	for _, m := range line.FindAllStringSubmatch(str(out[0]["out"]), -1) {
		used[m[1]+m[2]] = m[3][0]
	}
	if len(used) != n {
		t.Fatalf("probe reported %d calls, want %d", len(used), n)
	}

	ops := map[string]string{"mkdir": "M", "unlink": "U", "rename": "R"}
	// the letter the kernel used, and the call index
	name := regexp.MustCompile(`^/tmp/pf/([ab])(\d{5})$`)
	if mode == "len" {
		name = regexp.MustCompile(`^/tmp/pf/a(\d{5})(x?)$`)
	}
	rows := replayRows(t, "SELECT op, path, path_state FROM file_events WHERE run_id = $RUN AND op IN ('mkdir', 'unlink', 'rename') AND path LIKE '/tmp/pf/%' ORDER BY seq")
	seen, raced := map[string]bool{}, 0
	for _, r := range rows {
		p, st := str(r["path"]), str(r["path_state"])
		m := name.FindStringSubmatch(p)
		if m == nil {
			t.Errorf("%s of %q (state %q): neither name", r["op"], p, st)
			continue
		}
		if mode == "len" { // a<i> is letter a, a<i>x letter b
			m = []string{m[0], map[string]string{"": "a", "x": "b"}[m[2]], m[1]}
		}
		i, _ := strconv.Atoi(m[2])
		key := ops[str(r["op"])] + strconv.Itoa(i)
		want, ok := used[key]
		if !ok || seen[key] {
			t.Errorf("unexpected %s of %q", r["op"], p)
			continue
		}
		seen[key] = true
		if st == "raced" {
			raced++
			continue
		}
		if mode == "long" && st != "late" {
			t.Errorf("%s of %q (state %q): a long path without the kernel's copy must be flagged", r["op"], p, st)
		}
		if st == "late" {
			continue
		}
		if want == '?' {
			t.Errorf("%s of %q: the probe could not tell which name was used, and the call is not flagged", r["op"], p)
		} else if m[1][0] != want {
			t.Errorf("%s stored %q (state %q): the kernel used %c: a decoy stored unflagged", r["op"], p, st, want)
		}
	}
	if len(seen) != n {
		t.Errorf("%d of %d flipped calls recorded", len(seen), n)
	}
	t.Logf("%d of %d calls flagged raced", raced, n)
}

// Honest path calls, relative ones and a relative chdir (which moves the
// cwd itself) included, are never flagged raced or late.
func TestHonestPathCallsUnflagged(t *testing.T) {
	requireRoot(t)
	base := "#!/bin/sh\nset -e\nmkdir -p sub/a\n" +
		"python3 -c 'import os\nos.chdir(\"sub\")\nos.mkdir(\"b\")\nos.rename(\"b\", \"c\")\nos.symlink(\"c\", \"l\")\nos.unlink(\"l\")\nos.chdir(\"..\")\nos.rmdir(\"sub/c\")\ntry: open(\"missing\")\nexcept OSError: pass\nos.chmod(\"sub/a\", 0o700)'\n" +
		"cd sub && cat ../app.sh >/dev/null && ln -s a b && rm b\n"
	adversarialProject(t, base)
	rows := replayRows(t, "SELECT op, path, path_state FROM file_events WHERE run_id = (SELECT min(id) FROM runs) AND path_state IN ('raced', 'late')")
	if len(rows) != 0 {
		t.Errorf("honest calls flagged: %v", rows)
	}
	n := replayRows(t, "SELECT count(*) AS n FROM file_events WHERE run_id = (SELECT min(id) FROM runs) AND op IN ('chdir', 'mkdir', 'rename', 'symlink', 'unlink', 'rmdir', 'chmod')")
	if len(n) != 1 || n[0]["n"].(float64) < 8 {
		t.Errorf("path calls recorded: %v, want >= 8", n)
	}
}
