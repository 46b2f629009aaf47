/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Minimal CO-RE view of the kernel types the sensor touches.
 *
 * Every struct is marked preserve_access_index, so only the field NAMES
 * matter: offsets are relocated against the running kernel's BTF at load
 * time. Fields that live in anonymous unions/structs in the kernel are
 * declared flat here; CO-RE field matching descends into anonymous members.
 * This replaces a multi-megabyte generated vmlinux.h.
 */
#ifndef BEHAVEDIFF_KERNEL_H
#define BEHAVEDIFF_KERNEL_H

typedef unsigned char __u8;
typedef signed char __s8;
typedef unsigned short __u16;
typedef short __s16;
typedef unsigned int __u32;
typedef int __s32;
typedef unsigned long long __u64;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;
#define true 1
#define false 0

/* uapi/linux/bpf.h values used by bpf_helpers.h map definitions. */
enum bpf_map_type {
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
	BPF_MAP_TYPE_PERCPU_ARRAY = 6,
	BPF_MAP_TYPE_RINGBUF = 27,
	BPF_MAP_TYPE_TASK_STORAGE = 29,
};
enum {
	BPF_F_NO_PREALLOC = 1,
};
enum {
	BPF_LOCAL_STORAGE_GET_F_CREATE = 1,
};
enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
};
enum {
	BPF_RB_NO_WAKEUP = 1,
	BPF_RB_FORCE_WAKEUP = 2,
};
enum {
	BPF_RB_AVAIL_DATA = 0,
};

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

#if defined(__TARGET_ARCH_x86)
struct pt_regs {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8;
	unsigned long ax, cx, dx, si, di, orig_ax;
	unsigned long ip, cs, flags, sp, ss;
};
#elif defined(__TARGET_ARCH_arm64)
struct pt_regs {
	__u64 regs[31];
	__u64 sp;
	__u64 pc;
	__u64 pstate;
	__u64 orig_x0;
	__s32 syscallno;
};
#else
#error "behavediff sensor: unsupported target arch (need __TARGET_ARCH_x86 or __TARGET_ARCH_arm64)"
#endif

typedef struct {
	int counter;
} atomic_t;

struct qstr {
	__u32 hash;
	__u32 len;
	const unsigned char *name;
};

struct dentry {
	struct dentry *d_parent;
	struct qstr d_name;
};

struct vfsmount {
	struct dentry *mnt_root;
};

struct mount {
	struct mount *mnt_parent;
	struct dentry *mnt_mountpoint;
	struct vfsmount mnt;
};

struct path {
	struct vfsmount *mnt;
	struct dentry *dentry;
};

struct fs_struct {
	struct path root;
	struct path pwd;
};

struct inode {
	unsigned short i_mode;
};

struct file {
	struct path f_path;
	struct inode *f_inode;
	void *private_data;
};

struct fdtable {
	unsigned int max_fds;
	struct file **fd;
};

struct files_struct {
	struct fdtable *fdt;
};

struct mm_struct {
	unsigned long arg_start;
	unsigned long arg_end;
	unsigned long env_start;
	unsigned long env_end;
};

struct signal_struct {
	atomic_t live;
};

struct kernfs_node {
	__u64 id;
};

struct cgroup {
	struct kernfs_node *kn;
};

struct css_set {
	struct cgroup *dfl_cgrp;
};

#if defined(__TARGET_ARCH_x86)
struct thread_info {
	__u32 status; /* TS_COMPAT: a 32-bit syscall is active */
};
#endif

struct seccomp {
	int mode;
};

struct task_struct {
	struct seccomp seccomp;
#if defined(__TARGET_ARCH_x86)
	struct thread_info thread_info;
#endif
	struct css_set *cgroups;
	int pid;
	int tgid;
	int exit_code;
	struct task_struct *real_parent;
	struct fs_struct *fs;
	struct files_struct *files;
	struct mm_struct *mm;
	struct signal_struct *signal;
};

/* getname()'s copy of a user path (embedded case: name == iname) */
struct filename {
	const char *name;
	const char *uptr;
	const char iname[];
};

struct kmem_cache {
	unsigned int object_size;
	const char *name;
};

struct linux_binprm {
	struct file *file; /* what the kernel runs: the interpreter for a script */
	const char *filename;
	const char *interp; /* == filename unless binfmt_script/misc took over */
};

struct in6_addr {
	__u8 s6_addr[16];
};

struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
};

struct sock {
	struct sock_common __sk_common;
	__u16 sk_type;
};

struct socket {
	short type;
	struct sock *sk;
};

#pragma clang attribute pop

#endif
