/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What the sockaddr work shares between the two objects: the cgroup hooks
 * live in sockaddr.bpf.c, their sys_exit half (sa_exit.h) runs inside the
 * sensor's tp_btf/sys_exit. Both declare these maps from this one header,
 * and the loader creates each map once and hands it to both loads
 * (MapReplacements), as it does with the ring buffer "events".
 */
#ifndef BEHAVEDIFF_SA_SHARED_H
#define BEHAVEDIFF_SA_SHARED_H

/*
 * tid -> the struct sock of its unix connect in progress, set by the
 * connect_unix hook and taken by the connect's sys_exit (sa_peer_check).
 * Going by the socket, not by the fd number, means another thread cannot
 * dup2 a harmless socket over the fd between the connect and its sys_exit
 * to dodge the peer check.
 */
#define MAP_TYPE_LRU_HASH 9 /* BPF_MAP_TYPE_LRU_HASH */
struct {
	__uint(type, MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} conn_sk SEC(".maps");

/* enum sa_loss counters (sockaddr.h) */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SA_LOSS_MAX);
	__type(key, __u32);
	__type(value, __u64);
} sa_lost SEC(".maps");

/* Atomic: cgroup programs run with migration, not preemption, disabled. */
static __always_inline void sa_count_lost(__u32 cls, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&sa_lost, &cls);
	if (v)
		__sync_fetch_and_add(v, n);
}

static __always_inline void sa_fill_hdr(struct hdr *h, __u8 kind)
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

/*
 * A sa_event's fixed part: the header, the hook's facts, addr zeroed and
 * addr_len/path_len 0 for the caller to set. One place, so no record can
 * leak ring-buffer bytes through a field a copy forgot.
 */
static __always_inline void sa_fill_event(struct sa_event *ev, __u8 hook, __u8 verdict, __u8 reason,
					  __u16 family, __u16 type, __u16 protocol)
{
	sa_fill_hdr(&ev->h, KIND_SOCKADDR);
	ev->hook = hook;
	ev->verdict = verdict;
	ev->reason = reason;
	ev->_pad0 = 0;
	ev->family = family;
	ev->type = type;
	ev->protocol = protocol;
	ev->addr_len = 0;
	ev->path_len = 0;
	ev->_pad1 = 0;
	__builtin_memset(ev->addr, 0, sizeof(ev->addr));
}

/* Head of a sa_event without the path: what inet and peer-check records carry. */
#define SA_HEAD_SIZE __builtin_offsetof(struct sa_event, path)

#endif
