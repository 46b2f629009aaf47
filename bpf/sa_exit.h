/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The sys_exit half of the sockaddr object (sockaddr.bpf.c): the unix peer
 * check after a connect, and the DNS payload of every sendmmsg message.
 * Included by the sensor: its tp_btf/sys_exit calls sa_peer_check and
 * sa_mmsg for the cgroup's connect and sendmmsg calls (it already has the
 * syscall's id), before its own record of the call, so their records reach
 * the reader ahead of it.
 *
 * Why in the sensor's program and not in syscalls/sys_exit_{connect,
 * sendmmsg} tracepoints of the sockaddr object, as it was: those are perf
 * events, and releasing the last one of a tracepoint waits in
 * tracepoint_synchronize_unregister (an RCU tasks-trace and a normal grace
 * period, ~100 ms that every recording waited for before returning); a
 * tp_btf link detaches in microseconds. A second tp_btf/sys_exit program
 * would cost every syscall of the machine a program run; here the cost is
 * two compares of an id the sensor has anyway, on the cgroup's calls only.
 * Like the cgroup hooks, this runs from Watch on, also before the cgroup's
 * first exec (the sensor's own records wait for that).
 *
 * Compat (int 0x80, x32) calls get the peer check (the hooks saw their
 * connect whatever the ABI: conn_sk is keyed by thread, not by syscall
 * number), but no sendmmsg payloads (another mmsghdr layout; the sensor
 * reports them raw). The sandbox's seccomp filter kills them anyway; the
 * old syscall tracepoints did not fire for them at all.
 */
#ifndef BEHAVEDIFF_SA_EXIT_H
#define BEHAVEDIFF_SA_EXIT_H

#include "sockaddr.h"
#include "sa_shared.h"

#define SIGKILL 9

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)
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

/* User memory layout (uapi, 64-bit). */
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
 * judged by network namespace in the hook). Global, so the verifier checks
 * it once, not in each of sys_exit's states.
 */
__noinline int sa_peer_check(__s64 ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u64 *v = bpf_map_lookup_elem(&conn_sk, &tid);
	if (!v)
		return 0; /* not a unix connect that passed the hook */
	__u64 skv = *v;
	bpf_map_delete_elem(&conn_sk, &tid);
	if (ret != 0)
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
		sa_count_lost(SA_LOSS_HOOK, 1);
		return 0;
	}
	sa_fill_event(ev, SA_PEER_CHECK, SA_KILL, SA_R_PEER_OUTSIDE, AF_UNIX, sk->sk_type, 0);
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
		sa_count_lost(SA_LOSS_DNS, 1);
		return 1;
	}
	sa_fill_hdr(&p->h, KIND_SA_PAYLOAD);
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
 * sendmmsg(fd, vec, ...) sends several messages in one call (glibc: the A
 * and AAAA queries). The sensor's record of the call reads the first; here
 * every message sent, up to SA_MMSG_MAX, gets its DNS payload read.
 * Messages past the bound on a call that sent DNS are counted lost.
 */
__noinline int sa_mmsg(__s64 ret, __s64 fd, __u64 vec)
{
	if (ret <= 0 || !vec)
		return 0;
	struct socket *sock = fd_socket(fd);
	if (!sock)
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
		sa_count_lost(SA_LOSS_DNS, ret - SA_MMSG_MAX);
	return 0;
}

#endif
