// Package sandbox runs one command in a hardened containerd container and
// reports what it changed in its copy-on-write workspace.
//
// It is the only place in behavediff that talks to containerd. The recorder
// creates a Sandbox, reads its cgroup id to load the eBPF sensor, and only
// then starts the process, so that not a single syscall of the user's command
// escapes the trace.
package sandbox
