//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/*
 * behavediff sockaddr object: the addresses the kernel really uses.
 *
 * The sensor (sensor.bpf.c) reads connect/bind/send addresses from user
 * memory at sys_exit, after the kernel used its own copy: a racing thread can
 * rewrite the buffer in between. The cgroup sock_addr hooks here run inside
 * connect/bind/sendmsg on the kernel's copy (after copy_from_user), once per
 * message (so every sendmmsg message is seen), and can refuse it.
 *
 * Records go into the sensor's ring buffer (the loader passes its "events"
 * map in), so a hook record and the sys_exit record of the same syscall
 * reach the reader in the order the thread made them.
 *
 * Policy today: unix addresses outside the allowed directories (unix_allow)
 * and abstract names in the host's network namespace are refused (EPERM);
 * inet addresses are recorded only. A later inet policy is one more map
 * looked up in inet_hook, next to the record it already builds.
 *
 * Hook records are reserved straight in the ring buffer (no per-CPU
 * scratch): cgroup programs run with migration, not preemption, disabled,
 * so a shared scratch area could be overwritten by another task mid-record.
 */
#include "kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "events.h"
#include "sockaddr.h"
#include "common.h"

char LICENSE[] SEC("license") = "GPL";

#define SIGKILL 9
#define CWD_MAX 256  /* a relative unix path's cwd must be shorter */
#define CWD_DEPTH 32 /* dentries + mount crossings walked for the cwd */
#define N_PREFIX 4   /* entries of unix_allow */

/* uapi struct bpf_sock_addr: the context of the hooks, accessed by offset
 * (the verifier rewrites these loads), so no CO-RE here. */
struct bpf_sock_addr {
	__u32 user_family;
	__u32 user_ip4;
	__u32 user_ip6[4];
	__u32 user_port;
	__u32 family;
	__u32 type;
	__u32 protocol;
	__u32 msg_src_ip4;
	__u32 msg_src_ip6[4];
	union {
		void *sk;
		__u64 : 64;
	} __attribute__((aligned(8)));
};

/* Context of a syscalls/sys_exit_* tracepoint. */
struct sys_exit_ctx {
	__u64 ent; /* struct trace_entry */
	__s32 nr;
	__s32 _pad;
	__s64 ret;
};

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)
struct sockaddr;
struct bpf_sock_addr_kern {
	struct sock *sk;
	struct sockaddr *uaddr;
	__u32 uaddrlen;
};
struct unix_address {
	int len;
	char name[]; /* struct sockaddr_un */
};
struct unix_sock {
	struct unix_address *addr;
	struct path path;
	struct sock *peer;
};
struct mnt_namespace;
struct nsproxy {
	struct mnt_namespace *mnt_ns;
};
/* the fields kernel.h's struct mount and task_struct leave out */
struct mount___sa {
	struct mnt_namespace *mnt_ns;
};
struct task_struct___sa {
	struct nsproxy *nsproxy;
};
#pragma clang attribute pop

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;


/* Set by the loader (rodata). */
volatile __u64 target_cgroup = 0; /* .bss, set after load: 0 (no cgroup) = gate closed */
const volatile __u64 host_netns_cookie = 0; /* 0: unknown, abstract names not judged */
const volatile __u8 unix_policy = 0;        /* 1: refuse unix addresses outside unix_allow */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 26); /* replaced by the sensor's map */
} events SEC(".maps");

/*
 * The allowed unix directories, set by the loader. Read-only data, not a
 * map: the verifier then knows each prefix and its length, and
 * bpf_strncmp compares a whole prefix in one call (a byte loop per prefix
 * made these programs slow to verify).
 */
const volatile struct sa_prefix unix_allow[N_PREFIX] = {};

/*
 * tid -> the struct sock of its unix connect in progress, set by the
 * connect_unix hook and taken by sys_exit_connect. Going by the socket, not
 * by the fd number, means another thread cannot dup2 a harmless socket over
 * the fd between the connect and its sys_exit to dodge the peer check.
 */
#define MAP_TYPE_LRU_HASH 9 /* BPF_MAP_TYPE_LRU_HASH */
struct {
	__uint(type, MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} conn_sk SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SA_LOSS_MAX);
	__type(key, __u32);
	__type(value, __u64);
} sa_lost SEC(".maps");

/* User memory layouts (uapi, 64-bit). */
struct u_iovec {
	__u64 base;
	__u64 len;
};
struct u_mmsghdr {
	__u64 name;
	__s32 namelen;
	__s32 _pad;
	__u64 iov;
	__u64 iovlen;
	__u64 control;
	__u64 controllen;
	__u32 flags;
	__u32 _pad2;
	__u32 msg_len; /* written by the kernel: bytes sent */
	__u32 _pad3;
};

static __always_inline void count_lost(__u32 cls, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&sa_lost, &cls);
	if (v)
		__sync_fetch_and_add(v, n);
}

static __always_inline void fill_hdr(struct hdr *h, __u8 kind)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	h->ts = bpf_ktime_get_ns();
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->kind = kind;
	h->flags = 0;
	h->_pad0 = 0;
	h->_pad1 = 0;
}

/* Head of a sa_event without the path: what inet records carry. */
#define SA_HEAD_SIZE __builtin_offsetof(struct sa_event, path)

/* v6 is a constant per program: an inet4 program may not touch user_ip6 */
static __always_inline int inet_hook(struct bpf_sock_addr *ctx, __u8 hook, const bool v6)
{
	struct sa_event *ev = bpf_ringbuf_reserve(&events, SA_HEAD_SIZE, 0);
	if (!ev) {
		count_lost(SA_LOSS_HOOK, 1);
		return 1;
	}
	fill_hdr(&ev->h, KIND_SOCKADDR);
	__u32 fam = v6 ? AF_INET6 : AF_INET;
	ev->hook = hook;
	ev->verdict = SA_ALLOW;
	ev->reason = SA_R_NONE;
	ev->_pad0 = 0;
	ev->family = fam;
	ev->type = ctx->type;
	ev->protocol = ctx->protocol;
	ev->path_len = 0;
	ev->_pad1 = 0;
	__builtin_memset(ev->addr, 0, sizeof(ev->addr));
	/* struct sockaddr_in / sockaddr_in6 as the program passed them */
	*(__u16 *)&ev->addr[0] = fam;
	*(__u16 *)&ev->addr[2] = (__u16)ctx->user_port;
	if (v6) {
		*(__u32 *)&ev->addr[8] = ctx->user_ip6[0];
		*(__u32 *)&ev->addr[12] = ctx->user_ip6[1];
		*(__u32 *)&ev->addr[16] = ctx->user_ip6[2];
		*(__u32 *)&ev->addr[20] = ctx->user_ip6[3];
		ev->addr_len = 28;
	} else {
		*(__u32 *)&ev->addr[4] = ctx->user_ip4;
		ev->addr_len = 16;
	}
	bpf_ringbuf_submit(ev, BPF_RB_NO_WAKEUP);
	return 1;
}

#include "sockaddr_unix.h"

static __always_inline int unix_hook(struct bpf_sock_addr *ctx, __u8 hook)
{
	struct sa_event *ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		count_lost(SA_LOSS_HOOK, 1);
		return unix_policy ? 0 : 1; /* cannot judge (the record is the buffer): refuse */
	}
	fill_hdr(&ev->h, KIND_SOCKADDR);
	/* read-only view: no trusted-pointer lookup in the verifier (see CUR_TASK) */
	struct bpf_sock_addr_kern *sa = KCAST(struct bpf_sock_addr_kern, bpf_cast_to_kern_ctx(ctx));
	__u32 alen = sa->uaddrlen;
	if (alen > SA_ADDR_MAX)
		alen = SA_ADDR_MAX;
	ev->hook = hook;
	ev->verdict = SA_ALLOW;
	ev->_pad0 = 0;
	ev->family = AF_UNIX;
	ev->type = ctx->type;
	ev->protocol = ctx->protocol;
	ev->path_len = 0;
	ev->_pad1 = 0;
	__builtin_memset(ev->addr, 0, sizeof(ev->addr));
	if (bpf_probe_read_kernel(ev->addr, alen & 0x7f, sa->uaddr) < 0)
		alen = 0;
	ev->addr_len = alen;
	int reason = judge_unix(ev, bpf_get_netns_cookie(ctx));
	ev->reason = reason;
	int ret = 1;
	if (reason != SA_R_NONE && unix_policy) {
		ev->verdict = SA_DENY;
		ret = 0;
	} else if (unix_policy && hook == SA_CONNECT_UNIX) {
		__u64 skv = 0;
		__u32 tid = (__u32)bpf_get_current_pid_tgid();
		bpf_probe_read_kernel(&skv, sizeof(skv), &sa->sk);
		bpf_map_update_elem(&conn_sk, &tid, &skv, BPF_ANY);
	}
	bpf_ringbuf_submit(ev, BPF_RB_NO_WAKEUP);
	return ret;
}

SEC("cgroup/connect4")
int connect4(struct bpf_sock_addr *ctx) { return inet_hook(ctx, SA_CONNECT4, false); }

SEC("cgroup/connect6")
int connect6(struct bpf_sock_addr *ctx) { return inet_hook(ctx, SA_CONNECT6, true); }

SEC("cgroup/sendmsg4")
int sendmsg4(struct bpf_sock_addr *ctx) { return inet_hook(ctx, SA_SENDMSG4, false); }

SEC("cgroup/sendmsg6")
int sendmsg6(struct bpf_sock_addr *ctx) { return inet_hook(ctx, SA_SENDMSG6, true); }

SEC("cgroup/bind4")
int bind4(struct bpf_sock_addr *ctx) { return inet_hook(ctx, SA_BIND4, false); }

SEC("cgroup/bind6")
int bind6(struct bpf_sock_addr *ctx) { return inet_hook(ctx, SA_BIND6, true); }

SEC("cgroup/connect_unix")
int connect_unix(struct bpf_sock_addr *ctx) { return unix_hook(ctx, SA_CONNECT_UNIX); }

SEC("cgroup/sendmsg_unix")
int sendmsg_unix(struct bpf_sock_addr *ctx) { return unix_hook(ctx, SA_SENDMSG_UNIX); }

static __always_inline struct socket *fd_socket(struct task_struct *task, __s64 fd)
{
	if (fd < 0)
		return 0;
	struct fdtable *fdt = KCAST(struct task_struct, task)->files->fdt; /* see CUR_TASK */
	if ((__u64)fd >= fdt->max_fds)
		return 0;
	struct file **fds = fdt->fd;
	struct file *fp = 0;
	bpf_probe_read_kernel(&fp, sizeof(fp), &fds[fd]);
	if (!fp)
		return 0;
	struct file *f = KCAST(struct file, fp);
	if ((f->f_inode->i_mode & S_IFMT) != S_IFSOCK)
		return 0;
	return KCAST(struct socket, f->private_data);
}

/*
 * A unix connect that got past the path check may still have reached a socket
 * outside the sandbox through a symlink (the hook judges the string; the
 * kernel then follows links). Here the connection exists. The caller's peer
 * is the server-side socket the kernel made for it, which carries the
 * listener's bound path (unix_sock.path: mount + dentry). A mount that
 * belongs to another mount namespace than the caller's means the listener
 * was bound outside the sandbox (the host's socket, seen through the
 * read-only host root): kill the caller before it returns to user space,
 * and say so. Abstract and unnamed peers have no path (abstract names are
 * judged by network namespace in the hook).
 */
SEC("tracepoint/syscalls/sys_exit_connect")
int sys_exit_connect(struct sys_exit_ctx *ctx)
{
	if (!unix_policy || bpf_get_current_cgroup_id() != target_cgroup)
		return 0;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 *v = bpf_map_lookup_elem(&conn_sk, &tid);
	if (!v)
		return 0; /* not a unix connect that passed the hook */
	__u64 skv = *v;
	bpf_map_delete_elem(&conn_sk, &tid);
	if (ctx->ret != 0)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	struct sock *sk = KCAST(struct sock, skv);
	struct unix_sock *u = (void *)sk;
	struct sock *peer = BPF_CORE_READ(u, peer);
	if (!peer)
		return 0;
	struct unix_sock *pu = (void *)peer;
	struct vfsmount *vm = BPF_CORE_READ(pu, path.mnt);
	if (!vm)
		return 0;
	struct mount___sa *mnt = (void *)((__u64)vm - bpf_core_field_offset(struct mount, mnt));
	struct task_struct___sa *t = (void *)task;
	if (BPF_CORE_READ(mnt, mnt_ns) == BPF_CORE_READ(t, nsproxy, mnt_ns))
		return 0;
	bpf_send_signal(SIGKILL);
	struct sa_event *ev = bpf_ringbuf_reserve(&events, SA_HEAD_SIZE, 0);
	if (!ev) {
		count_lost(SA_LOSS_HOOK, 1);
		return 0;
	}
	fill_hdr(&ev->h, KIND_SOCKADDR);
	ev->hook = SA_PEER_CHECK;
	ev->verdict = SA_KILL;
	ev->reason = SA_R_PEER_OUTSIDE;
	ev->_pad0 = 0;
	ev->family = AF_UNIX;
	ev->type = sk->sk_type;
	ev->protocol = 0;
	ev->path_len = 0;
	ev->_pad1 = 0;
	__builtin_memset(ev->addr, 0, sizeof(ev->addr));
	/* the peer's own bound address: where the connect really went */
	struct unix_address *ua = BPF_CORE_READ(pu, addr);
	__u32 alen = 0;
	if (ua) {
		alen = BPF_CORE_READ(ua, len);
		if (alen > SA_ADDR_MAX)
			alen = SA_ADDR_MAX;
		if (bpf_probe_read_kernel(ev->addr, alen & 0x7f, (void *)ua + bpf_core_field_offset(struct unix_address, name)) < 0)
			alen = 0;
	}
	ev->addr_len = alen;
	bpf_ringbuf_submit(ev, BPF_RB_NO_WAKEUP);
	return 0;
}

/*
 * One sendmmsg message i: when its destination is port 53, a sa_payload
 * with its first bytes. Returns 1 when it was a DNS message. Global, so the
 * verifier checks it once rather than once per loop round.
 */
__noinline int mmsg_dns(__u64 vec, __u32 i, __s64 ret, __u64 peer_sk)
{
	struct sock *sk = KCAST(struct sock, peer_sk);
	__u16 peer_fam = sk->__sk_common.skc_family;
	__u16 peer_port = sk->__sk_common.skc_dport;
	struct u_mmsghdr m = {};
	if (bpf_probe_read_user(&m, sizeof(m), (void *)(vec + (__u64)i * sizeof(m))) < 0)
		return 0;
	__u8 addr[32] = {};
	__u32 alen = 0;
	if (m.name && m.namelen >= 4) {
		alen = CLAMP((__u32)m.namelen, 28);
		if (bpf_probe_read_user(addr, alen, (void *)m.name) < 0)
			return 0;
	} else if (peer_fam == AF_INET || peer_fam == AF_INET6) {
		*(__u16 *)&addr[0] = peer_fam;
		*(__u16 *)&addr[2] = peer_port;
		if (peer_fam == AF_INET) {
			*(__u32 *)&addr[4] = sk->__sk_common.skc_daddr;
			alen = 16;
		} else {
			bpf_probe_read_kernel(&addr[8], 16, &sk->__sk_common.skc_v6_daddr);
			alen = 28;
		}
	}
	if (alen < 4 || *(__u16 *)&addr[2] != bpf_htons(53))
		return 0;
	struct sa_payload *p = bpf_ringbuf_reserve(&events, sizeof(*p), 0);
	if (!p) {
		count_lost(SA_LOSS_DNS, 1);
		return 1;
	}
	fill_hdr(&p->h, KIND_SA_PAYLOAD);
	p->ret = ret;
	p->idx = i;
	p->addr_len = alen;
	p->_pad = 0;
	__builtin_memcpy(p->addr, addr, sizeof(addr));
	struct u_iovec iov = {};
	__u64 len = 0;
	if (m.iov && m.iovlen > 0 && bpf_probe_read_user(&iov, sizeof(iov), (void *)m.iov) == 0) {
		len = iov.len < m.msg_len ? iov.len : m.msg_len;
		len = CLAMP(len, SA_PAYLOAD_MAX);
		if (bpf_probe_read_user(p->data, len, (void *)iov.base) < 0)
			len = 0;
	}
	p->len = len;
	bpf_ringbuf_submit(p, BPF_RB_NO_WAKEUP);
	return 1;
}

/*
 * sendmmsg sends several messages in one call (glibc: the A and AAAA
 * queries). The sensor's sys_exit record reads the first; here every
 * message sent, up to SA_MMSG_MAX, gets its DNS payload read. Messages past
 * the bound on a call that sent DNS are counted lost.
 */
SEC("tracepoint/syscalls/sys_exit_sendmmsg")
int sys_exit_sendmmsg(struct sys_exit_ctx *ctx)
{
	__s64 ret = ctx->ret;
	if (ret <= 0 || bpf_get_current_cgroup_id() != target_cgroup)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(task);
	__u64 vec = SC_A1(regs);
	struct socket *sock = fd_socket(task, SC_A0(regs));
	if (!sock || !vec)
		return 0;
	struct sock *sk = sock->sk;
	__u16 fam = sk->__sk_common.skc_family;
	if (fam != AF_INET && fam != AF_INET6)
		return 0;
	__u16 dport = sk->__sk_common.skc_dport;
	/* a global function takes scalars: pass the pointer's value */
	__u64 skv = 0;
	bpf_probe_read_kernel(&skv, sizeof(skv), &sock->sk);
	int dns = 0;
	for (__u32 i = 0; i < SA_MMSG_MAX; i++) {
		if (i >= ret)
			break;
		dns |= mmsg_dns(vec, i, ret, skv);
	}
	if (ret > SA_MMSG_MAX && (dns || dport == bpf_htons(53)))
		count_lost(SA_LOSS_DNS, ret - SA_MMSG_MAX);
	return 0;
}

/* Anchor the shared types in BTF for bpf2go -type. */
struct sa_btf_anchor {
	struct sa_event ev;
	struct sa_payload pl;
	struct sa_prefix pre;
	enum sa_kind kind;
	enum sa_hook hook;
	enum sa_verdict verdict;
	enum sa_reason reason;
	enum sa_loss loss;
};
struct sa_btf_anchor *unused_sa_btf_anchor __attribute__((unused));
