package sandbox

import (
	"errors"
	"strings"
)

// ErrExecutableNotFound means the command's program does not exist, or is
// not executable, inside the sandbox.
var ErrExecutableNotFound = errors.New("executable not found")

// execNotFound reports whether a task-creation error is runc failing to find
// the command's program. runc (1.1) says so only in text, deep inside the
// wrapped gRPC error from containerd; sandbox is the one package that talks
// to containerd, so it is the one place that reads that text, and callers
// test for ErrExecutableNotFound instead.
func execNotFound(err error, prog string) bool {
	msg := err.Error()
	return strings.Contains(msg, "executable file not found") || strings.Contains(msg, "exec: \""+prog+"\": stat")
}
