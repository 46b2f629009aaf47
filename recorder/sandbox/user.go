package sandbox

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// ErrBadUser means Options.User is not "UID" or "UID:GID".
var ErrBadUser = errors.New("bad user: want UID or UID:GID (numbers)")

// resolveUser returns the uid and gid the command runs as: those given, or
// the owner of the workspace, so the command can write exactly what its
// owner can and nothing of root's. A gid defaults to the uid's own number.
func resolveUser(user, workspace string) (uint32, uint32, error) {
	if user == "" {
		st, err := os.Stat(workspace)
		if err != nil {
			return 0, 0, fmt.Errorf("sandbox: workspace owner: %w", err)
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		if !ok {
			return 0, 0, fmt.Errorf("sandbox: workspace owner of %s unknown", workspace)
		}
		return sys.Uid, sys.Gid, nil
	}
	u, g, hasGID := strings.Cut(user, ":")
	uid, err := strconv.ParseUint(u, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("sandbox: %w: %q", ErrBadUser, user)
	}
	gid := uid
	if hasGID {
		if gid, err = strconv.ParseUint(g, 10, 32); err != nil {
			return 0, 0, fmt.Errorf("sandbox: %w: %q", ErrBadUser, user)
		}
	}
	return uint32(uid), uint32(gid), nil
}

// ValidUser checks a user given on the command line before anything runs:
// its syntax, and with the user namespace (userns) that it is mapped.
func ValidUser(user string, userns bool) error {
	if user == "" {
		return nil
	}
	uid, gid, err := resolveUser(user, "")
	if err != nil {
		return err
	}
	if userns && (uid >= IDRange || gid >= IDRange) {
		return fmt.Errorf("sandbox: %w: %q", ErrUserOutOfRange, user)
	}
	return nil
}
