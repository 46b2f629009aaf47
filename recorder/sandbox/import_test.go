package sandbox

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"github.com/behavediff/behavediff/internal/testenv"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

type tarEntry struct {
	name    string
	body    string
	mode    int64
	dir     bool
	symlink string
}

func makeTar(t *testing.T, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Size: int64(len(e.body)), Typeflag: tar.TypeReg}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		switch {
		case e.dir:
			h.Typeflag, h.Size, h.Mode = tar.TypeDir, 0, 0o755
		case e.symlink != "":
			h.Typeflag, h.Size, h.Linkname = tar.TypeSymlink, 0, e.symlink
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gz(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	w.Write(b)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// shellLayer returns tar entries for /bin/sh and the libraries ldd lists, so
// the imported rootfs can run a shell. ok is false when that is not possible.
func shellLayer(t *testing.T) (entries []tarEntry, ok bool) {
	out, err := exec.Command("ldd", "/bin/sh").Output()
	if err != nil {
		return nil, false
	}
	files := []string{"/bin/sh"}
	for _, l := range strings.Split(string(out), "\n") {
		for _, f := range strings.Fields(l) {
			if strings.HasPrefix(f, "/") {
				files = append(files, f)
			}
		}
	}
	dirs := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, false
		}
		var parents []string
		for d := filepath.Dir(f); d != "/"; d = filepath.Dir(d) {
			parents = append([]string{d}, parents...)
		}
		for _, d := range parents {
			if !dirs[d] {
				dirs[d] = true
				entries = append(entries, tarEntry{name: d[1:], dir: true})
			}
		}
		entries = append(entries, tarEntry{name: f[1:], body: string(b), mode: 0o755})
	}
	return entries, true
}

// testLayers are two layers: the second deletes etc/a (whiteout), makes
// olddir opaque (keeping only z) and adds a file.
func testLayers(t *testing.T) (l1, l2 []byte, runnable bool) {
	base, runnable := shellLayer(t)
	base = append(base,
		tarEntry{name: "etc", dir: true},
		tarEntry{name: "etc/a", body: "A"},
		tarEntry{name: "etc/b", body: "B"},
		tarEntry{name: "olddir", dir: true},
		tarEntry{name: "olddir/x", body: "x"},
		tarEntry{name: "olddir/y", body: "y"},
		tarEntry{name: "link", symlink: "etc/b"},
	)
	l1 = makeTar(t, base)
	l2 = makeTar(t, []tarEntry{
		{name: "etc/.wh.a"},
		{name: "olddir/z", body: "Z"}, // before the opaque marker: must survive it
		{name: "olddir/.wh..wh..opq"},
		{name: "newfile", body: "N"},
	})
	return l1, l2, runnable
}

func digestOf(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

// ociTarball builds an OCI layout tarball whose index.json points to a
// nested index with a foreign-arch manifest and ours.
func ociTarball(t *testing.T, l1, l2 []byte) []byte {
	blobs := map[string][]byte{}
	add := func(b []byte) ocispec.Descriptor {
		d := digestOf(b)
		blobs[d] = b
		return ocispec.Descriptor{Digest: digest.Digest(d), Size: int64(len(b))}
	}
	l1gz := gz(t, l1)
	d1, d2 := add(l1gz), add(l2)
	d1.MediaType, d2.MediaType = ocispec.MediaTypeImageLayerGzip, ocispec.MediaTypeImageLayer
	cfg := add([]byte(`{"architecture":"` + runtime.GOARCH + `","os":"linux","rootfs":{"type":"layers"}}`))
	cfg.MediaType = ocispec.MediaTypeImageConfig
	man, _ := json.Marshal(ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfg, Layers: []ocispec.Descriptor{d1, d2}})
	dm := add(man)
	dm.MediaType = ocispec.MediaTypeImageManifest
	dm.Platform = &ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
	other := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.Digest(digestOf([]byte("missing"))),
		Platform: &ocispec.Platform{OS: "linux", Architecture: "s390x-not-ours"}}
	sub, _ := json.Marshal(ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{other, dm}})
	ds := add(sub)
	ds.MediaType = ocispec.MediaTypeImageIndex
	idx, _ := json.Marshal(ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{ds}})

	entries := []tarEntry{
		{name: "oci-layout", body: `{"imageLayoutVersion":"1.0.0"}`},
		{name: "index.json", body: string(idx)},
		{name: "blobs/", dir: true},
		{name: "blobs/sha256/", dir: true},
	}
	var names []string
	for d := range blobs {
		names = append(names, d)
	}
	sort.Strings(names)
	for _, d := range names {
		p, err := blobPath(digest.Digest(d))
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, tarEntry{name: p, body: string(blobs[d])})
	}
	return makeTar(t, entries)
}

func dockerTarball(t *testing.T, l1, l2 []byte) []byte {
	man := `[{"Config":"cfg.json","RepoTags":["test:latest"],"Layers":["aaa/layer.tar","bbb/layer.tar"]}]`
	return makeTar(t, []tarEntry{
		{name: "manifest.json", body: man},
		{name: "cfg.json", body: `{}`},
		{name: "aaa/", dir: true},
		{name: "aaa/layer.tar", body: string(l1)},
		{name: "ccc/", dir: true},
		{name: "ccc/layer.tar", body: string(l2)},
		{name: "bbb/", dir: true},
		{name: "bbb/layer.tar", symlink: "../ccc/layer.tar"},
	})
}

func checkImported(t *testing.T, dir string) {
	t.Helper()
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			return "<" + err.Error() + ">"
		}
		return string(b)
	}
	if _, err := os.Lstat(filepath.Join(dir, "etc/a")); err == nil {
		t.Error("etc/a survived its whiteout")
	}
	if _, err := os.Lstat(filepath.Join(dir, "etc/.wh.a")); err == nil {
		t.Error("whiteout file was created")
	}
	if read("etc/b") != "B" || read("newfile") != "N" || read("link") != "B" {
		t.Errorf("etc/b %q newfile %q link %q", read("etc/b"), read("newfile"), read("link"))
	}
	ents, _ := os.ReadDir(filepath.Join(dir, "olddir"))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "z" {
		t.Errorf("olddir = %v, want only z (opaque)", names)
	}
}

func TestImportRootfs(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "needs root (layer ownership and device nodes)")
	}
	l1, l2, runnable := testLayers(t)
	tmp := t.TempDir()
	oci := filepath.Join(tmp, "oci.tar")
	if err := os.WriteFile(oci, ociTarball(t, l1, l2), 0o644); err != nil {
		t.Fatal(err)
	}
	dockerGz := filepath.Join(tmp, "docker.tar.gz")
	if err := os.WriteFile(dockerGz, gz(t, dockerTarball(t, l1, l2)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, tb := range []string{oci, dockerGz} {
		dir := filepath.Join(tmp, "rootfs-"+filepath.Base(tb))
		if err := ImportRootfs(ctx, tb, dir); err != nil {
			t.Fatalf("ImportRootfs(%s): %v", tb, err)
		}
		checkImported(t, dir)
		if err := ImportRootfs(ctx, tb, dir); err == nil {
			t.Error("import into a non-empty dir succeeded")
		}
	}
	if leftovers, _ := filepath.Glob(filepath.Join(tmp, ".behavediff-import-*")); len(leftovers) > 0 {
		t.Errorf("temporary dirs left: %v", leftovers)
	}

	// A corrupted layer blob fails its digest check.
	bad := ociTarball(t, l1, l2)
	i := bytes.Index(bad, []byte("newfile"))
	bad[i] = 'm'
	badPath := filepath.Join(tmp, "bad.tar")
	os.WriteFile(badPath, bad, 0o644)
	if err := ImportRootfs(ctx, badPath, filepath.Join(tmp, "rootfs-bad")); err == nil || !strings.Contains(err.Error(), "digest") {
		t.Errorf("corrupted layer: err = %v, want digest mismatch", err)
	}

	if !runnable {
		t.Log("ldd unavailable: not running a sandbox on the imported rootfs")
		return
	}
	c := connect(t)
	r := runIn(t, c, Options{Rootfs: filepath.Join(tmp, "rootfs-oci.tar"),
		Args: []string{"/bin/sh", "-c", "echo /olddir/*; read l < /etc/b; echo $l; echo > /etc/new || echo ro"}})
	if r.stdout != "/olddir/z\nB\nro\n" || r.res.ExitCode != 0 {
		t.Errorf("sandbox on imported rootfs: %+v stdout %q stderr %q", r.res, r.stdout, r.stderr)
	}
}
