package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/pkg/archive"
	"github.com/containerd/containerd/v2/pkg/archive/compression"
	"github.com/containerd/platforms"
	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ErrRegistryUnreachable means no registry answered for an image reference:
// offline, a firewall, or a wrong host.
var ErrRegistryUnreachable = errors.New("image registry unreachable")

// IsImageRef reports whether s names an image in a registry (as opposed
// to a tarball path): a valid reference that is not an absolute path.
func IsImageRef(s string) bool {
	if s == "" || filepath.IsAbs(s) {
		return false
	}
	_, err := reference.ParseNormalizedNamed(s)
	return err == nil
}

// PullRootfs pulls ref through containerd (content lands in its store, so a
// second pull of the same image transfers nothing) and returns its
// linux/GOARCH root filesystem unpacked in cacheDir/<manifest digest>,
// unpacking it on first use. insecure lists registry hosts (host:port)
// spoken to over plain HTTP. A network failure wraps
// ErrRegistryUnreachable and says how to run offline.
func (c *Client) PullRootfs(ctx context.Context, ref string, insecure []string, cacheDir string, progress io.Writer) (string, error) {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", ref, err)
	}
	full := reference.TagNameOnly(named).String()
	plain := func(host string) (bool, error) { return slices.Contains(insecure, host), nil }
	resolver := docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(plain)),
	})
	platform := platforms.DefaultString()
	img, err := c.cd.Fetch(ctx, full, client.WithResolver(resolver), client.WithPlatform(platform))
	if err != nil {
		if unreachable(err) {
			return "", fmt.Errorf("%w: pull %s: %v\nno registry could be reached for it; to run offline, use an image tarball instead: --image FILE.tar (docker save, or an OCI layout)",
				ErrRegistryUnreachable, ref, err)
		}
		return "", fmt.Errorf("pull %s: %w (for a registry spoken to over plain HTTP add --insecure-registry %s; offline, use --image FILE.tar)",
			ref, err, reference.Domain(named))
	}
	cs := c.cd.ContentStore()
	m, err := images.Manifest(ctx, cs, img.Target, platforms.Default())
	if err != nil {
		return "", fmt.Errorf("image %s: no %s manifest: %w", ref, platform, err)
	}
	mdesc, err := manifestDigest(ctx, cs, img, platform)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cacheDir, mdesc)
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return dir, nil
	}
	if err := os.MkdirAll(cacheDir, 0o700); err != nil {
		return "", fmt.Errorf("image cache: %w", err)
	}
	tmp, err := os.MkdirTemp(cacheDir, ".pull-")
	if err != nil {
		return "", fmt.Errorf("image cache: %w", err)
	}
	fmt.Fprintf(progress, "behavediff: unpacking image %s (once; cached in %s)\n", ref, dir)
	for i, l := range m.Layers {
		if err := applyBlob(ctx, cs, l, tmp); err != nil {
			os.RemoveAll(tmp)
			return "", fmt.Errorf("image %s: layer %d (%s): %w", ref, i+1, l.Digest, err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		if st, serr := os.Stat(dir); serr == nil && st.IsDir() {
			return dir, nil // unpacked by a concurrent record
		}
		return "", fmt.Errorf("image cache: %w", err)
	}
	return dir, nil
}

// manifestDigest names the platform manifest the rootfs comes from, so the
// cache key changes exactly when the content does (a moved tag re-unpacks,
// a re-pushed identical image does not).
func manifestDigest(ctx context.Context, cs content.Store, img images.Image, platform string) (string, error) {
	var found string
	matcher := platforms.Only(platforms.DefaultSpec())
	err := images.Walk(ctx, images.HandlerFunc(func(ctx context.Context, d ocispec.Descriptor) ([]ocispec.Descriptor, error) {
		switch d.MediaType {
		case images.MediaTypeDockerSchema2Manifest, ocispec.MediaTypeImageManifest:
			if d.Platform == nil || matcher.Match(*d.Platform) {
				if found == "" {
					found = d.Digest.Encoded()
				}
			}
			return nil, nil
		}
		return images.Children(ctx, cs, d)
	}), img.Target)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", img.Name, err)
	}
	if found == "" {
		return "", fmt.Errorf("image %s: no %s manifest", img.Name, platform)
	}
	return found, nil
}

// applyBlob applies one (compressed) layer from the content store to dir
// with containerd's applier (whiteouts, paths kept inside dir).
func applyBlob(ctx context.Context, cs content.Store, d ocispec.Descriptor, dir string) error {
	ra, err := cs.ReaderAt(ctx, d)
	if err != nil {
		return err
	}
	defer ra.Close()
	ds, err := compression.DecompressStream(content.NewReader(ra))
	if err != nil {
		return err
	}
	defer ds.Close()
	_, err = archive.Apply(ctx, dir, ds)
	return err
}

// unreachable tells a network failure (nothing answered) from a registry
// that answered with an error.
func unreachable(err error) bool {
	var ne net.Error
	var ue *url.Error
	var de *net.DNSError
	var oe *net.OpError
	switch {
	case errors.As(err, &de), errors.As(err, &oe):
		return true
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return true
	case errors.As(err, &ne) && ne.Timeout():
		return true
	case errors.As(err, &ue):
		return !strings.Contains(ue.Err.Error(), "http: server gave HTTP response")
	}
	return false
}
