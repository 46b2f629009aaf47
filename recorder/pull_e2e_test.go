package recorder

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/behavediff/behavediff/internal/testenv"
	"github.com/behavediff/behavediff/recorder/sandbox"
	"github.com/behavediff/behavediff/store"
)

// startRegistry runs Debian's docker-registry on a free loopback port,
// fully detached (own session, output to a log), stopped at cleanup.
func startRegistry(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", filepath.Join(dir, "data"), addr), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command("docker-registry", "serve", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/v2/"); err == nil {
			resp.Body.Close()
			return addr
		}
	}
	log, _ := os.ReadFile(logf.Name())
	t.Fatalf("registry did not start:\n%s", log)
	return ""
}

// TestRecordImageFromRegistry: an image made here (busybox-static in one
// layer) is pushed with skopeo to a plain-HTTP registry on loopback;
// --image REF pulls it through containerd and the command runs in it. An
// unreachable registry is a clear error pointing at --image FILE.tar.
func TestRecordImageFromRegistry(t *testing.T) {
	requireRoot(t)
	testenv.RequireBinaries(t, "docker-registry", "skopeo", "busybox")
	bb, err := os.ReadFile("/usr/bin/busybox")
	if err != nil {
		t.Fatal(err)
	}
	layer := tarOf(t, map[string][]byte{"bin/busybox": bb, "etc/motd": []byte("hello from the registry\n")}, map[string]int64{"bin/busybox": 0o755})
	sum := sha256.Sum256(layer)
	config := fmt.Sprintf(`{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}`, hex.EncodeToString(sum[:]))
	archive := filepath.Join(t.TempDir(), "img.tar")
	if err := os.WriteFile(archive, tarOf(t, map[string][]byte{
		"manifest.json": []byte(`[{"Config":"config.json","RepoTags":["img:v1"],"Layers":["layer.tar"]}]`),
		"config.json":   []byte(config),
		"layer.tar":     layer,
	}, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	reg := startRegistry(t)
	ref := reg + "/behavediff-test/img:v1"
	if out, err := exec.Command("skopeo", "copy", "--dest-tls-verify=false", "docker-archive:"+archive, "docker://"+ref).CombinedOutput(); err != nil {
		t.Fatalf("skopeo copy: %v\n%s", err, out)
	}

	spec := Spec{Args: []string{"/bin/busybox", "cat", "/etc/motd"}, Image: ref, InsecureRegistries: []string{reg}}
	r := record(t, "", spec, nil)
	if r.res.ExitCode != 0 || r.stdout != "hello from the registry\n" {
		t.Fatalf("exit %d stdout %q stderr %q", r.res.ExitCode, r.stdout, r.stderr)
	}
	if r.trace.Processes[0].Exe != "/bin/busybox" {
		t.Errorf("exe %s", r.trace.Processes[0].Exe)
	}
	// Cached by digest: the second record unpacks nothing.
	r = record(t, "", spec, nil)
	if r.res.ExitCode != 0 || strings.Contains(r.stderr, "unpacking") {
		t.Errorf("second pull: exit %d stderr %q", r.res.ExitCode, r.stderr)
	}

	// Nothing listens on port 1.
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	_, err = Record(context.Background(), db, Options{Spec: Spec{Args: []string{"/bin/true"}, Workspace: t.TempDir(),
		Image: "127.0.0.1:1/none:v1", InsecureRegistries: []string{"127.0.0.1:1"}}})
	if !errors.Is(err, sandbox.ErrRegistryUnreachable) || !strings.Contains(err.Error(), "--image FILE.tar") {
		t.Errorf("unreachable registry: %v", err)
	}
}
