// Package bpf is behavediff's eBPF sensor. It watches exactly one cgroup v2
// (the container's) and reports what its processes do: process lifecycle
// (fork, exec, exit), per-process syscall counts, and one record per
// security-relevant syscall (files, network, privileges) with its result,
// raw arguments and the decoded strings, paths and addresses.
//
// All filtering happens in the kernel: a program returns after one cgroup id
// comparison for every task outside the container, and nothing at all is
// reported before the first exec inside the cgroup, so the container
// runtime's own setup (runc init) never appears.
//
// Requires Linux with BTF and tp_btf support (5.5+; tested on 6.18) and
// CAP_BPF+CAP_PERFMON (in practice: root).
package bpf
