package sandbox

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/behavediff/behavediff/internal/testenv"
)

// hdr is one tar entry of a hostile test archive; body is written for
// regular files.
type hdr struct {
	tar.Header
	body []byte
}

func reg(name, body string) hdr {
	return hdr{tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}, []byte(body)}
}
func dir(name string) hdr {
	return hdr{tar.Header{Name: name, Typeflag: tar.TypeDir, Mode: 0o755}, nil}
}
func symlink(name, target string) hdr {
	return hdr{tar.Header{Name: name, Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777}, nil}
}
func hardlink(name, target string) hdr {
	return hdr{tar.Header{Name: name, Typeflag: tar.TypeLink, Linkname: target, Mode: 0o644}, nil}
}

func tarOf(t testing.TB, hs ...hdr) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hs {
		h := h
		if h.Format == tar.FormatUnknown && len(h.PAXRecords) > 0 {
			h.Format = tar.FormatPAX
		}
		if err := tw.WriteHeader(&h.Header); err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(h.body); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// dockerImage wraps layers into a docker-save tarball.
func dockerImage(t testing.TB, layers ...[]byte) []byte {
	var names []string
	var hs []hdr
	for i, l := range layers {
		n := fmt.Sprintf("l%d/layer.tar", i)
		names = append(names, `"`+n+`"`)
		hs = append(hs, reg(n, string(l)))
	}
	man := `[{"Config":"cfg.json","RepoTags":["x:y"],"Layers":[` + strings.Join(names, ",") + `]}]`
	return tarOf(t, append([]hdr{reg("manifest.json", man), reg("cfg.json", "{}")}, hs...)...)
}

// hostileEnv is a scratch directory with a sentinel file beside the cache
// directory the image is imported into.
type hostileEnv struct {
	top, sentinel, cache string
	sentinelStat         unix.Stat_t
}

const sentinelBody = "the host's own file\n"

func newHostileEnv(t *testing.T) *hostileEnv {
	top := t.TempDir()
	e := &hostileEnv{top: top, sentinel: filepath.Join(top, "sentinel"), cache: filepath.Join(top, "cache")}
	if err := os.WriteFile(e.sentinel, []byte(sentinelBody), 0o600); err != nil {
		t.Fatal(err)
	}
	past := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	os.Chtimes(e.sentinel, past, past)
	if err := os.Mkdir(e.cache, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Lstat(e.sentinel, &e.sentinelStat); err != nil {
		t.Fatal(err)
	}
	return e
}

// climb is a relative prefix that reaches / from any directory the import
// uses, so "climb + e.sentinel" names the sentinel.
const climb = "../../../../../../../../../../../../../../../../"

// check fails the test when anything outside the cache directory changed:
// the sentinel's content, mode, owner, link count and times, or the set of
// names beside the cache.
func (e *hostileEnv) check(t *testing.T) {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(e.sentinel, &st); err != nil {
		t.Fatalf("sentinel: %v", err)
	}
	if b, _ := os.ReadFile(e.sentinel); string(b) != sentinelBody {
		t.Errorf("sentinel content changed to %q", b)
	}
	if st.Mode != e.sentinelStat.Mode || st.Uid != e.sentinelStat.Uid || st.Nlink != e.sentinelStat.Nlink ||
		st.Mtim != e.sentinelStat.Mtim || st.Ctim != e.sentinelStat.Ctim {
		t.Errorf("sentinel metadata changed: %+v, was %+v", st, e.sentinelStat)
	}
	ents, _ := os.ReadDir(e.top)
	var names []string
	for _, d := range ents {
		names = append(names, d.Name())
	}
	if strings.Join(names, ",") != "cache,sentinel" {
		t.Errorf("names beside the cache: %v, want only cache and sentinel", names)
	}
}

// importImage imports image into a fresh directory of the cache and checks
// that a failure leaves nothing behind.
func (e *hostileEnv) importImage(t *testing.T, name string, image []byte, lim ImportLimits) (string, error) {
	t.Helper()
	tarball := filepath.Join(e.cache, name+".tar")
	if err := os.WriteFile(tarball, image, 0o600); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(e.cache, name)
	err := ImportRootfsWithLimits(context.Background(), tarball, dst, lim)
	os.Remove(tarball)
	if left, _ := filepath.Glob(filepath.Join(e.cache, ".behavediff-import-*")); len(left) > 0 {
		t.Errorf("temporary directories left: %v", left)
	}
	if err != nil {
		if _, serr := os.Lstat(dst); serr == nil {
			t.Errorf("failed import left %s behind", dst)
		}
	}
	e.check(t)
	return dst, err
}

func requireImportRoot(t testing.TB) {
	if os.Geteuid() != 0 {
		testenv.Unavailable(t, "needs root (images are unpacked as root: ownership, device nodes)")
	}
}

// Each hostile image either fails with ErrHostileImage or imports with
// every write inside the rootfs; the sentinel beside the cache is never
// created, written, linked or touched.
func TestImportHostileImages(t *testing.T) {
	requireImportRoot(t)
	e := newHostileEnv(t)
	abs := e.sentinel        // an absolute entry name or link target
	up := climb + e.sentinel // a relative one climbing to it
	upDir := climb + e.top

	for _, c := range []struct {
		name   string
		layers [][]byte
		want   error             // nil: imports safely
		inside map[string]string // path in the rootfs -> content ("" = must not exist)
	}{
		{name: "dotdot-entry", layers: [][]byte{tarOf(t, reg(up, "pwned"))}, want: ErrHostileImage},
		{name: "dotdot-in-middle", layers: [][]byte{tarOf(t, dir("a"), reg("a/../../../x", "pwned"))}, want: ErrHostileImage},
		{name: "absolute-entry", layers: [][]byte{tarOf(t, reg(abs, "inside"))}, inside: map[string]string{abs: "inside"}},
		{name: "symlink-abs-dir-then-through", layers: [][]byte{tarOf(t, symlink("esc", e.top), reg("esc/sentinel", "inside"))},
			inside: map[string]string{e.top + "/sentinel": "inside"}},
		{name: "symlink-rel-dir-then-through", layers: [][]byte{tarOf(t, symlink("esc", upDir), reg("esc/sentinel", "inside"))},
			inside: map[string]string{e.top + "/sentinel": "inside"}},
		{name: "symlink-then-through-next-layer", layers: [][]byte{tarOf(t, symlink("esc", upDir)), tarOf(t, reg("esc/sentinel", "inside"), dir("esc/newdir"))},
			inside: map[string]string{e.top + "/sentinel": "inside"}},
		{name: "symlink-file-then-overwrite", layers: [][]byte{tarOf(t, symlink("f", abs), reg("f", "inside"))}, inside: map[string]string{"f": "inside"}},
		{name: "symlink-file-next-layer-overwrite", layers: [][]byte{tarOf(t, symlink("f", up)), tarOf(t, reg("f", "inside"))}, inside: map[string]string{"f": "inside"}},
		{name: "hardlink-dotdot", layers: [][]byte{tarOf(t, hardlink("h", up))}, want: ErrHostileImage},
		{name: "hardlink-abs", layers: [][]byte{tarOf(t, hardlink("h", abs))}, want: errAny},
		{name: "hardlink-via-symlink", layers: [][]byte{tarOf(t, symlink("s", abs), hardlink("h", "s"), reg("h", "inside"))}, inside: map[string]string{"h": "inside"}},
		{name: "hardlink-via-symlinked-dir", layers: [][]byte{tarOf(t, symlink("d", e.top), hardlink("h", "d/sentinel"))}, want: errAny},
		{name: "whiteout-dotdot", layers: [][]byte{tarOf(t, reg(".wh...", ""))}, want: ErrHostileImage},
		{name: "whiteout-dot", layers: [][]byte{tarOf(t, dir("a"), reg("a/.wh..", ""))}, want: ErrHostileImage},
		{name: "whiteout-through-symlink", layers: [][]byte{tarOf(t, symlink("d", e.top)), tarOf(t, reg("d/.wh.sentinel", ""), reg("d/.wh..wh..opq", ""))}},
		{name: "duplicates", layers: [][]byte{tarOf(t, reg("dup", "one"), reg("dup", "two"), dir("dd"), reg("dd", "file now"), symlink("s", abs), dir("s"), reg("s/x", "in"))},
			inside: map[string]string{"dup": "two", "dd": "file now", "s/x": "in"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dst, err := e.importImage(t, c.name, dockerImage(t, c.layers...), DefaultImportLimits())
			switch {
			case c.want == nil && err != nil:
				t.Fatalf("import failed: %v", err)
			case c.want == errAny:
				t.Logf("import: %v", err)
			case c.want != nil && !errors.Is(err, c.want):
				t.Fatalf("import: %v, want %v", err, c.want)
			}
			if err != nil {
				return
			}
			for p, want := range c.inside {
				b, rerr := os.ReadFile(filepath.Join(dst, p))
				if want == "" && rerr == nil || want != "" && string(b) != want {
					t.Errorf("%s in the rootfs: %q (%v), want %q", p, b, rerr, want)
				}
			}
		})
	}
}

// errAny marks a case that may fail or succeed, as long as it is safe.
var errAny = errors.New("either")

// Devices and fifos are not created, setuid/setgid bits and extended
// attributes (file capabilities) are dropped.
func TestImportDropsPrivileges(t *testing.T) {
	requireImportRoot(t)
	e := newHostileEnv(t)
	suid := reg("bin/suid", "#!/bin/sh\n")
	suid.Mode = 0o4755
	sgid := reg("bin/sgid", "x")
	sgid.Mode = 0o2755
	caps := reg("bin/caps", "x")
	caps.PAXRecords = map[string]string{"SCHILY.xattr.security.capability": "\x01\x00\x00\x02\xff\xff\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff\x00\x00\x00\x00", "SCHILY.xattr.user.note": "x"}
	layer := tarOf(t, dir("bin"), dir("dev"), suid, sgid, caps,
		hdr{tar.Header{Name: "dev/mem", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 1, Mode: 0o666}, nil},
		hdr{tar.Header{Name: "dev/sda", Typeflag: tar.TypeBlock, Devmajor: 8, Devminor: 0, Mode: 0o666}, nil},
		hdr{tar.Header{Name: "fifo", Typeflag: tar.TypeFifo, Mode: 0o666}, nil},
		reg("ok", "fine"),
	)
	dst, err := e.importImage(t, "privs", dockerImage(t, layer), DefaultImportLimits())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"dev/mem", "dev/sda", "fifo"} {
		if _, err := os.Lstat(filepath.Join(dst, p)); err == nil {
			t.Errorf("%s was created", p)
		}
	}
	for _, p := range []string{"bin/suid", "bin/sgid"} {
		st, err := os.Stat(filepath.Join(dst, p))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode()&(os.ModeSetuid|os.ModeSetgid) != 0 || st.Mode().Perm() != 0o755 {
			t.Errorf("%s mode %v, want 0755 without setuid/setgid", p, st.Mode())
		}
	}
	if sz, err := unix.Lgetxattr(filepath.Join(dst, "bin/caps"), "security.capability", make([]byte, 64)); err == nil {
		t.Errorf("security.capability kept (%d bytes)", sz)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "ok")); string(b) != "fine" {
		t.Errorf("ok = %q", b)
	}
}

// The image's own files are confined as much as its layers: a manifest or
// index naming a file outside the archive is refused.
func TestImportHostileManifests(t *testing.T) {
	requireImportRoot(t)
	e := newHostileEnv(t)
	layer := tarOf(t, reg("ok", "fine"))
	oci := func(index string, blobs ...hdr) []byte {
		return tarOf(t, append([]hdr{reg("oci-layout", `{"imageLayoutVersion":"1.0.0"}`), reg("index.json", index)}, blobs...)...)
	}
	for _, c := range []struct {
		name  string
		image []byte
		want  error
	}{
		{"layer-dotdot", tarOf(t, reg("manifest.json", `[{"Layers":["`+climb+e.sentinel+`"]}]`)), ErrHostileImage},
		{"layer-absolute", tarOf(t, reg("manifest.json", `[{"Layers":["`+e.sentinel+`"]}]`)), os.ErrNotExist},
		{"layer-symlink-out", tarOf(t, reg("manifest.json", `[{"Layers":["l.tar"]}]`), symlink("l.tar", climb+e.sentinel)), ErrHostileImage},
		{"layer-symlink-abs", tarOf(t, reg("manifest.json", `[{"Layers":["l.tar"]}]`), symlink("l.tar", e.sentinel)), os.ErrNotExist},
		{"outer-entry-dotdot", tarOf(t, reg("manifest.json", `[{"Layers":["l.tar"]}]`), reg("../../l.tar", string(layer))), ErrHostileImage},
		{"digest-traversal", oci(`{"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:../../../../sentinel"}]}`), ErrHostileImage},
		{"digest-other-alg", oci(`{"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"md5:d41d8cd98f00b204e9800998ecf8427e"}]}`), ErrHostileImage},
		{"no-manifest", tarOf(t, reg("x", "y")), errAny},
		{"manifest-not-json", tarOf(t, reg("manifest.json", "{{{")), errAny},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.importImage(t, c.name, c.image, DefaultImportLimits())
			if err == nil || (c.want != errAny && !errors.Is(err, c.want)) {
				t.Fatalf("import: %v, want %v", err, c.want)
			}
		})
	}
}

// bigGzipLayer is a gzipped layer holding one file of n zero bytes: a few
// KiB that expand to n.
func bigGzipLayer(t *testing.T, n int64) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Name: "zeros", Typeflag: tar.TypeReg, Mode: 0o644, Size: n})
	if _, err := io.CopyN(tw, zeroReader{}, n); err != nil {
		t.Fatal(err)
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

// claimSize rewrites the size field of a tar's first header (base-256, as
// GNU tar writes sizes above 8 GiB) without adding the data.
func claimSize(b []byte, n int64) []byte {
	b = bytes.Clone(b)
	f := b[124:136]
	clear(f)
	f[0] = 0x80
	binary.BigEndian.PutUint64(f[4:], uint64(n))
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b[:512] {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

func gzipped(t testing.TB, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// Resource bounds: each stops the import with ErrImageTooLarge and a clear
// message, and leaves nothing half-imported.
func TestImportResourceBounds(t *testing.T) {
	requireImportRoot(t)
	e := newHostileEnv(t)
	small := DefaultImportLimits()
	small.MaxBytes = 8 << 20

	// A decompression bomb: ~40 KiB of gzip expanding to 64 MiB.
	bomb := bigGzipLayer(t, 64<<20)
	t.Logf("layer bomb: %d bytes compressed", len(bomb))

	// An outer tarball that is itself a bomb.
	var outer bytes.Buffer
	zw := gzip.NewWriter(&outer)
	zw.Write(dockerImage(t, tarOf(t, reg("big", strings.Repeat("\x00", 32<<20)))))
	zw.Close()

	// A sparse file: a header claiming far more than the stream carries.
	sparse := claimSize(tarOf(t, reg("sparse", "")), 1<<40)

	// Hundreds of thousands of tiny entries (the limit makes it millions-proof:
	// the import stops at MaxEntries+1 whatever follows).
	many := func() []byte {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
		tw := tar.NewWriter(zw)
		for i := 0; i < 200_000; i++ {
			tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("d%d", i%100), Typeflag: tar.TypeDir, Mode: 0o755})
		}
		tw.Close()
		zw.Close()
		return buf.Bytes()
	}()
	fewEntries := DefaultImportLimits()
	fewEntries.MaxEntries = 10_000

	manyLayers := make([]string, 300)
	for i := range manyLayers {
		manyLayers[i] = `"l.tar"`
	}

	for _, c := range []struct {
		name  string
		image []byte
		lim   ImportLimits
		msg   string
	}{
		{"layer-bomb", dockerImage(t, bomb), small, "more than 8388608 bytes"},
		{"outer-bomb", outer.Bytes(), small, "more than 8388608 bytes"},
		{"sparse-claim", dockerImage(t, sparse), DefaultImportLimits(), "bytes unpacked"},
		{"many-entries", dockerImage(t, many), fewEntries, "more than 10000 tar entries"},
		{"huge-manifest", tarOf(t, reg("manifest.json", `[{"Layers":[], "RepoTags":["`+strings.Repeat("x", 5<<20)+`"]}]`)), DefaultImportLimits(), "manifest.json is larger than"},
		{"many-layers", tarOf(t, reg("manifest.json", `[{"Layers":[`+strings.Join(manyLayers, ",")+`]}]`), reg("l.tar", string(tarOf(t)))), DefaultImportLimits(), "300 layers"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := e.importImage(t, c.name, c.image, c.lim)
			if !errors.Is(err, ErrImageTooLarge) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("import: %v, want ErrImageTooLarge saying %q", err, c.msg)
			}
		})
	}
	// Within the limits the same kind of image imports.
	if _, err := e.importImage(t, "fits", dockerImage(t, bigGzipLayer(t, 4<<20)), small); err != nil {
		t.Errorf("a 4 MiB layer under an 8 MiB limit: %v", err)
	}
}
