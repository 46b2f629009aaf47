package sandbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The overlay upper dir is the exact record of what a run changed: every
// created or modified entry is there (modified files are copied up whole),
// deletions are whiteouts (0/0 character devices), and a directory that was
// removed and recreated is marked opaque so the lower one's content is hidden.
const (
	xattrOpaque   = "trusted.overlay.opaque"
	xattrWhiteout = "trusted.overlay.whiteout"
)

// upperKind classifies one upper dir entry.
type upperKind int

const (
	kindWhiteout upperKind = iota
	kindDir
	kindFile
	kindSymlink
	kindOther // fifo, socket, device
)

// upperEntry is one entry of the upper dir together with what the real
// workspace holds at the same place.
type upperEntry struct {
	rel    string // relative to the workspace root
	kind   upperKind
	opaque bool
	st     *unix.Stat_t
	lower  *unix.Stat_t // nil when the workspace has nothing there
}

// errSkipDir, returned by a walkUpper callback for a directory, skips the
// directory's content.
var errSkipDir = errors.New("skip this directory")

// walkUpper visits the upper dir in lexical order, parents before children,
// and calls fn for each entry. For an opaque dir it calls gone for each
// entry of the real directory that the run removed.
func (s *Sandbox) walkUpper(fn func(e upperEntry) error, gone func(rel string, lower *unix.Stat_t) error) error {
	if s.dir == "" {
		return errors.New("sandbox: changes: the sandbox is closed (call Changes/ApplyChanges before Close)")
	}
	if s.statusC != nil && s.result == nil {
		return errors.New("sandbox: changes: the command is still running (call Wait first)")
	}
	var walk func(rel string) error
	walk = func(rel string) error {
		ents, err := os.ReadDir(filepath.Join(s.upper, rel))
		if err != nil {
			return fmt.Errorf("sandbox: read upper dir: %w", err)
		}
		present := make(map[string]bool, len(ents))
		for _, de := range ents {
			present[de.Name()] = true
			e := upperEntry{rel: filepath.Join(rel, de.Name())}
			up := filepath.Join(s.upper, e.rel)
			var st unix.Stat_t
			if err := unix.Lstat(up, &st); err != nil {
				return fmt.Errorf("sandbox: stat %s: %w", up, err)
			}
			s.insideOwner(&st)
			e.st = &st
			var lst unix.Stat_t
			if err := unix.Lstat(filepath.Join(s.workspace, e.rel), &lst); err == nil {
				e.lower = &lst
			}
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFCHR:
				e.kind = kindOther
				if st.Rdev == 0 {
					e.kind = kindWhiteout
				}
			case unix.S_IFDIR:
				e.kind = kindDir
				e.opaque = getXattr(up, xattrOpaque) == "y"
			case unix.S_IFREG:
				e.kind = kindFile
				if st.Size == 0 && getXattr(up, xattrWhiteout) != "" {
					e.kind = kindWhiteout
				}
			case unix.S_IFLNK:
				e.kind = kindSymlink
			default:
				e.kind = kindOther
			}
			if err := fn(e); errors.Is(err, errSkipDir) {
				continue
			} else if err != nil {
				return err
			}
			if e.kind == kindDir {
				if err := walk(e.rel); err != nil {
					return err
				}
			}
		}
		// An opaque dir hides everything of the real directory that is not
		// in upper: those entries were deleted by the run.
		if rel != "" && getXattr(filepath.Join(s.upper, rel), xattrOpaque) == "y" && gone != nil {
			lowerDir := filepath.Join(s.workspace, rel)
			if lents, err := os.ReadDir(lowerDir); err == nil {
				for _, le := range lents {
					if present[le.Name()] {
						continue
					}
					var lst unix.Stat_t
					if err := unix.Lstat(filepath.Join(lowerDir, le.Name()), &lst); err != nil {
						continue
					}
					if err := gone(filepath.Join(rel, le.Name()), &lst); err != nil {
						return err
					}
				}
			}
		}
		return nil
	}
	return walk("")
}

// Change is one path the run changed in its copy-on-write workspace. The
// sandbox owns this type so it needs nothing of the store; the recorder
// stores it as a store.FSChange.
type Change struct {
	Path   string // absolute path inside the workspace
	Change string // "created", "modified", "deleted"
	Size   int64  // -1 for deletions and directories
	SHA256 string // hex, empty for deletions and directories
	IsDir  bool
}

// Changes reports what the run changed in its workspace, read from the
// overlay upper dir after the command exited: created and modified files
// (with size and sha256), created directories, and deletions. Paths are
// absolute paths in the (symlink-resolved) workspace, sorted. A file that
// was only copied up (opened for writing, touched) but whose content, mode
// and owner are unchanged is not reported. Call it before Close.
func (s *Sandbox) Changes() ([]Change, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Change
	add := func(rel, change string, size int64, sum string, isDir bool) {
		out = append(out, Change{
			Path: filepath.Join(s.workspace, rel), Change: change,
			Size: size, SHA256: sum, IsDir: isDir,
		})
	}
	deleted := func(rel string, lower *unix.Stat_t) error {
		add(rel, "deleted", -1, "", lower.Mode&unix.S_IFMT == unix.S_IFDIR)
		return nil
	}
	err := s.walkUpper(func(e upperEntry) error {
		up := filepath.Join(s.upper, e.rel)
		lowerType := uint32(0)
		if e.lower != nil {
			lowerType = e.lower.Mode & unix.S_IFMT
		}
		change := "created"
		if e.lower != nil {
			change = "modified"
		}
		switch e.kind {
		case kindWhiteout:
			if e.lower != nil {
				return deleted(e.rel, e.lower)
			}
		case kindDir:
			if e.lower == nil || lowerType != unix.S_IFDIR || !sameMeta(e.st, e.lower) {
				add(e.rel, change, -1, "", true)
			}
		case kindFile:
			size, sum, err := hashFile(up)
			if err != nil {
				return err
			}
			if e.lower != nil && lowerType == unix.S_IFREG && sameMeta(e.st, e.lower) && e.lower.Size == size {
				_, lsum, err := hashFile(filepath.Join(s.workspace, e.rel))
				if err == nil && lsum == sum {
					return nil // copied up, not changed
				}
			}
			add(e.rel, change, size, sum, false)
		case kindSymlink:
			target, err := os.Readlink(up)
			if err != nil {
				return fmt.Errorf("sandbox: readlink %s: %w", up, err)
			}
			if e.lower != nil && lowerType == unix.S_IFLNK {
				if lt, err := os.Readlink(filepath.Join(s.workspace, e.rel)); err == nil && lt == target {
					return nil
				}
			}
			h := sha256.Sum256([]byte(target))
			add(e.rel, change, int64(len(target)), hex.EncodeToString(h[:]), false)
		default:
			add(e.rel, change, 0, "", false)
		}
		return nil
	}, deleted)
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// Refusal is a change ApplyChanges did not make, and why.
type Refusal struct {
	Path   string // absolute, in the workspace
	Reason string
}

// ApplyChanges makes the run's changes real (--keep-changes): it copies the
// upper dir into the workspace and applies deletions. Files the container
// created as root are given the owner of what they replace, or of the
// workspace root for new files, so a sudo'd record does not leave
// root-owned files in a user's tree. Call it after Wait and before Close.
//
// What the run wrote is untrusted, so ApplyChanges never writes a protected
// path (.behavediff anywhere, the trace database and files the caller named
// in Options.Protect), never writes through a symlink (every parent is
// checked to be a real directory of the workspace), never sets setuid or
// setgid bits, and never copies extended attributes (so no file
// capabilities). It returns the changes it refused.
func (s *Sandbox) ApplyChanges() ([]Refusal, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var wsSt unix.Stat_t
	if err := unix.Stat(s.workspace, &wsSt); err != nil {
		return nil, fmt.Errorf("sandbox: apply: stat workspace: %w", err)
	}
	owner := func(e upperEntry) (int, int) {
		if e.st.Uid != 0 {
			return int(e.st.Uid), int(e.st.Gid)
		}
		if e.lower != nil {
			return int(e.lower.Uid), int(e.lower.Gid)
		}
		return int(wsSt.Uid), int(wsSt.Gid)
	}
	var refused []Refusal
	refuse := func(rel, why string) {
		refused = append(refused, Refusal{Path: filepath.Join(s.workspace, rel), Reason: why})
	}
	// skip reports (and records) why a change at rel must not be applied.
	skip := func(rel string) bool {
		if s.isProtected(rel) {
			refuse(rel, "behavediff's own files (.behavediff, the trace database) are never changed by a run")
			return true
		}
		if !s.realParents(rel) {
			refuse(rel, "a parent directory is a symlink or not a directory: writing would leave the workspace")
			return true
		}
		return false
	}
	var dirTimes []upperEntry // directory mtimes are set last, children change them
	remove := func(rel string, _ *unix.Stat_t) error {
		if skip(rel) {
			return nil
		}
		if err := os.RemoveAll(filepath.Join(s.workspace, rel)); err != nil {
			return fmt.Errorf("sandbox: apply: delete: %w", err)
		}
		return nil
	}
	err := s.walkUpper(func(e upperEntry) error {
		dst := filepath.Join(s.workspace, e.rel)
		up := filepath.Join(s.upper, e.rel)
		lowerType := uint32(0)
		if e.lower != nil {
			lowerType = e.lower.Mode & unix.S_IFMT
		}
		if skip(e.rel) {
			if e.kind == kindDir {
				return errSkipDir
			}
			return nil
		}
		uid, gid := owner(e)
		perm := os.FileMode(e.st.Mode & 0o1777) // never setuid/setgid
		if e.st.Mode&0o6000 != 0 {
			refuse(e.rel, "setuid/setgid bits dropped")
		}
		switch e.kind {
		case kindWhiteout:
			return remove(e.rel, nil)
		case kindDir:
			if e.lower != nil && lowerType != unix.S_IFDIR {
				if err := os.RemoveAll(dst); err != nil {
					return fmt.Errorf("sandbox: apply: %w", err)
				}
			}
			if e.lower == nil || lowerType != unix.S_IFDIR {
				if err := os.Mkdir(dst, 0o700); err != nil {
					return fmt.Errorf("sandbox: apply: %w", err)
				}
			}
			if err := os.Lchown(dst, uid, gid); err != nil {
				return fmt.Errorf("sandbox: apply: %w", err)
			}
			if err := unix.Fchmodat(unix.AT_FDCWD, dst, uint32(perm), 0); err != nil {
				return fmt.Errorf("sandbox: apply: chmod %s: %w", dst, err)
			}
			dirTimes = append(dirTimes, e)
		case kindFile:
			if e.lower != nil && lowerType == unix.S_IFDIR {
				if err := os.RemoveAll(dst); err != nil {
					return fmt.Errorf("sandbox: apply: %w", err)
				}
			}
			if err := copyFileInto(up, dst, perm, uid, gid, e.st); err != nil {
				return err
			}
		case kindSymlink:
			target, err := os.Readlink(up)
			if err != nil {
				return fmt.Errorf("sandbox: apply: %w", err)
			}
			if e.lower != nil {
				if err := os.RemoveAll(dst); err != nil {
					return fmt.Errorf("sandbox: apply: %w", err)
				}
			}
			if err := os.Symlink(target, dst); err != nil {
				return fmt.Errorf("sandbox: apply: %w", err)
			}
			if err := os.Lchown(dst, uid, gid); err != nil {
				return fmt.Errorf("sandbox: apply: %w", err)
			}
		default:
			if e.st.Mode&unix.S_IFMT != unix.S_IFIFO {
				return nil // sockets and devices are not recreated
			}
			if e.lower != nil {
				if err := os.RemoveAll(dst); err != nil {
					return fmt.Errorf("sandbox: apply: %w", err)
				}
			}
			if err := unix.Mkfifo(dst, uint32(perm)); err != nil {
				return fmt.Errorf("sandbox: apply: mkfifo %s: %w", dst, err)
			}
			_ = os.Lchown(dst, uid, gid)
		}
		return nil
	}, remove)
	if err != nil {
		return refused, err
	}
	for i := len(dirTimes) - 1; i >= 0; i-- {
		e := dirTimes[i]
		ts := []unix.Timespec{e.st.Atim, e.st.Mtim}
		_ = unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(s.workspace, e.rel), ts, unix.AT_SYMLINK_NOFOLLOW)
	}
	return refused, nil
}

// realParents reports whether every directory above rel in the workspace is
// a real directory (not a symlink), so a write at rel stays in the
// workspace.
func (s *Sandbox) realParents(rel string) bool {
	dir := s.workspace
	parts := strings.Split(filepath.ToSlash(filepath.Dir(rel)), "/")
	for _, p := range parts {
		if p == "." || p == "" {
			continue
		}
		if p == ".." {
			return false
		}
		dir = filepath.Join(dir, p)
		var st unix.Stat_t
		if err := unix.Lstat(dir, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return false
		}
	}
	return true
}

// copyFileInto replaces dst with a copy of src through a temporary file and
// a rename, so dst is never half-written and a symlink at dst is replaced,
// not followed.
func copyFileInto(src, dst string, perm os.FileMode, uid, gid int, st *unix.Stat_t) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("sandbox: apply: %w", err)
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".behavediff-apply-*")
	if err != nil {
		return fmt.Errorf("sandbox: apply: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, in); err != nil {
		return fmt.Errorf("sandbox: apply: copy %s: %w", dst, err)
	}
	if err := tmp.Chown(uid, gid); err != nil {
		return fmt.Errorf("sandbox: apply: %w", err)
	}
	// After chown, which clears setuid/setgid bits.
	if err := unix.Fchmod(int(tmp.Fd()), uint32(perm)); err != nil {
		return fmt.Errorf("sandbox: apply: chmod %s: %w", dst, err)
	}
	if err := unix.Futimes(int(tmp.Fd()), []unix.Timeval{
		unix.NsecToTimeval(unix.TimespecToNsec(st.Atim)),
		unix.NsecToTimeval(unix.TimespecToNsec(st.Mtim)),
	}); err != nil {
		return fmt.Errorf("sandbox: apply: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("sandbox: apply: %w", err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("sandbox: apply: %w", err)
	}
	ok = true
	return nil
}

// sameMeta reports whether mode and owner match (timestamps are ignored:
// copy-up alone must not count as a change).
func sameMeta(a, b *unix.Stat_t) bool {
	return a.Mode == b.Mode && a.Uid == b.Uid && a.Gid == b.Gid
}

func hashFile(p string) (int64, string, error) {
	f, err := os.Open(p)
	if err != nil {
		return 0, "", fmt.Errorf("sandbox: hash %s: %w", p, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return 0, "", fmt.Errorf("sandbox: hash %s: %w", p, err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// getXattr returns the value of an xattr of p (not following symlinks), or
// "" when it is absent.
func getXattr(p, name string) string {
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(p, name, buf)
	if err != nil {
		if errors.Is(err, syscall.ERANGE) {
			return "?"
		}
		return ""
	}
	return string(bytes.TrimRight(buf[:n], "\x00"))
}

// insideOwner rewrites the owner of an upper layer entry to the ids the
// command saw. With the user namespace the upper layer holds host ids of
// the range (copy-up keeps the idmapped lower's shifted owner, new files get
// the command's host id); they map back to the on-disk ids of the
// workspace. An id outside the range (overlayfs's own whiteouts, made by
// host root) becomes 0, which ApplyChanges treats as "give it the owner of
// what it replaces": it never yields a host id the command did not have.
func (s *Sandbox) insideOwner(st *unix.Stat_t) {
	if !s.userns {
		return
	}
	for _, id := range []*uint32{&st.Uid, &st.Gid} {
		if *id >= HostIDBase && *id-HostIDBase < IDRange {
			*id -= HostIDBase
		} else {
			*id = 0
		}
	}
}
