package recorder

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/behavediff/behavediff/store"
)

func tarOf(t *testing.T, files map[string][]byte, modes map[string]int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		mode := modes[name]
		if mode == 0 {
			mode = 0o644
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A command recorded in a root filesystem imported (offline) from a
// docker-save tarball sees that image's files, not the host's.
func TestRecordImage(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	bin, err := os.ReadFile(buildHelper(t, "greet", dir))
	if err != nil {
		t.Fatal(err)
	}
	layer := tarOf(t, map[string][]byte{"greet": bin, "etc/greeting": []byte("hello from the image\n")}, map[string]int64{"greet": 0o755})
	image := tarOf(t, map[string][]byte{
		"manifest.json": []byte(`[{"Config":"cfg.json","RepoTags":["greet:test"],"Layers":["l1/layer.tar"]}]`),
		"cfg.json":      []byte(`{}`),
		"l1/layer.tar":  layer,
	}, nil)
	tarball := filepath.Join(dir, "greet.tar")
	if err := os.WriteFile(tarball, image, 0o644); err != nil {
		t.Fatal(err)
	}
	r := record(t, "", Spec{Args: []string{"/greet"}, Image: tarball}, nil)
	if r.res.ExitCode != 0 || r.stdout != "hello from the image\n" {
		t.Fatalf("exit %d stdout %q stderr %q", r.res.ExitCode, r.stdout, r.stderr)
	}
	if e := findFile(r.trace, store.FileOpen, "/etc/greeting"); e == nil || e.Result < 0 {
		t.Errorf("open of the image's /etc/greeting: %+v", e)
	}
	if r.trace.Processes[0].Exe != "/greet" {
		t.Errorf("exe %s", r.trace.Processes[0].Exe)
	}
}

// A scratch image holding one static binary and no /etc runs: the resolver
// configuration the recorder would bind over /etc/resolv.conf is skipped.
func TestRecordScratchImage(t *testing.T) {
	requireRoot(t)
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Skipf("needs busybox-static: %v", err)
	}
	dir := t.TempDir()
	layer := tarOf(t, map[string][]byte{"busybox": bb}, map[string]int64{"busybox": 0o755})
	image := tarOf(t, map[string][]byte{
		"manifest.json": []byte(`[{"Config":"cfg.json","RepoTags":["scratch:test"],"Layers":["l1/layer.tar"]}]`),
		"cfg.json":      []byte(`{}`),
		"l1/layer.tar":  layer,
	}, nil)
	tarball := filepath.Join(dir, "scratch.tar")
	if err := os.WriteFile(tarball, image, 0o644); err != nil {
		t.Fatal(err)
	}
	r := record(t, "", Spec{Args: []string{"/busybox", "echo", "scratch ok"}, Image: tarball}, nil)
	if r.res.ExitCode != 0 || r.stdout != "scratch ok\n" {
		t.Fatalf("exit %d stdout %q stderr %q", r.res.ExitCode, r.stdout, r.stderr)
	}
}
