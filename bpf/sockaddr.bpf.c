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
 * What has to wait for the syscall's end (the unix peer check after a
 * connect, the payload of each sendmmsg message) is sa_exit.h, run by the
 * sensor's tp_btf/sys_exit; the two share conn_sk and sa_lost (sa_shared.h).
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
#include "sa_shared.h"

char LICENSE[] SEC("license") = "GPL";

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

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)
struct sockaddr;
struct bpf_sock_addr_kern {
	struct sock *sk;
	struct sockaddr *uaddr;
	__u32 uaddrlen;
};
#pragma clang attribute pop

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;


/* Set by the loader (rodata). */
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

/* v6 is a constant per program: an inet4 program may not touch user_ip6 */
static __always_inline int inet_hook(struct bpf_sock_addr *ctx, __u8 hook, const bool v6)
{
	struct sa_event *ev = bpf_ringbuf_reserve(&events, SA_HEAD_SIZE, 0);
	if (!ev) {
		sa_count_lost(SA_LOSS_HOOK, 1);
		return 1;
	}
	__u32 fam = v6 ? AF_INET6 : AF_INET;
	sa_fill_event(ev, hook, SA_ALLOW, SA_R_NONE, fam, ctx->type, ctx->protocol);
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
		sa_count_lost(SA_LOSS_HOOK, 1);
		return unix_policy ? 0 : 1; /* cannot judge (the record is the buffer): refuse */
	}
	sa_fill_event(ev, hook, SA_ALLOW, SA_R_NONE, AF_UNIX, ctx->type, ctx->protocol);
	/* read-only view: no trusted-pointer lookup in the verifier (see CUR_TASK) */
	struct bpf_sock_addr_kern *sa = KCAST(struct bpf_sock_addr_kern, bpf_cast_to_kern_ctx(ctx));
	__u32 alen = sa->uaddrlen;
	if (alen > SA_ADDR_MAX)
		alen = SA_ADDR_MAX;
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
