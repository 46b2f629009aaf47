package ci_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/behavediff/behavediff/internal/testenv"
)

type action struct {
	Inputs map[string]struct {
		Default string `yaml:"default"`
	} `yaml:"inputs"`
	Runs struct {
		Using string `yaml:"using"`
		Steps []struct {
			Name string            `yaml:"name"`
			ID   string            `yaml:"id"`
			If   string            `yaml:"if"`
			Uses string            `yaml:"uses"`
			With map[string]string `yaml:"with"`
			Env  map[string]string `yaml:"env"`
			Run  string            `yaml:"run"`
			WD   string            `yaml:"working-directory"`
		} `yaml:"steps"`
	} `yaml:"runs"`
}

var expr = regexp.MustCompile(`\$\{\{\s*([a-z0-9_.-]+)\s*\}\}`)

// runner plays the parts of a GitHub runner the action's steps use:
// expressions for inputs, the action path, runner.temp and step outputs,
// GITHUB_PATH, GITHUB_OUTPUT and GITHUB_STEP_SUMMARY.
type runner struct {
	t       *testing.T
	inputs  map[string]string
	root    string // the action's checkout
	temp    string
	outputs map[string]map[string]string
	path    string
	summary string
}

func (r *runner) eval(s string) string {
	return expr.ReplaceAllStringFunc(s, func(m string) string {
		key := expr.FindStringSubmatch(m)[1]
		switch {
		case key == "github.action_path":
			return r.root
		case key == "runner.temp":
			return r.temp
		case strings.HasPrefix(key, "inputs."):
			v, ok := r.inputs[strings.TrimPrefix(key, "inputs.")]
			if !ok {
				r.t.Fatalf("action.yml uses unknown %s", key)
			}
			return v
		case strings.HasPrefix(key, "steps."):
			parts := strings.Split(key, ".") // steps.ID.outputs.NAME
			return r.outputs[parts[1]][parts[3]]
		}
		r.t.Fatalf("expression %s not known to the test runner", m)
		return ""
	})
}

// The action's steps run on this machine as a GitHub runner would run them
// (no network: GOPROXY=off, containerd and runc already installed): the
// check writes the job summary, the artifact directory the upload step
// names holds the trace database, every report, the HTML page of the spec
// that did not pass and its pending baseline, and the verdict step fails
// the job with check's exit code.
func TestActionSteps(t *testing.T) {
	testenv.RequireRoot(t, "the action runs behavediff check (containerd, eBPF)")
	testenv.RequireBinaries(t, "containerd", "runc", "python3", "go", "git")
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "action.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var act action
	if err := yaml.Unmarshal(b, &act); err != nil {
		t.Fatal(err)
	}
	if act.Runs.Using != "composite" {
		t.Fatalf("runs.using %q, want composite", act.Runs.Using)
	}

	// A project with an approved spec and one without a baseline.
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "behavediff")
	// As the install step builds (CGO_ENABLED=0), so that its build reuses
	// this one's cache.
	run(t, root, append(os.Environ(), "CGO_ENABLED=0"), "go", "build", "-o", bin, "./cmd/behavediff")
	proj := filepath.Join(tmp, "proj")
	run(t, "", nil, "cp", "-a", filepath.Join(root, "testdata", "demo", "workspace"), proj)
	if err := os.Mkdir(filepath.Join(proj, ".behavediff"), 0o755); err != nil {
		t.Fatal(err)
	}
	run(t, proj, nil, bin, "record", "--name", "demo", "--", "sh", "demo.sh")
	run(t, proj, nil, bin, "approve", "--yes", "--accept-risk", "critical", "demo")
	run(t, proj, nil, bin, "record", "--name", "fresh", "--", "sh", "-c", "cat input.txt")

	r := &runner{t: t, inputs: map[string]string{}, root: root, temp: filepath.Join(tmp, "runner"),
		outputs: map[string]map[string]string{}, path: os.Getenv("PATH"), summary: filepath.Join(tmp, "summary.md")}
	for k, v := range act.Inputs {
		r.inputs[k] = v.Default
	}
	r.inputs["working-directory"] = proj
	if err := os.MkdirAll(r.temp, 0o755); err != nil {
		t.Fatal(err)
	}
	ghPath := filepath.Join(tmp, "github_path")
	var uploaded []string
	verdictCode := -1
	for _, st := range act.Runs.Steps {
		if st.Uses != "" {
			if strings.HasPrefix(st.Uses, "actions/upload-artifact@") {
				uploaded = append(uploaded, r.eval(st.With["path"]))
			}
			continue
		}
		outFile := filepath.Join(tmp, "output-"+st.ID)
		os.WriteFile(outFile, nil, 0o644)
		env := append(os.Environ(), "PATH="+r.path, "GITHUB_PATH="+ghPath, "GITHUB_OUTPUT="+outFile,
			"GITHUB_STEP_SUMMARY="+r.summary, "RUNNER_TEMP="+r.temp, "GOPROXY=off")
		for k, v := range st.Env {
			env = append(env, k+"="+r.eval(v))
		}
		wd := root
		if st.WD != "" {
			wd = r.eval(st.WD)
		}
		code := runStep(t, wd, env, r.eval(st.Run))
		t.Logf("step %q: exit %d", st.Name, code)
		if st.Name == "Verdict" {
			verdictCode = code
		} else if code != 0 {
			t.Fatalf("step %q failed: exit %d", st.Name, code)
		}
		r.outputs[st.ID] = readKV(t, outFile)
		for _, p := range readLines(ghPath) {
			r.path = p + ":" + r.path
		}
	}
	if got := r.outputs["check"]; got["exit-code"] != "2" || got["verdict"] != "new" {
		t.Errorf("check outputs %v, want exit-code 2 and verdict new (spec fresh has no baseline)", got)
	}
	if verdictCode != 2 {
		t.Errorf("verdict step exit %d, want 2", verdictCode)
	}
	if len(uploaded) != 1 {
		t.Fatalf("upload steps %v", uploaded)
	}
	for _, f := range []string{"traces.db", "behavediff.json", "behavediff.sarif", "behavediff.xml", "summary.md", "html/fresh.html", "pending-baselines/fresh.yaml.new"} {
		if st, err := os.Stat(filepath.Join(uploaded[0], f)); err != nil || st.Size() == 0 {
			t.Errorf("artifact %s: %v", f, err)
		}
	}
	if _, err := os.Stat(filepath.Join(uploaded[0], "html", "demo.html")); err == nil {
		t.Error("an HTML report was written for the passing spec demo")
	}
	sum, _ := os.ReadFile(r.summary)
	if !strings.Contains(string(sum), "## behavediff check") || !strings.Contains(string(sum), "| fresh | 🆕 new |") {
		t.Errorf("job summary:\n%s", sum)
	}
}

func run(t *testing.T, dir string, env []string, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir, cmd.Env = dir, env
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	defer func() { t.Logf("%s %v: %v", name, args, time.Since(start)) }()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

func runStep(t *testing.T, dir string, env []string, script string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-e", "-c", script)
	cmd.Dir, cmd.Env = dir, env
	cmd.WaitDelay = 10 * time.Second // a daemon that kept our pipe must not hang the test
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("%s", out.String())
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0
}

func readLines(p string) []string {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil
	}
	os.Remove(p)
	return strings.Fields(string(b))
}

func readKV(t *testing.T, p string) map[string]string {
	m := map[string]string{}
	f, err := os.Open(p)
	if err != nil {
		return m
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			m[k] = v
		}
	}
	return m
}
