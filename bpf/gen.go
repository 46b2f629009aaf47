package bpf

// The syscall tables (zsyscalls_*.go, zcompat_amd64.go), the typed syscall
// ids (zsysid.go) and include/nr_table.h come from the pinned kernel tables
// in testdata/syscalls and enum sc_id; they go first: the objects include
// nr_table.h.
//
//go:generate go run ./internal/mksyscalls
//
// The generated files (sensor_x86_bpfel.*, sensor_arm64_bpfel.*) are
// committed; CI checks that regenerating them changes nothing, which needs
// the clang the Makefile pins (make generate sets BPF2GO_CC to it; a plain
// go generate uses whatever "clang" is).
//
//go:generate go tool bpf2go -cflags "-O2 -g -Wall -Werror" -target amd64,arm64 -type hdr -type fork_event -type exit_event -type exec_event -type sys_event -type count_key -type count_val -type count_slot -type kind -type hdr_flags -type loss_class -type exec_field -type sys_field -type sc_id sensor sensor.bpf.c -- -I./include
//
// The cgroup sock_addr object (sockaddr.bpf.c): addresses from the kernel's copy.
//go:generate go tool bpf2go -cflags "-O2 -g -Wall -Werror" -target amd64,arm64 -type sa_event -type sa_payload -type sa_kind -type sa_hook -type sa_verdict -type sa_reason -type sa_loss sockaddr sockaddr.bpf.c -- -I./include
