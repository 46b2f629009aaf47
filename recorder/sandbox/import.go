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
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Media types of indexes and manifests we follow (OCI and Docker v2).
const (
	mediaDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
)

// ImportRootfs unpacks a local image tarball into dir, ready to be used as
// Options.Rootfs. Nothing can be pulled on an offline host, but `docker save`
// or an OCI layout exported elsewhere can be carried over as a file.
//
// Both formats are accepted, optionally gzip/zstd compressed as a whole: an
// OCI image layout (oci-layout, index.json, blobs/), following nested
// indexes to the linux/GOARCH manifest, and docker-save (manifest.json with
// its Layers list). Layers are applied in order with containerd's own layer
// applier, which handles whiteouts (.wh.NAME) and opaque directories
// (.wh..wh..opq) and keeps every path inside dir. OCI layer blobs are
// checked against their digests. dir must not exist or be empty.
func ImportRootfs(ctx context.Context, tarball, dir string) (retErr error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("import rootfs: %w", err)
	}
	if ents, err := os.ReadDir(dir); err == nil && len(ents) > 0 {
		return fmt.Errorf("import rootfs: %s is not empty", dir)
	} else if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("import rootfs: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("import rootfs: %w", err)
	}
	// The image is unpacked next to dir (same filesystem, not a small /tmp)
	// and removed afterwards.
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".behavediff-import-")
	if err != nil {
		return fmt.Errorf("import rootfs: %w", err)
	}
	defer os.RemoveAll(tmp)

	img, err := unpackOuter(ctx, tarball, tmp)
	if err != nil {
		return fmt.Errorf("import rootfs from %s: %w", tarball, err)
	}
	layers, err := img.layers()
	if err != nil {
		return fmt.Errorf("import rootfs from %s: %w", tarball, err)
	}
	for i, l := range layers {
		if err := applyLayer(ctx, img, l, dir); err != nil {
			return fmt.Errorf("import rootfs from %s: layer %d (%s): %w", tarball, i+1, l.name, err)
		}
	}
	return nil
}

// imageFiles is the unpacked outer tarball: regular files under root, and
// the symlinks docker save uses for repeated layers.
type imageFiles struct {
	root     string
	symlinks map[string]string // cleaned name -> cleaned target (both relative)
}

// open opens the image file name, following the outer tarball's symlinks.
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
	return os.Open(filepath.Join(f.root, name))
}

func (f *imageFiles) readJSON(name string, v any) error {
	r, err := f.open(name)
	if err != nil {
		return err
	}
	defer r.Close()
	if err := json.NewDecoder(io.LimitReader(r, 16<<20)).Decode(v); err != nil {
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
func unpackOuter(ctx context.Context, tarball, root string) (*imageFiles, error) {
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
	img := &imageFiles{root: root, symlinks: map[string]string{}}
	tr := tar.NewReader(dr)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read tarball: %w", err)
		}
		name := cleanRel(hdr.Name)
		if name == "" {
			continue
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(filepath.Join(root, name), 0o700); err != nil {
				return nil, err
			}
		case tar.TypeReg:
			p := filepath.Join(root, name)
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				return nil, err
			}
			out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
			if err != nil {
				return nil, err
			}
			_, err = io.Copy(out, tr)
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, fmt.Errorf("unpack %s: %w", name, err)
			}
		case tar.TypeSymlink, tar.TypeLink:
			target := hdr.Linkname
			if hdr.Typeflag == tar.TypeSymlink && !strings.HasPrefix(target, "/") {
				target = path.Join(path.Dir(name), target)
			}
			if t := cleanRel(target); t != "" {
				img.symlinks[name] = t
			}
		}
	}
	return img, nil
}

// layerRef is one layer to apply.
type layerRef struct {
	name   string // file inside the image
	digest string // "sha256:<hex>" to verify, "" for docker-save layers
}

// layers returns the image's layers in application order.
func (f *imageFiles) layers() ([]layerRef, error) {
	if _, err := os.Stat(filepath.Join(f.root, "index.json")); err == nil {
		return f.ociLayers()
	}
	if _, err := os.Stat(filepath.Join(f.root, "manifest.json")); err == nil {
		return f.dockerLayers()
	}
	return nil, errors.New("neither an OCI layout (index.json) nor a docker-save archive (manifest.json)")
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
		switch desc.MediaType {
		case ocispec.MediaTypeImageIndex, mediaDockerManifestList:
			var sub ocispec.Index
			if err := f.readJSON(blobPath(desc.Digest.String()), &sub); err != nil {
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
		if err := f.readJSON(blobPath(desc.Digest.String()), &man); err != nil {
			return nil, err
		}
		var out []layerRef
		for _, l := range man.Layers {
			out = append(out, layerRef{name: blobPath(l.Digest.String()), digest: l.Digest.String()})
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

func blobPath(digest string) string {
	alg, hexPart, _ := strings.Cut(digest, ":")
	return path.Join("blobs", alg, hexPart)
}

// applyLayer applies one (maybe compressed) layer tar onto dir. A blob with
// a known digest is verified before anything of it is applied.
func applyLayer(ctx context.Context, img *imageFiles, l layerRef, dir string) error {
	f, err := img.open(l.name)
	if err != nil {
		return err
	}
	defer f.Close()
	if l.digest != "" {
		if !strings.HasPrefix(l.digest, "sha256:") {
			return fmt.Errorf("unsupported digest %s", l.digest)
		}
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
	if _, err := archive.Apply(ctx, dir, dr); err != nil {
		return err
	}
	return nil
}
