package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/behavediff/behavediff/diff"
)

// Adversarial probes (testdata/adversarial): each variant tries to act
// while evading the trace. A baseline without the act plus a replay with it
// must make check exit 1 with a critical finding.

// adversarialBinary builds testdata/adversarial/NAME.c into dir (static,
// non-PIE: the sandbox's root is the host's, and the probes need their
// strings below 4 GiB).
func adversarialBinary(t *testing.T, dir, name string) {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("the compat probes are x86-64 programs")
	}
	_, self, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(self), "..", "..", "testdata", "adversarial", name+".c")
	out, err := exec.Command("gcc", "-static", "-no-pie", "-O1", "-o", filepath.Join(dir, name), src, "-lpthread").CombinedOutput()
	if err != nil {
		t.Fatalf("build %s: %v\n%s", name, err, out)
	}
}

// adversarialProject records and approves app.sh = base in a new project.
func adversarialProject(t *testing.T, base string) string {
	t.Helper()
	return adversarialProjectIn(t, t.TempDir(), base)
}

// checkVariant replays app.sh = base + variant and wants a critical finding
// of kind.
func checkVariant(t *testing.T, dir, app, kind string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "app.sh"), []byte(app), 0o755); err != nil {
		t.Fatal(err)
	}
	code, r := checkJSON(t)
	if code != exitFindings || r.Specs[0].Status != diff.StatusFail {
		t.Fatalf("exit %d status %s, want 1/fail; findings %+v", code, r.Specs[0].Status, r.Specs[0].Findings)
	}
	for _, f := range r.Specs[0].Findings {
		if f.Kind == kind && f.Level == diff.Critical {
			return
		}
	}
	t.Errorf("no critical %s finding: %+v", kind, r.Specs[0].Findings)
}

// i386 syscalls through int $0x80: the sandbox refuses the ABI (SIGSYS),
// the sensor records the attempt as compat:NAME, the diff rates it critical.
func TestAdversarialCompatSyscalls(t *testing.T) {
	requireRoot(t)
	requireGCC(t)
	base := "#!/bin/sh\necho building\ncat /etc/hostname >/dev/null\n"
	dir := adversarialProject(t, base)
	adversarialBinary(t, dir, "compat")
	for _, probe := range []struct{ name, args, want string }{
		{"open-secret", "open /root/.npmrc", "compat:open"},
		{"socketcall-connect", "connect", "compat:socketcall"},
		{"chmod-setuid", "chmod /tmp/x", "compat:chmod"},
		{"setuid32", "setuid32", "compat:setuid32"},
		// from a second thread: seccomp kills only that thread, which never
		// reaches sys_exit; the process lives on
		{"thread-open", "thread /root/.npmrc", "compat:open"},
	} {
		t.Run(probe.name, func(t *testing.T) {
			checkVariant(t, dir, base+"touch /tmp/x\n./compat "+probe.args+" || true\n", "compat-syscall")
			// the stored event names the call and says it was refused
			_, out, _ := runCLI(t, "query", "SELECT syscall, args FROM priv_events WHERE run_id = (SELECT max(id) FROM runs)")
			if !strings.Contains(out, probe.want) || !strings.Contains(out, "refused=SIGSYS") {
				t.Errorf("priv events of the replay:\n%s\nwant %s refused", out, probe.want)
			}
		})
	}
}

// exec sub/../build.sh with sub -> a/x runs a/build.sh, which the run wrote:
// the kernel's file is recorded, not the lexically cleaned $WORKSPACE/build.sh.
func TestAdversarialExecThroughSymlinkDotDot(t *testing.T) {
	requireRoot(t)
	base := "#!/bin/sh\n./build.sh\n"
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "build.sh"), []byte("#!/bin/sh\necho approved build\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir = adversarialProjectIn(t, dir, base)
	checkVariant(t, dir, "#!/bin/sh\nmkdir -p a/x\ncp /usr/bin/true a/build.sh\nln -s a/x sub\nexec sub/../build.sh\n", "download-exec")
}

// adversarialProjectIn is adversarialProject for an existing directory.
func adversarialProjectIn(t *testing.T, dir, base string, recordFlags ...string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "app.sh"), []byte(base), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, ".behavediff"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	args := append(append([]string{"record", "--name", "app"}, recordFlags...), "--", "/bin/sh", "app.sh")
	if code, _, stderr := runCLI(t, args...); code != 0 {
		t.Fatalf("record: exit %d: %s", code, stderr)
	}
	if code, out, stderr := runCLI(t, "approve", "--yes", "app"); code != 0 {
		t.Fatalf("approve: exit %d: %s %s", code, out, stderr)
	}
	return dir
}

// A failed open of /tmp/l/../.bashrc with /tmp/l -> /root/.cache really
// targets /root/.bashrc: it must not be rated as the harmless /tmp/.bashrc.
func TestAdversarialDotDotAfterSymlink(t *testing.T) {
	requireRoot(t)
	base := "#!/bin/sh\necho hi\n"
	dir := adversarialProject(t, base)
	checkVariant(t, dir, base+"ln -s /root/.cache /tmp/l\nrm -f /tmp/l/../.bashrc 2>/dev/null || true\n", "unresolved-path")
}

func requireGCC(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not installed (make deps)")
	}
}

// A workspace file whose name is not UTF-8: record, approve and check all
// succeed, and the baseline keeps the name byte for byte.
func TestAdversarialNonUTF8FileName(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	name := "caf\xe9-\xff.txt"
	if err := os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := "#!/bin/sh\ncat caf*.txt > /dev/null\ncp caf*.txt \"$(printf 'out-\\351')\"\n"
	dir = adversarialProjectIn(t, dir, base)
	data, err := os.ReadFile(filepath.Join(dir, ".behavediff", "baselines", "app.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `!bytes '$WORKSPACE/caf\xe9-\xff.txt'`) {
		t.Errorf("baseline does not hold the name escaped:\n%s", data)
	}
	if code, r := checkJSON(t); code != exitOK {
		t.Fatalf("check: exit %d %+v", code, r)
	}
}
