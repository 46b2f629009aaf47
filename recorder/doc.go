// Package recorder runs a command in a containerd sandbox while the eBPF
// sensor watches the sandbox's cgroup, and stores the resulting behavioural
// trace. It is the only package that knows about both the sensor and the
// sandbox; it hands the store nothing but store model values.
package recorder
