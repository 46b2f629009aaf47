package sandbox

import (
	"context"
	"runtime"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// nativeSeccompArch is the only syscall ABI the sandbox accepts.
var nativeSeccompArch = map[string]specs.Arch{
	"amd64": specs.ArchX86_64,
	"arm64": specs.ArchAARCH64,
}

// withNativeABIOnly drops every architecture but the native one from the
// seccomp profile (containerd's default allows x86 and x32 next to x86_64).
// A syscall made through another ABI (int $0x80, the x32 bit, aarch32) then
// matches no architecture of the filter and gets libseccomp's bad-arch
// action, which runc leaves at its default: the thread is killed with
// SIGSYS before the call runs. The sensor still reports such an attempt
// (a compat syscall is never invisible, see docs/design.md); refusing it
// here means the code cannot act through an ABI the sensor does not decode.
// Must come after seccomp.WithDefaultProfile.
func withNativeABIOnly(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
	if s.Linux == nil || s.Linux.Seccomp == nil {
		return nil
	}
	native, ok := nativeSeccompArch[runtime.GOARCH]
	if !ok {
		return nil
	}
	s.Linux.Seccomp.Architectures = []specs.Arch{native}
	return nil
}
