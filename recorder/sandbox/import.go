package sandbox

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/containerd/containerd/v2/pkg/archive"
	"github.com/containerd/containerd/v2/pkg/archive/compression"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Media types of indexes and manifests we follow (OCI and Docker v2).
const (
	mediaDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
)

// ImportRootfs unpacks a local image tarball into dir, ready to be used as
// Options.Rootfs, within DefaultImportLimits. Nothing can be pulled on an
// offline host, but `docker save` or an OCI layout exported elsewhere can be
// carried over as a file.
//
// Both formats are accepted, optionally gzip/zstd compressed as a whole: an
// OCI image layout (oci-layout, index.json, blobs/), following nested
// indexes to the linux/GOARCH manifest, and docker-save (manifest.json with
// its Layers list). Layers are applied in order with containerd's own layer
// applier, which handles whiteouts (.wh.NAME) and opaque directories
// (.wh..wh..opq) and resolves every path inside the rootfs. OCI layer
// blobs are checked against their digests. dir must not exist or be empty.
//
// The image is untrusted: entries, links, whiteouts and layer names that
// leave the image are ErrHostileImage; device nodes and fifos are skipped,
// setuid/setgid bits and extended attributes (file capabilities) dropped,
// so nothing in the cache is more powerful than a plain file. The rootfs is
// unpacked into a temporary directory next to dir and renamed into place
// only when complete: a failed import leaves dir as it was.
func ImportRootfs(ctx context.Context, tarball, dir string) error {
	return ImportRootfsWithLimits(ctx, tarball, dir, DefaultImportLimits())
}

// ImportRootfsWithLimits is ImportRootfs with explicit bounds.
func ImportRootfsWithLimits(ctx context.Context, tarball, dir string, lim ImportLimits) error {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("import rootfs: %w", err)
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return fmt.Errorf("import rootfs: %s is not empty", dir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("import rootfs: %w", err)
	}
	// Everything is unpacked next to dir (same filesystem, not a small
	// /tmp): the image's files in tmp/image, the rootfs in tmp/rootfs,
	// which becomes dir at the end. The rest is removed.
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".behavediff-import-")
	if err != nil {
		return fmt.Errorf("import rootfs: %w", err)
	}
	defer os.RemoveAll(tmp)
	rootfs := filepath.Join(tmp, "rootfs")
	if err := os.Mkdir(rootfs, 0o755); err != nil {
		return fmt.Errorf("import rootfs: %w", err)
	}

	b := &budget{lim: lim}
	img, err := unpackOuter(ctx, tarball, filepath.Join(tmp, "image"), b)
	if err != nil {
		return fmt.Errorf("import rootfs from %s: %w", tarball, err)
	}
	defer img.close()
	layers, err := img.layers()
	if err != nil {
		return fmt.Errorf("import rootfs from %s: %w", tarball, err)
	}
	for i, l := range layers {
		if err := applyLayer(ctx, img, l, rootfs, b); err != nil {
			return fmt.Errorf("import rootfs from %s: layer %d (%s): %w", tarball, i+1, l.name, err)
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("import rootfs: %w", err)
	}
	if err := os.Rename(rootfs, dir); err != nil {
		return fmt.Errorf("import rootfs: %w", err)
	}
	return nil
}

// imageFiles is the unpacked outer tarball: regular files under root, and
// the symlinks docker save uses for repeated layers.
type imageFiles struct {
	root     *os.Root
	symlinks map[string]string // cleaned name -> cleaned target (both relative)
	lim      ImportLimits
}

func (f *imageFiles) close() { f.root.Close() }

// open opens the image file name, following the outer tarball's symlinks.
// os.Root keeps the open inside the image directory whatever the name.
func (f *imageFiles) open(name string) (*os.File, error) {
	name = cleanRel(name)
	for range 16 {
		t, ok := f.symlinks[name]
		if !ok {
			break
		}
		name = t
	}
	if name == "" {
		return nil, fmt.Errorf("invalid path in image")
	}
	return f.root.Open(name)
}

func (f *imageFiles) exists(name string) bool {
	r, err := f.open(name)
	if err != nil {
		return false
	}
	r.Close()
	return true
}

// readJSON decodes one JSON document of the image, refusing one larger
// than MaxManifest with a clear error (not a truncated parse).
func (f *imageFiles) readJSON(name string, v any) error {
	r, err := f.open(name)
	if err != nil {
		return err
	}
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, f.lim.MaxManifest+1))
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(data)) > f.lim.MaxManifest {
		return fmt.Errorf("%w: %s is larger than %d bytes", ErrImageTooLarge, name, f.lim.MaxManifest)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("parse %s: %w", name, err)
	}
	return nil
}

// cleanRel turns a tar member name into a clean relative path, "" when it
// would leave the archive (absolute or ..).
func cleanRel(name string) string {
	c := path.Clean("/" + name)
	if c == "/" {
		return ""
	}
	return c[1:]
}

// unpackOuter extracts regular files of the (maybe compressed) outer tarball
// into root and records its symlinks.
func unpackOuter(ctx context.Context, tarball, root string, b *budget) (*imageFiles, error) {
	f, err := os.Open(tarball)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dr, err := compression.DecompressStream(f)
	if err != nil {
		return nil, fmt.Errorf("decompress: %w", err)
	}
	defer dr.Close()
	if err := os.Mkdir(root, 0o700); err != nil {
		return nil, err
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, err
	}
	img := &imageFiles{root: r, symlinks: map[string]string{}, lim: b.lim}
	if err := img.unpack(ctx, tar.NewReader(b.reader(dr)), b); err != nil {
		r.Close()
		return nil, err
	}
	return img, nil
}

func (img *imageFiles) unpack(ctx context.Context, tr *tar.Reader, b *budget) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read tarball: %w", err)
		}
		if err := b.entry(); err != nil {
			return err
		}
		if escapes(hdr.Name) {
			return fmt.Errorf("%w: tarball entry %q", ErrHostileImage, hdr.Name)
		}
		name := cleanRel(hdr.Name)
		if name == "" {
			continue
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := img.root.MkdirAll(name, 0o700); err != nil {
				return fmt.Errorf("unpack %s: %w", name, err)
			}
		case tar.TypeReg:
			if err := b.file(hdr.Size); err != nil { // sparse files claim more than they carry
				return err
			}
			if err := img.root.MkdirAll(path.Dir(name), 0o700); err != nil {
				return fmt.Errorf("unpack %s: %w", name, err)
			}
			delete(img.symlinks, name) // a later entry replaces an earlier one
			out, err := img.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				return fmt.Errorf("unpack %s: %w", name, err)
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("unpack %s: %w", name, err)
			}
		case tar.TypeSymlink, tar.TypeLink:
			target := hdr.Linkname
			if hdr.Typeflag == tar.TypeSymlink && !strings.HasPrefix(target, "/") {
				target = path.Join(path.Dir(name), target)
			}
			if escapes(target) {
				return fmt.Errorf("%w: tarball link %q -> %q", ErrHostileImage, hdr.Name, hdr.Linkname)
			}
			if t := cleanRel(target); t != "" {
				img.symlinks[name] = t
			}
		}
		// Anything else (devices, fifos) is not part of an image's files.
	}
}

// layerRef is one layer to apply.
type layerRef struct {
	name   string // file inside the image
	digest string // "sha256:<hex>" to verify, "" for docker-save layers
}

// layers returns the image's layers in application order.
func (f *imageFiles) layers() ([]layerRef, error) {
	var out []layerRef
	var err error
	switch {
	case f.exists("index.json"):
		out, err = f.ociLayers()
	case f.exists("manifest.json"):
		out, err = f.dockerLayers()
	default:
		return nil, errors.New("neither an OCI layout (index.json) nor a docker-save archive (manifest.json)")
	}
	if err != nil {
		return nil, err
	}
	if len(out) > f.lim.MaxLayers {
		return nil, fmt.Errorf("%w: %d layers, more than %d", ErrImageTooLarge, len(out), f.lim.MaxLayers)
	}
	return out, nil
}

func (f *imageFiles) dockerLayers() ([]layerRef, error) {
	var m []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := f.readJSON("manifest.json", &m); err != nil {
		return nil, err
	}
	if len(m) == 0 {
		return nil, errors.New("manifest.json lists no image")
	}
	if len(m) > 1 {
		return nil, fmt.Errorf("manifest.json holds %d images; save exactly one", len(m))
	}
	var out []layerRef
	for _, l := range m[0].Layers {
		if escapes(l) || cleanRel(l) == "" {
			return nil, fmt.Errorf("%w: manifest.json names layer %q", ErrHostileImage, l)
		}
		out = append(out, layerRef{name: l})
	}
	return out, nil
}

func (f *imageFiles) ociLayers() ([]layerRef, error) {
	var idx ocispec.Index
	if err := f.readJSON("index.json", &idx); err != nil {
		return nil, err
	}
	desc, err := pickManifest(idx.Manifests)
	if err != nil {
		return nil, err
	}
	for depth := 0; ; depth++ {
		if depth > 8 {
			return nil, errors.New("image indexes nested too deep")
		}
		p, err := blobPath(desc.Digest)
		if err != nil {
			return nil, err
		}
		switch desc.MediaType {
		case ocispec.MediaTypeImageIndex, mediaDockerManifestList:
			var sub ocispec.Index
			if err := f.readJSON(p, &sub); err != nil {
				return nil, err
			}
			if desc, err = pickManifest(sub.Manifests); err != nil {
				return nil, err
			}
			continue
		case ocispec.MediaTypeImageManifest, mediaDockerManifest, "":
		default:
			return nil, fmt.Errorf("unsupported manifest media type %q", desc.MediaType)
		}
		var man ocispec.Manifest
		if err := f.readJSON(p, &man); err != nil {
			return nil, err
		}
		var out []layerRef
		for _, l := range man.Layers {
			lp, err := blobPath(l.Digest)
			if err != nil {
				return nil, err
			}
			out = append(out, layerRef{name: lp, digest: l.Digest.String()})
		}
		return out, nil
	}
}

// pickManifest chooses the linux/GOARCH entry of an index, or its only one.
func pickManifest(ds []ocispec.Descriptor) (ocispec.Descriptor, error) {
	if len(ds) == 1 {
		return ds[0], nil
	}
	for _, d := range ds {
		if d.Platform != nil && d.Platform.OS == "linux" && d.Platform.Architecture == runtime.GOARCH {
			return d, nil
		}
	}
	if len(ds) == 0 {
		return ocispec.Descriptor{}, errors.New("image index lists no manifest")
	}
	return ocispec.Descriptor{}, fmt.Errorf("image index has %d manifests and none for linux/%s", len(ds), runtime.GOARCH)
}

// blobPath is where an OCI layout keeps the blob of a digest. Only a
// well-formed sha256 digest names a blob: anything else ("sha256:../../x")
// could name a file outside blobs/.
func blobPath(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil || d.Algorithm() != digest.SHA256 {
		return "", fmt.Errorf("%w: bad blob digest %q", ErrHostileImage, string(d))
	}
	return path.Join("blobs", d.Algorithm().String(), d.Encoded()), nil
}

// applyLayer applies one (maybe compressed) layer tar onto dir. A blob with
// a known digest is verified before anything of it is applied.
func applyLayer(ctx context.Context, img *imageFiles, l layerRef, dir string, b *budget) error {
	f, err := img.open(l.name)
	if err != nil {
		return err
	}
	defer f.Close()
	if l.digest != "" {
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != l.digest {
			return fmt.Errorf("digest mismatch: blob is %s", got)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
	}
	dr, err := compression.DecompressStream(f)
	if err != nil {
		return fmt.Errorf("decompress: %w", err)
	}
	defer dr.Close()
	if _, err := archive.Apply(ctx, dir, b.reader(dr), archive.WithFilter(b.layerFilter)); err != nil {
		return err
	}
	return nil
}
