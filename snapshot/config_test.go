package snapshot

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/behavediff/behavediff/diff"
	"github.com/behavediff/behavediff/recorder"
	"github.com/behavediff/behavediff/store"
)

func TestConfigTemplateLoads(t *testing.T) {
	p := newProject(t)
	if err := p.Init(); err != nil {
		t.Fatal(err)
	}
	c, err := p.LoadConfig()
	if err != nil || c.FailOn != "" || len(c.Allow) != 0 {
		t.Fatalf("the commented template: %+v, %v", c, err)
	}
	if err := p.Init(); err == nil {
		t.Error("second Init overwrote config.yaml")
	}
}

func TestConfigAllowAndDefaults(t *testing.T) {
	p := newProject(t, "build")
	r := newFake(benign)
	approveBenign(t, p, r, "build")
	cfgText := "version: 1\nfail-on: high\nrecord:\n  timeout: 5m\nallow:\n  network: ['evil.example:*', 'evil.example']\n"
	os.WriteFile(p.ConfigPath(), []byte(cfgText), 0o644)
	cfg, err := p.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.FailOnOr("medium") != "high" || cfg.Record.Timeout != 5*time.Minute {
		t.Errorf("config %+v", cfg)
	}
	r.build = func(spec recorder.Spec, seed uint64) *store.Trace {
		b := builderOf(benign(spec, seed))
		b.DNS(1, "evil.example", 1)
		b.Answer(1, "evil.example", "203.0.113.7")
		b.Connect(1, "203.0.113.7", 443, 0)
		return b.T
	}
	with := p.CheckOne(ctx, r, "build", CheckOptions{FailOn: FailOn{Level: diff.Low}, Config: cfg})
	without := p.CheckOne(ctx, r, "build", CheckOptions{FailOn: FailOn{Level: diff.Low}})
	if with.Status != diff.StatusPass || without.Status != diff.StatusFail {
		t.Errorf("project-wide allow: with %s %q, without %s %q", with.Status, kinds(with.Findings), without.Status, kinds(without.Findings))
	}
	// The project's globs are never written into the baseline file.
	if b, _ := os.ReadFile(p.PendingPath("build")); strings.Contains(string(b), "evil.example:*") {
		t.Error("project allow: copied into the pending baseline")
	}
	for _, bad := range []string{"version: 1\nallow:\n  filez: ['x']\n", "version: 1\nfail-on: loud\n", "version: 1\ntypo: 1\n", "version: 9\n"} {
		os.WriteFile(p.ConfigPath(), []byte(bad), 0o644)
		if _, err := p.LoadConfig(); err == nil {
			t.Errorf("config %q loaded without error", bad)
		}
	}
}

func TestConfigExitCodeLevel(t *testing.T) {
	p := newProject(t, "build")
	r := newFake(benign)
	approveBenign(t, p, r, "build")
	r.build = func(spec recorder.Spec, seed uint64) *store.Trace {
		tr := benign(spec, seed)
		tr.Run.ExitCode = 1
		return tr
	}
	s := p.CheckOne(ctx, r, "build", CheckOptions{FailOn: FailOn{Level: diff.Medium}, Config: Config{ExitCode: "low"}})
	if s.Status != diff.StatusPass || len(s.Findings) != 1 || s.Findings[0].Level != diff.Low {
		t.Errorf("exit-code: low: %s %q", s.Status, kinds(s.Findings))
	}
}
