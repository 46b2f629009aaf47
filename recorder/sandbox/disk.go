package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// disksDir caches one freshly formatted, sparse ext4 image per size, so a run
// copies a few MiB of metadata instead of running mkfs.
const disksDir = libDir + "/disks"

const loFlagsAutoclear = 4 // LO_FLAGS_AUTOCLEAR: detach the loop device when unmounted

// mountDisk puts the run's copy-on-write layer on a filesystem of its own,
// DiskBytes large: a sparse ext4 image loop-mounted at s.diskMnt, so the
// kernel stops the run's writes at the limit (ENOSPC) whatever the host's
// free space, and the host loses at most DiskBytes. The loop device is
// released when the mount goes (autoclear).
func (s *Sandbox) mountDisk() error {
	tmpl, err := diskTemplate(s.opts.DiskBytes)
	if err != nil {
		return err
	}
	img := filepath.Join(s.dir, "disk.img")
	if err := sparseCopy(tmpl, img); err != nil {
		return fmt.Errorf("sandbox: disk image: %w", err)
	}
	if err := os.Mkdir(s.diskMnt, 0o700); err != nil {
		return fmt.Errorf("sandbox: create %s: %w", s.diskMnt, err)
	}
	if err := loopMount(img, s.diskMnt); err != nil {
		// No free loop device node we can open (a minimal /dev): let
		// mount(8) find or create one.
		if out, err2 := exec.Command("mount", "-t", "ext4", "-o", "loop,nosuid,nodev", img, s.diskMnt).CombinedOutput(); err2 != nil {
			return fmt.Errorf("sandbox: mount disk image: %w (and mount(8): %v: %s)", err, err2, strings.TrimSpace(string(out)))
		}
	}
	// The image's own lost+found would show up as a change.
	_ = os.Remove(filepath.Join(s.diskMnt, "lost+found"))
	return nil
}

// diskTemplate returns the cached empty ext4 image of size bytes, making it
// on first use (to a temporary name, renamed into place).
func diskTemplate(size int64) (string, error) {
	p := filepath.Join(disksDir, fmt.Sprintf("ext4-%d.img", size))
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	if err := os.MkdirAll(disksDir, 0o700); err != nil {
		return "", fmt.Errorf("sandbox: create %s: %w", disksDir, err)
	}
	f, err := os.CreateTemp(disksDir, ".mkfs-*")
	if err != nil {
		return "", fmt.Errorf("sandbox: disk template: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	err = f.Truncate(size)
	f.Close()
	if err != nil {
		return "", fmt.Errorf("sandbox: size disk image to %d bytes: %w", size, err)
	}
	// No journal and no reserved blocks: the run gets exactly what it was
	// given. Lazy init keeps the image sparse.
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal",
		"-E", "lazy_itable_init=1,nodiscard", tmp).CombinedOutput(); err != nil {
		return "", fmt.Errorf("sandbox: format disk image (mkfs.ext4, from e2fsprogs): %w: %s", err, strings.TrimSpace(string(out)))
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", fmt.Errorf("sandbox: disk template: %w", err)
	}
	return p, nil
}

// sparseCopy copies src to a new file dst, holes included: only the data
// extents (SEEK_DATA/SEEK_HOLE) are copied.
func sparseCopy(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer out.Close()
	if err := out.Truncate(st.Size()); err != nil {
		return err
	}
	for off := int64(0); off < st.Size(); {
		data, err := unix.Seek(int(in.Fd()), off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // only a hole is left
		} else if err != nil {
			return fmt.Errorf("seek data in %s: %w", src, err)
		}
		hole, err := unix.Seek(int(in.Fd()), data, unix.SEEK_HOLE)
		if err != nil {
			return fmt.Errorf("seek hole in %s: %w", src, err)
		}
		if _, err := io.Copy(io.NewOffsetWriter(out, data), io.NewSectionReader(in, data, hole-data)); err != nil {
			return fmt.Errorf("copy %s: %w", src, err)
		}
		off = hole
	}
	return out.Close()
}

// loopMount attaches img to a free loop device (autoclear) and mounts it
// at dir. The device is held open until the mount holds it, so autoclear
// cannot release it in between.
func loopMount(img, dir string) error {
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer ctl.Close()
	for try := 0; ; try++ {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return fmt.Errorf("get a free loop device: %w", err)
		}
		dev, err := os.OpenFile(fmt.Sprintf("/dev/loop%d", n), os.O_RDWR, 0)
		if err != nil {
			return err
		}
		cfg := unix.LoopConfig{Fd: uint32(f.Fd())}
		cfg.Info.Flags = loFlagsAutoclear
		err = unix.IoctlLoopConfigure(int(dev.Fd()), &cfg)
		if errors.Is(err, unix.EBUSY) && try < 20 {
			dev.Close() // another process took it first
			time.Sleep(time.Millisecond)
			continue
		}
		if err != nil {
			dev.Close()
			return fmt.Errorf("configure %s: %w", dev.Name(), err)
		}
		err = unix.Mount(dev.Name(), dir, "ext4", unix.MS_NOSUID|unix.MS_NODEV, "")
		dev.Close()
		if err != nil {
			return fmt.Errorf("mount %s: %w", dev.Name(), err)
		}
		return nil
	}
}
