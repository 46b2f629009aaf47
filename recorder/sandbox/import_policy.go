package sandbox

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// What an image may do to the host while it is unpacked: the limits, and
// the per-entry policy applied before containerd's layer applier.

// Sentinel errors of ImportRootfs, for callers that tell a hostile or
// oversized image from an I/O failure.
var (
	// ErrHostileImage: the image tries to reach outside its directory
	// (an entry, link, whiteout or layer name that leaves it).
	ErrHostileImage = errors.New("image reaches outside its directory")
	// ErrImageTooLarge: the image exceeds an ImportLimits bound.
	ErrImageTooLarge = errors.New("image exceeds an import limit")
)

// ImportLimits bound what unpacking an image may cost the host. Images are
// unpacked as root before any sandbox exists, so a small tarball that
// expands to fill the disk, or to millions of inodes, must be stopped.
type ImportLimits struct {
	MaxBytes    int64 // decompressed bytes: outer tarball plus every layer stream
	MaxEntries  int   // tar entries: outer tarball plus every layer
	MaxManifest int64 // bytes of one JSON document (index.json, manifest.json, a manifest blob)
	MaxLayers   int   // layers of the image
}

// DefaultImportLimits are generous for real images (the largest common
// ones unpack to a few GiB and a few hundred thousand files).
func DefaultImportLimits() ImportLimits {
	return ImportLimits{MaxBytes: 16 << 30, MaxEntries: 1_000_000, MaxManifest: 4 << 20, MaxLayers: 256}
}

// budget is what is left of the ImportLimits, shared by the outer tarball
// and every layer. Decompressed stream bytes and the sizes regular files
// claim are counted apart, each against MaxBytes: the stream is what a
// bomb inflates to, the claims are what sparse files would write.
type budget struct {
	lim                    ImportLimits
	stream, files, entries int64
}

func (b *budget) entry() error {
	b.entries++
	if b.entries > int64(b.lim.MaxEntries) {
		return fmt.Errorf("%w: more than %d tar entries", ErrImageTooLarge, b.lim.MaxEntries)
	}
	return nil
}

func (b *budget) take(n int64) error { return b.charge(&b.stream, n) }

// file charges the size a regular file's header claims.
func (b *budget) file(n int64) error { return b.charge(&b.files, n) }

func (b *budget) charge(c *int64, n int64) error {
	*c += n
	if n < 0 || *c > b.lim.MaxBytes {
		return fmt.Errorf("%w: more than %d bytes unpacked", ErrImageTooLarge, b.lim.MaxBytes)
	}
	return nil
}

// reader charges every byte read from r (a decompressed stream) to the
// budget, so a decompression bomb stops at the limit.
func (b *budget) reader(r io.Reader) io.Reader { return &budgetReader{r: r, b: b} }

type budgetReader struct {
	r io.Reader
	b *budget
}

func (br *budgetReader) Read(p []byte) (int, error) {
	n, err := br.r.Read(p)
	if n > 0 {
		if berr := br.b.take(int64(n)); berr != nil {
			return n, berr
		}
	}
	return n, err
}

// escapes reports whether a relative name climbs out of its root ("..",
// "a/../../b"). Absolute names are taken as relative to the root, the
// way tar extracts them.
func escapes(name string) bool {
	c := path.Clean(strings.TrimLeft(name, "/"))
	return c == ".." || strings.HasPrefix(c, "../")
}

// layerFilter is the policy for every entry of a layer, before
// containerd's applier (which resolves each path inside the rootfs) sees
// it. containerd has already cleaned h.Name.
func (b *budget) layerFilter(h *tar.Header) (bool, error) {
	if err := b.entry(); err != nil {
		return false, err
	}
	if escapes(h.Name) {
		return false, fmt.Errorf("%w: layer entry %q", ErrHostileImage, h.Name)
	}
	if base := path.Base(h.Name); strings.HasPrefix(base, whiteoutPrefix) && base != whiteoutOpaque {
		switch victim := strings.TrimPrefix(base, whiteoutPrefix); victim {
		case "", ".", "..":
			return false, fmt.Errorf("%w: whiteout %q", ErrHostileImage, h.Name)
		}
	}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeRegA: //nolint:staticcheck // old tars still use TypeRegA
		// The stream budget counts what is read; a sparse file claims more.
		if err := b.file(h.Size); err != nil {
			return false, err
		}
	case tar.TypeLink:
		if escapes(h.Linkname) {
			return false, fmt.Errorf("%w: hard link %q -> %q", ErrHostileImage, h.Name, h.Linkname)
		}
	case tar.TypeDir, tar.TypeSymlink:
		// A symlink may point anywhere: containerd resolves later entries
		// through it inside the rootfs, and the sandbox sees it chrooted.
	default:
		// Devices, fifos and unknown types: a sandbox gets its own /dev,
		// and a device node in the host's image cache could reach a host
		// device.
		return false, nil
	}
	// Nothing in the cache more powerful than a plain file: no setuid or
	// setgid bits, no extended attributes (security.capability).
	h.Mode &^= 0o6000
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "SCHILY.xattr.") {
			delete(h.PAXRecords, k)
		}
	}
	h.Xattrs = nil //nolint:staticcheck // cleared for older writers' headers too
	return true, nil
}

// Whiteout names of the OCI layer format.
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)
