package sandbox

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzImageManifest: the docker-save manifest.json and the OCI index.json
// (and the manifests they lead to) decide which files of the image become
// layers. Whatever they say, the layers named are inside the image.
func FuzzImageManifest(f *testing.F) {
	for _, s := range []string{
		`[{"Config":"cfg.json","RepoTags":["x:y"],"Layers":["aaa/layer.tar","bbb/layer.tar"]}]`,
		`[{"Layers":["../../etc/shadow"]}]`,
		`[{"Layers":["/etc/shadow", "a/../../b", ""]}]`,
		`[]`,
		`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000"}]}`,
		`{"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../../../x"}]}`,
		`{"manifests":[{"digest":"sha256:` + strings.Repeat("a", 64) + `","platform":{"os":"linux","architecture":"amd64"}},{"digest":"sha512:x"}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, name := range []string{"manifest.json", "index.json"} {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
				t.Fatal(err)
			}
			// A manifest blob whose name the index may reach: the same bytes.
			blobs := filepath.Join(dir, "blobs", "sha256")
			os.MkdirAll(blobs, 0o700)
			os.WriteFile(filepath.Join(blobs, strings.Repeat("0", 64)), data, 0o600)
			r, err := os.OpenRoot(dir)
			if err != nil {
				t.Fatal(err)
			}
			img := &imageFiles{root: r, symlinks: map[string]string{}, lim: DefaultImportLimits()}
			layers, err := img.layers()
			r.Close()
			if err != nil {
				continue
			}
			if len(layers) > img.lim.MaxLayers {
				t.Fatalf("%d layers accepted", len(layers))
			}
			for _, l := range layers {
				if escapes(l.name) || cleanRel(l.name) == "" {
					t.Fatalf("%s: layer %q outside the image", name, l.name)
				}
				if l.digest != "" && !strings.HasPrefix(l.name, "blobs/sha256/") {
					t.Fatalf("%s: blob layer %q outside blobs/sha256", name, l.name)
				}
			}
		}
	})
}

// FuzzImportRootfs imports any layer bytes (as a docker-save image) under
// small limits: the import succeeds or fails, and the sentinel beside the
// cache is never touched (hostileEnv.check).
func FuzzImportRootfs(f *testing.F) {
	up := climb + "tmp/x"
	for _, l := range [][]byte{
		tarOf(f, dir("etc"), reg("etc/a", "A"), symlink("link", "etc/a"), hardlink("hl", "etc/a")),
		tarOf(f, reg(up, "x")),
		tarOf(f, symlink("esc", "/tmp"), reg("esc/x", "in")),
		tarOf(f, symlink("esc", climb), dir("esc/d"), reg("esc/d/x", "in")),
		tarOf(f, hardlink("h", up)),
		tarOf(f, reg(".wh...", ""), reg("a/.wh..wh..opq", "")),
		tarOf(f, reg("dup", "1"), symlink("dup", "/tmp"), reg("dup", "2")),
		gzipped(f, tarOf(f, reg("z", strings.Repeat("z", 4096)))),
	} {
		f.Add(l)
	}
	f.Fuzz(func(t *testing.T, layer []byte) {
		requireImportRoot(t)
		e := newHostileEnv(t)
		lim := ImportLimits{MaxBytes: 1 << 20, MaxEntries: 1000, MaxManifest: 1 << 16, MaxLayers: 4}
		dst := filepath.Join(e.cache, "rootfs")
		tarball := filepath.Join(e.cache, "image.tar")
		if err := os.WriteFile(tarball, dockerImage(t, layer), 0o600); err != nil {
			t.Fatal(err)
		}
		err := ImportRootfsWithLimits(context.Background(), tarball, dst, lim)
		if err != nil {
			if _, serr := os.Lstat(dst); serr == nil {
				t.Errorf("failed import left %s", dst)
			}
		}
		if left, _ := filepath.Glob(filepath.Join(e.cache, ".behavediff-import-*")); len(left) > 0 {
			t.Errorf("temporary directories left: %v", left)
		}
		e.check(t)
	})
}
