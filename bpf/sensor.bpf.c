//go:build ignore

// SPDX-License-Identifier: GPL-2.0
/*
 * behavediff sensor: records what the processes of ONE cgroup do.
 *
 * Hot path (sys_exit): cgroup filter, "started" gate, per (tgid, nr) counter,
 * then a table lookup decides whether the syscall gets a record. Everything
 * expensive (string copies, path walks, socket synthesis) lives in global
 * subprograms that the verifier checks once, and only runs for recorded
 * syscalls.
 *
 * Records are assembled in a per-CPU scratch area and copied to the ring
 * buffer with bpf_ringbuf_output at their real length. Syscall tracepoint
 * programs run with preemption disabled, so one scratch area per CPU is safe.
 */
#include "kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "events.h"
#include "common.h"

char LICENSE[] SEC("license") = "GPL";

#define AT_FDCWD -100

#define REC_SIZE 98304  /* record area of the scratch buffer */
#define TAIL_MASK 0xffff /* a field starts at an offset <= 65535 and is at most
			  * ARGV_MAX bytes long: 65535+32768 < REC_SIZE */
#define STR_MAX 4096     /* user strings: at most 4095 bytes */
#define PATH_BUF 4096    /* kernel-walked paths: at most 4095 bytes */
#define MAX_DEPTH 2048  /* dentries + mount crossings per path walk: 4095 bytes
			  * hold at most 2048 components; deeper is flagged */
#define ARGV_MAX 32768   /* exec argv bytes kept; longer is flagged */
#define ENV_MAX 16384    /* exec environment bytes kept; longer is flagged */
#define TS_COMPAT 0x0002        /* x86 thread_info.status: 32-bit syscall active */
#define X32_SYSCALL_BIT 0x40000000
#define PSR_MODE32_BIT 0x10     /* arm64 pstate: aarch32 */
#define SIGSYS 31
#define SECCOMP_MODE_DEAD 3     /* task->seccomp.mode after a seccomp kill */
#define ADDR_MAX 128
#define DNS_MAX 512
#define ABS_BIT 0x10000  /* put_ustr: string starts with '/' */

/* Set by the loader before load (rodata, frozen). */
volatile __u64 target_cgroup = 0; /* .bss, set after load: 0 (no cgroup) = gate closed */
const volatile __u8 want_resolved = 1;
const volatile __u8 sc_table[NR_TABLE] = {};
/*
 * Wake the reader only once this much data is waiting; it polls on a short
 * timer otherwise. A wakeup per record (irq_work + epoll) costs more than
 * producing the record.
 */
const volatile __u64 wakeup_bytes = 256 << 10;
/*
 * rt_sigreturn restores the registers it returns to, orig_ax/syscallno = -1
 * included, so at sys_exit it has no number: the loader sets the native one.
 */
const volatile __u32 sigreturn_nr = 0;

/* Set by the first exec in the target cgroup; nothing is emitted before. */
volatile __u32 started = 0;
/* set once the run connects or sends to port 53: until then reads and
 * receives cannot be DNS answers and cost only this test */
volatile __u32 dns_seen = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 26); /* overridden by Config.RingBufBytes */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 17);
	__type(key, struct count_key);
	__type(value, struct count_val);
} counts SEC(".maps");

struct count_cache {
	struct count_slot slot[NR_TABLE];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct count_cache);
} pcounts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LOSS_MAX);
	__type(key, __u32);
	__type(value, __u64);
} lost SEC(".maps");

struct heap {
	__u32 off;   /* current record length */
	__u32 trunc; /* a field was truncated or dropped */
	__u32 pos;   /* walk_path write position in path[] */
	__u32 nrec;  /* records output on this CPU (rb_flags sampling) */
	__u32 pflags;  /* FLAG_RACED, FLAG_LATE of the path arguments read */
	__u32 _pad;    /* rec 8-byte aligned */
	__u8 rec[REC_SIZE];
	__u8 path[PATH_BUF + 256];
};

/*
 * One scratch area per CPU. A plain array indexed by CPU (the loader sizes it
 * to the possible CPUs), not a per-CPU array: per-CPU values are limited to
 * 32 KiB and an exec record with its argv and environment is larger.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1); /* overridden by the loader: possible CPUs */
	__type(key, __u32);
	__type(value, struct heap);
} heap SEC(".maps");

/* User memory layouts (uapi, 64-bit). */
struct u_iovec {
	__u64 base;
	__u64 len;
};
struct u_msghdr {
	__u64 name;
	__s32 namelen;
	__s32 _pad;
	__u64 iov;
	__u64 iovlen;
};

static __always_inline struct heap *get_heap(void)
{
	__u32 cpu = bpf_get_smp_processor_id();
	return bpf_map_lookup_elem(&heap, &cpu);
}

static __always_inline void count_lost_n(__u32 cls, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&lost, &cls);
	if (v)
		*v += n;
}

static __always_inline void count_lost(__u32 cls)
{
	count_lost_n(cls, 1);
}

/*
 * rb_flags_h is rb_flags for the records built in the heap: it asks the ring
 * buffer how much is waiting only every 16th record of this CPU (a helper
 * call per record otherwise); the wakeup is then at most 16 records late.
 */
static __always_inline __u64 rb_flags_h(struct heap *h)
{
	if (++h->nrec & 15)
		return BPF_RB_NO_WAKEUP;
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									       : BPF_RB_NO_WAKEUP;
}

static __always_inline __u64 rb_flags(void)
{
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes ? BPF_RB_FORCE_WAKEUP
									       : BPF_RB_NO_WAKEUP;
}

static __always_inline bool in_target(void)
{
	return bpf_get_current_cgroup_id() == target_cgroup;
}

/*
 * in_target for the hot path: cgroup_id(task_dfl_cgroup(t)) with plain loads.
 * Not through CUR_TASK: loads through a read-only view are JITed with a
 * fault check each, ~20 ns more on every syscall of the machine; the
 * verifier's BTF scans for these three loads are paid once per program
 * where it runs first (sys_exit, kmem_free), and sys_enter calls it through
 * cur_in_target.
 */
static __always_inline bool task_in_target(struct task_struct *t)
{
	return t->cgroups->dfl_cgrp->kn->id == target_cgroup;
}

/*
 * cur_in_target is task_in_target(current) as a global function: the
 * verifier checks it (and scans the BTF for its trusted loads) once, where
 * inlined after sys_enter's path_spec it was checked for each of its states
 * (~18 ms of a load). A call costs a few ns.
 */
__noinline int cur_in_target(void)
{
	return task_in_target(bpf_get_current_task_btf());
}

/*
 * kread64 loads the 8 bytes at kernel address p + off as a number, through
 * an untyped read-only view (bpf_rdonly_cast to void, Linux 6.17; the
 * verifier inlines the cast): a plain load that reads 0 where the address
 * faults, where bpf_probe_read_kernel costs a helper call. Through a BTF
 * pointer a pointer field comes back as a pointer, which cannot be hashed
 * or passed to a global function; and only constant offsets are allowed.
 */
static __always_inline __u64 kread64(const void *p, __u64 off)
{
	return *(const __u64 *)((const char *)bpf_rdonly_cast(p, 0) + off);
}

/*
 * The path helpers take the current task as a number (bpf_get_current_task(),
 * read through KCAST): a global function gets scalars only, and one lookup
 * per record serves the fd, its path and the walk's root.
 */
static __always_inline struct file *fd_file(__s64 fd, __u64 task)
{
	if (fd < 0)
		return 0;
	struct fdtable *fdt = KCAST(struct task_struct, task)->files->fdt;
	if ((__u64)fd >= fdt->max_fds)
		return 0;
	/* the slot at a variable index (kread64) */
	return (struct file *)kread64(fdt->fd, (__u64)fd * 8);
}

/*
 * fd_path reads the struct path of fd (AT_FDCWD: the cwd) into *p: {mnt,
 * dentry} on every kernel, plain numbers afterwards, which is what global
 * subprograms accept. False when fd is not open.
 */
static __always_inline bool fd_path(__s64 fd, struct path *p, __u64 task)
{
	__u32 mnt = bpf_core_field_offset(struct path, mnt), dentry = bpf_core_field_offset(struct path, dentry);
	if ((int)fd == AT_FDCWD) {
		struct fs_struct *fs = KCAST(struct task_struct, task)->fs;
		__u32 pwd = bpf_core_field_offset(struct fs_struct, pwd);
		p->mnt = (void *)kread64(fs, pwd + mnt);
		p->dentry = (void *)kread64(fs, pwd + dentry);
		return true;
	}
	struct file *f = fd_file(fd, task);
	if (!f)
		return false;
	__u32 fp = bpf_core_field_offset(struct file, f_path);
	p->mnt = (void *)kread64(f, fp + mnt);
	p->dentry = (void *)kread64(f, fp + dentry);
	return true;
}

/*
 * walk_step is one step of walk_path, run by bpf_loop: one dentry or one
 * mount crossing. Returns 1 to stop (c->done: reached the root or a pseudo
 * file, else the buffer is full), 0 to go on.
 */
struct walk_ctx {
	struct heap *h;
	__u64 d, m; /* identities as plain numbers; KCAST only to read fields */
	__u64 root_d, root_m, mnt_off;
	__u32 disconnected;
	__u32 done;
};

static long walk_step(__u64 i, struct walk_ctx *c)
{
	struct heap *h = c->h;
	if (!h)
		return 1;
	__u64 d = c->d, m = c->m;
	if (d == c->root_d && m + c->mnt_off == c->root_m) {
		c->done = 1;
		return 1;
	}
	struct mount *mp = KCAST(struct mount, m);
	struct dentry *dp = KCAST(struct dentry, d);
	__u64 parent = (__u64)dp->d_parent;
	if (d == (__u64)mp->mnt.mnt_root) {
		__u64 up = (__u64)mp->mnt_parent;
		if (up == m) {
			c->done = 1; /* global root (or outside our root) */
			return 1;
		}
		c->d = (__u64)mp->mnt_mountpoint;
		c->m = up;
		return 0;
	}
	if (d == parent) {
		c->disconnected = 1; /* pseudo file: memfd, anon inode, ... */
		c->done = 1;
		return 1;
	}
	__u32 len = dp->d_name.len;
	const unsigned char *name = dp->d_name.name;
	__u32 pos = h->pos;
	len = CLAMP(len, 255);
	if (len + 1 > pos)
		return 1; /* full: not done, so truncated */
	pos -= len + 1;
	h->pos = pos;
	bpf_probe_read_kernel(&h->path[(pos + 1) & (PATH_BUF - 1)], len, name);
	h->path[pos & (PATH_BUF - 1)] = '/';
	c->d = parent;
	return 0;
}

/*
 * walk_path writes the path of (dentry, vfsmount) as seen from the current
 * task's root to the end of heap->path and returns its length (0 if
 * unknown). Bounded by MAX_DEPTH steps (each one dentry or one mount
 * crossing) and by PATH_BUF; a path cut by either sets heap->trunc. The steps
 * run in bpf_loop, whose callback the verifier checks once, however many
 * steps it allows. Inlined in put_path, its one caller (a global function,
 * checked once): no call and heap lookup of its own per walk.
 */
static __always_inline int walk_path(struct heap *h, __u64 dentry_p, __u64 vfsmnt_p, __u64 task)
{
	if (!dentry_p || !vfsmnt_p || !task)
		return 0;
	struct fs_struct *fs = KCAST(struct task_struct, task)->fs;
	struct walk_ctx c = {};
	c.h = h;
	c.root_d = (__u64)fs->root.dentry;
	c.root_m = (__u64)fs->root.mnt;
	c.mnt_off = bpf_core_field_offset(struct mount, mnt);
	c.d = dentry_p;
	c.m = vfsmnt_p - c.mnt_off; /* container_of(vfsmount, struct mount, mnt) */
	h->pos = PATH_BUF;
	bpf_loop(MAX_DEPTH, walk_step, &c, 0);
	if (!c.done)
		h->trunc = 1;
	bool disconnected = c.disconnected;
	__u64 d = c.d;
	__u32 pos = h->pos;
	if (disconnected) {
		/* "memfd:name" style: the dentry name alone, no leading slash */
		struct dentry *dp = KCAST(struct dentry, d);
		__u32 len = dp->d_name.len;
		const unsigned char *name = dp->d_name.name;
		len = CLAMP(len, 255);
		if (len > pos || (pos == PATH_BUF && len == 0))
			return 0;
		pos -= len;
		bpf_probe_read_kernel(&h->path[pos & (PATH_BUF - 1)], len, name);
	}
	if (pos >= PATH_BUF) {
		pos = PATH_BUF - 1;
		h->path[PATH_BUF - 1] = '/';
	}
	return PATH_BUF - pos;
}

/* put_path appends the path of (dentry, vfsmount) to the record; returns its length. */
__noinline int put_path(__u64 dentry_p, __u64 vfsmnt_p, __u64 task)
{
	struct heap *h = get_heap();
	if (!h)
		return 0;
	int n = walk_path(h, dentry_p, vfsmnt_p, task);
	if (n <= 0)
		return 0;
	__u32 off = h->off;
	if (off > TAIL_MASK) {
		h->trunc = 1;
		return 0;
	}
	__u64 len = CLAMP(n, PATH_BUF);
	bpf_probe_read_kernel(&h->rec[off & TAIL_MASK], len, &h->path[(PATH_BUF - len) & (PATH_BUF - 1)]);
	h->off = off + len;
	return len;
}

/* put_fd_path appends the kernel path of fd (AT_FDCWD: the cwd). */
__noinline int put_fd_path(__s64 fd)
{
	struct path p = {};
	__u64 task = bpf_get_current_task();
	if (!fd_path(fd, &p, task))
		return 0;
	return put_path((__u64)p.dentry, (__u64)p.mnt, task);
}

/*
 * commit_str keeps the string of n bytes (NUL included, as the read helpers
 * count; n <= 0: none) just read at off: it advances the heap past it
 * without the NUL and returns -1, or its length | ABS_BIT when absolute.
 */
static __always_inline int commit_str(struct heap *h, __u32 off, long n)
{
	if (n <= 0)
		return -1;
	n--;
	if (n >= STR_MAX - 1)
		h->trunc = 1;
	n &= 0xfff;
	h->off = off + n;
	if (n > 0 && h->rec[off & TAIL_MASK] == '/')
		return n | ABS_BIT;
	return n;
}

/*
 * put_ustr appends a NUL-terminated user string (without the NUL). Returns
 * -1 when there is none, else its length, | ABS_BIT when it starts with '/'.
 */
__noinline int put_ustr(__u64 uptr)
{
	struct heap *h = get_heap();
	if (!h || !uptr)
		return -1;
	__u32 off = h->off;
	if (off > TAIL_MASK) {
		h->trunc = 1;
		return -1;
	}
	long n = bpf_probe_read_user_str(&h->rec[off & TAIL_MASK], STR_MAX, (void *)uptr);
	return commit_str(h, off, n);
}

/* put_ubytes appends len bytes of user memory; returns the count copied. */
__noinline int put_ubytes(__u64 uptr, __u64 len, __u32 max)
{
	struct heap *h = get_heap();
	if (!h || !uptr)
		return 0;
	__u32 off = h->off;
	if (off > TAIL_MASK) {
		h->trunc = 1;
		return 0;
	}
	if (len > max)
		len = max;
	len = CLAMP(len, DNS_MAX);
	if (bpf_probe_read_user(&h->rec[off & TAIL_MASK], len, (void *)uptr) < 0)
		return 0;
	h->off = off + len;
	return len;
}

/* Socket behind fd, or NULL when fd is not a socket. */
static __always_inline struct socket *fd_socket(__s64 fd)
{
	struct file *f = KCAST(struct file, fd_file(fd, bpf_get_current_task()));
	if (!f)
		return 0;
	if ((f->f_inode->i_mode & S_IFMT) != S_IFSOCK)
		return 0;
	return KCAST(struct socket, f->private_data);
}

/*
 * sock_info fills sock_family/sock_type of the record from the socket behind
 * fd. With synth = 1 (local address) or 2 (peer address) it also appends a
 * sockaddr synthesised from the socket and returns its length (0 if none).
 */
__noinline int sock_info(__s64 fd, __u32 synth)
{
	struct heap *h = get_heap();
	if (!h)
		return 0;
	struct sys_event *ev = (void *)h->rec;
	struct socket *sock = fd_socket(fd);
	if (!sock)
		return 0;
	struct sock *sk = sock->sk;
	__u16 family = sk->__sk_common.skc_family;
	ev->sock_family = family;
	ev->sock_type = sock->type;
	if (!synth || (family != AF_INET && family != AF_INET6))
		return 0;
	__u32 off = h->off;
	if (off > TAIL_MASK) {
		h->trunc = 1;
		return 0;
	}
	__u8 *p = &h->rec[off & TAIL_MASK];
	__u16 port;
	if (synth == 1)
		port = bpf_htons(sk->__sk_common.skc_num);
	else
		port = sk->__sk_common.skc_dport;
	__builtin_memset(p, 0, 28);
	*(__u16 *)p = family;
	*(__u16 *)(p + 2) = port;
	if (family == AF_INET) {
		__u32 a = synth == 1 ? sk->__sk_common.skc_rcv_saddr : sk->__sk_common.skc_daddr;
		*(__u32 *)(p + 4) = a;
		h->off = off + 16;
		return 16;
	}
	if (synth == 1)
		BPF_CORE_READ_INTO(p + 8, sk, __sk_common.skc_v6_rcv_saddr);
	else
		BPF_CORE_READ_INTO(p + 8, sk, __sk_common.skc_v6_daddr);
	h->off = off + 28;
	return 28;
}

/* dns_peer reports whether fd is a socket connected to port 53. */
__noinline int dns_peer(__s64 fd)
{
	struct socket *sock = fd_socket(fd);
	if (!sock)
		return 0;
	return sock->sk->__sk_common.skc_dport == bpf_htons(53);
}

/* Destination port (host order) of the sockaddr field just appended. */
static __always_inline __u16 addr_port(struct heap *h, __u32 start, int len)
{
	if (len < 4)
		return 0;
	__u8 *p = &h->rec[start & TAIL_MASK];
	__u16 fam = *(__u16 *)p;
	if (fam != AF_INET && fam != AF_INET6)
		return 0;
	return bpf_ntohs(*(__u16 *)(p + 2));
}

/* FIELD records where the field produced by expr starts and how long it is. */
#define FIELD(slot, expr)                                                        \
	do {                                                                     \
		__u32 __o = h->off;                                              \
		int __n = (expr);                                                \
		if (__n > 0) {                                                   \
			ev->offs[slot] = __o;                                    \
			ev->lens[slot] = __n;                                    \
		}                                                                \
	} while (0)

/*
 * send_common handles sendto/sendmsg/sendmmsg: the destination (explicit or
 * the connected peer) and, for port 53, the first bytes of the payload.
 */
static __always_inline void send_common(struct heap *h, struct sys_event *ev, __s64 fd,
					__u64 name, __s64 namelen, __u64 buf, __u64 buflen)
{
	__u32 start = h->off;
	int n;
	if (name && namelen > 0) {
		sock_info(fd, 0);
		n = put_ubytes(name, namelen, ADDR_MAX);
	} else {
		n = sock_info(fd, 2);
	}
	if (n > 0) {
		ev->offs[SF_ADDR] = start;
		ev->lens[SF_ADDR] = n;
	}
	if (addr_port(h, start, n) == 53) {
		dns_seen = 1;
		if (buf)
			FIELD(SF_PAYLOAD, put_ubytes(buf, buflen, DNS_MAX));
	}
}

/*
 * recv_common handles read/recvfrom/recvmsg of a DNS answer: the source
 * (name from the call, else the connected peer) and the first bytes received.
 */
static __always_inline void recv_common(struct heap *h, struct sys_event *ev, __s64 fd,
					__u64 name, __s64 namelen, __u64 buf, long ret)
{
	if (name && namelen > 0) {
		sock_info(fd, 0);
		FIELD(SF_ADDR, put_ubytes(name, namelen, ADDR_MAX));
	} else {
		FIELD(SF_ADDR, sock_info(fd, 2));
	}
	if (buf && ret > 0)
		FIELD(SF_PAYLOAD, put_ubytes(buf, ret, DNS_MAX));
}

/* Port (host order) of a user sockaddr, 0 if unreadable or not inet. */
static __always_inline __u16 user_port(__u64 name)
{
	__u16 fp[2] = {};
	if (!name || bpf_probe_read_user(fp, sizeof(fp), (void *)name) < 0)
		return 0;
	if (fp[0] != AF_INET && fp[0] != AF_INET6)
		return 0;
	return bpf_ntohs(fp[1]);
}

/*
 * dns_io decides whether a DNS-only call (write, read, recvfrom, recvmsg)
 * talked to port 53: the socket's peer, or the source address the call
 * returned.
 */
static __noinline int dns_io(__u8 id, struct pt_regs *regs)
{
	__s64 fd = SC_A0(regs);
	if (dns_peer(fd))
		return 1;
	if (id == SC_recvfrom)
		return user_port(SC_A4(regs)) == 53;
	if (id == SC_recvmsg) {
		struct u_msghdr m = {};
		if (bpf_probe_read_user(&m, sizeof(m), (void *)SC_A1(regs)) < 0)
			return 0;
		return user_port(m.name) == 53;
	}
	return 0;
}

#include "pathargs.h"
#include "sa_exit.h"

/*
 * Path argument i of ps: the string (pathargs.h: the kernel's copy, else
 * sys_enter's) plus, when relative (or NULL), the base directory.
 */
static __always_inline void path_at(struct heap *h, struct sys_event *ev, int i, struct pspec *ps, __u64 nr, int last)
{
	int r;
	FIELD(SF_STR0 + i, (r = put_arg(i | (last ? PA_LAST : 0), ps->ptr[i], ps->dirfd[i], nr)) < 0 ? 0 : r & 0xffff);
	if (ps->dirfd[i] != NO_BASE && (!(r & ABS_BIT) || r < 0))
		FIELD(SF_BASE0 + i, put_fd_path(ps->dirfd[i]));
}

/* paths stores the n path arguments of ps; the last one retires the thread's copy. */
static __always_inline void paths(struct heap *h, struct sys_event *ev, struct pspec *ps, int n, __u64 nr)
{
	path_at(h, ev, 0, ps, nr, n <= 1);
	if (n > 1)
		path_at(h, ev, 1, ps, nr, 1);
}

static __always_inline void ustr(struct heap *h, struct sys_event *ev, int slot, __u64 uptr)
{
	int r;
	FIELD(slot, (r = put_ustr(uptr)) < 0 ? 0 : r & 0xffff);
}

/*
 * compat_nr returns the syscall number when the task's current (or last)
 * syscall came through a non-native ABI, else -1. x86: TS_COMPAT is set on
 * entry through int $0x80/sysenter/32-bit syscall and cleared only on the way
 * back to user mode, after sys_exit and after a fatal signal; x32 calls carry
 * X32_SYSCALL_BIT in their number. arm64: an aarch32 task's pstate.
 */
static __always_inline __s64 compat_nr(struct task_struct *t, struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
	__s64 nr = (__s64)regs->orig_ax;
	if (t->thread_info.status & TS_COMPAT)
		return nr < 0 ? -1 : (__u32)nr;
	if (nr >= 0 && (nr & X32_SYSCALL_BIT))
		return (__u32)nr;
#elif defined(__TARGET_ARCH_arm64)
	if (regs->pstate & PSR_MODE32_BIT)
		return regs->syscallno < 0 ? -1 : regs->syscallno;
#endif
	return -1;
}

/*
 * record_compat reports a compat syscall: its number, the argument registers
 * of that ABI and, best effort, the string the first one points at (most
 * compat calls an attacker wants take a path first). Never counted with the
 * native calls, whose table would give it another name.
 */
static __always_inline int record_compat(struct pt_regs *regs, __s64 nr, long ret, __u8 flags)
{
	struct heap *h = get_heap();
	if (!h)
		return 0;
	struct sys_event *ev = (void *)h->rec;
	__builtin_memset(ev, 0, sizeof(*ev));
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	ev->h.ts = bpf_ktime_get_ns();
	ev->h.pid = pid_tgid >> 32;
	ev->h.tid = (__u32)pid_tgid;
	ev->h.kind = KIND_SYSCALL;
	ev->h.flags = FLAG_COMPAT | flags;
	ev->nr = nr;
	ev->ret = ret;
#if defined(__TARGET_ARCH_x86)
	/* i386 order: ebx ecx edx esi edi ebp (x32 uses the native one) */
	if (nr & X32_SYSCALL_BIT) {
		ev->args[0] = regs->di;
		ev->args[1] = regs->si;
		ev->args[2] = regs->dx;
		ev->args[3] = regs->r10;
		ev->args[4] = regs->r8;
		ev->args[5] = regs->r9;
	} else {
		ev->args[0] = (__u32)regs->bx;
		ev->args[1] = (__u32)regs->cx;
		ev->args[2] = (__u32)regs->dx;
		ev->args[3] = (__u32)regs->si;
		ev->args[4] = (__u32)regs->di;
		ev->args[5] = (__u32)regs->bp;
	}
#elif defined(__TARGET_ARCH_arm64)
	ev->args[0] = (__u32)regs->orig_x0;
	ev->args[1] = (__u32)regs->regs[1];
	ev->args[2] = (__u32)regs->regs[2];
	ev->args[3] = (__u32)regs->regs[3];
	ev->args[4] = (__u32)regs->regs[4];
	ev->args[5] = (__u32)regs->regs[5];
#endif
	h->off = sizeof(*ev);
	h->trunc = 0;
	ustr(h, ev, SF_STR0, ev->args[0]);
	__u64 sz = CLAMP(h->off, REC_SIZE);
	if (h->trunc)
		ev->h.flags |= FLAG_TRUNC;
	if (bpf_ringbuf_output(&events, h->rec, sz, rb_flags_h(h)) < 0)
		count_lost(LOSS_PRIV);
	return 0;
}

static __always_inline __u32 loss_class(__u8 id)
{
	if (id >= SC_DNS_FIRST)
		return LOSS_NET;
	if (id >= SC_PRIV_FIRST)
		return LOSS_PRIV;
	if (id >= SC_NET_FIRST)
		return LOSS_NET;
	return LOSS_FILE;
}

/*
 * emit_record sends the syscall record built in this CPU's heap (record()'s
 * last step). A global function: the verifier checks it once, where inlined
 * it was checked again for every state reaching the end of record() - one
 * per path through its switch, ~250, 40% of sys_exit's verification.
 */
__noinline int emit_record(__u32 id)
{
	struct heap *h = get_heap();
	if (!h)
		return 0;
	struct sys_event *ev = (void *)h->rec;
	__u64 sz = CLAMP(h->off, REC_SIZE);
	if (h->trunc)
		ev->h.flags |= FLAG_TRUNC;
	ev->h.flags |= h->pflags;
	if (bpf_ringbuf_output(&events, h->rec, sz, rb_flags_h(h)) < 0)
		count_lost(loss_class(id));
	return 0;
}

static __always_inline int record(__u8 id, __u64 nr, long ret, struct pt_regs *regs, __u64 pid_tgid)
{
	struct heap *h = get_heap();
	if (!h)
		return 0;
	struct sys_event *ev = (void *)h->rec;
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->h.ts = bpf_ktime_get_ns();
	ev->h.pid = pid_tgid >> 32;
	ev->h.tid = (__u32)pid_tgid;
	ev->h.kind = KIND_SYSCALL;
	ev->nr = nr;
	ev->ret = ret;
	__u64 a0 = SC_A0(regs), a1 = SC_A1(regs), a2 = SC_A2(regs);
	__u64 a3 = SC_A3(regs), a4 = SC_A4(regs), a5 = SC_A5(regs);
	ev->args[0] = a0;
	ev->args[1] = a1;
	ev->args[2] = a2;
	ev->args[3] = a3;
	ev->args[4] = a4;
	ev->args[5] = a5;
	h->off = sizeof(*ev);
	h->trunc = 0;

	h->pflags = 0;
	struct pspec ps;
	int np = path_spec(id, a0, a1, a2, a3, &ps);

	switch (id) {
	/* opens: the path and, on success, the returned fd's */
	case SC_open:
	case SC_creat:
	case SC_openat:
		paths(h, ev, &ps, np, nr);
		goto resolved;
	case SC_openat2: {
		__u64 how[2] = {};
		if (a2 && bpf_probe_read_user(how, sizeof(how), (void *)a2) == 0) {
			ev->args[4] = how[0]; /* open_how.flags */
			ev->args[5] = how[1]; /* open_how.mode */
		}
		paths(h, ev, &ps, np, nr);
		goto resolved;
	}
	case SC_execve:
	case SC_execveat:
		/* success replaced the memory (and registers): KindExec has it */
		if (ret == 0)
			break;
		paths(h, ev, &ps, np, nr);
		break;
	case SC_chdir:
		paths(h, ev, &ps, np, nr);
		/* where the kernel moved the cwd (symlinks and .. resolved) */
		if (ret == 0)
			FIELD(SF_RESOLVED, put_fd_path(AT_FDCWD));
		break;
	/* fd based: the fd's path is the base */
	case SC_fchmod:
	case SC_fchown:
	case SC_ftruncate:
	case SC_setns:
	case SC_fsmount:
		FIELD(SF_BASE0, put_fd_path(a0));
		break;
	case SC_fchdir:
		FIELD(SF_BASE0, put_fd_path(a0));
		if (ret == 0)
			FIELD(SF_RESOLVED, put_fd_path(AT_FDCWD));
		break;
	case SC_finit_module:
		ustr(h, ev, SF_STR0, a1); /* module params */
		FIELD(SF_BASE0, put_fd_path(a0));
		break;
	case SC_kexec_file_load:
		ustr(h, ev, SF_STR0, a3); /* cmdline */
		FIELD(SF_BASE0, put_fd_path(a0));
		break;
	case SC_init_module:
		ustr(h, ev, SF_STR0, a2); /* module params */
		break;
	/* plain strings */
	case SC_memfd_create:
	case SC_delete_module:
	case SC_fsopen:
		ustr(h, ev, SF_STR0, a0);
		break;
	case SC_add_key:
	case SC_request_key:
		ustr(h, ev, SF_STR0, a0); /* key type */
		ustr(h, ev, SF_STR1, a1); /* description */
		break;
	case SC_clone3: {
		__u64 flags = 0;
		if (a0 && bpf_probe_read_user(&flags, sizeof(flags), (void *)a0) == 0)
			ev->args[0] = flags; /* clone_args.flags, by convention in Args[0] */
		break;
	}
	/* net */
	case SC_socket:
		ev->sock_family = a0;
		ev->sock_type = a1 & 0xf;
		break;
	case SC_connect:
	case SC_bind: {
		__u32 start = h->off;
		int n;
		sock_info(a0, 0);
		FIELD(SF_ADDR, (n = put_ubytes(a1, a2, ADDR_MAX)));
		if (id == SC_connect && addr_port(h, start, n) == 53)
			dns_seen = 1;
		break;
	}
	case SC_listen:
		FIELD(SF_ADDR, sock_info(a0, 1));
		break;
	case SC_accept:
	case SC_accept4:
		sock_info(a0, 0);
		if (ret >= 0) {
			__s32 alen = 0;
			if (a1 && a2 && bpf_probe_read_user(&alen, sizeof(alen), (void *)a2) == 0 && alen > 0)
				FIELD(SF_ADDR, put_ubytes(a1, alen, ADDR_MAX));
			else
				FIELD(SF_ADDR, sock_info(ret, 2));
		}
		break;
	case SC_write:
		send_common(h, ev, a0, 0, 0, a1, a2);
		break;
	case SC_read:
		recv_common(h, ev, a0, 0, 0, a1, ret);
		break;
	case SC_recvfrom: {
		__s32 alen = 0;
		if (a4 && a5)
			bpf_probe_read_user(&alen, sizeof(alen), (void *)a5);
		recv_common(h, ev, a0, a4, alen, a1, ret);
		break;
	}
	case SC_recvmsg: {
		struct u_msghdr m = {};
		struct u_iovec iov = {};
		if (!a1 || bpf_probe_read_user(&m, sizeof(m), (void *)a1) < 0) {
			sock_info(a0, 0);
			break;
		}
		if (m.iov && m.iovlen > 0)
			bpf_probe_read_user(&iov, sizeof(iov), (void *)m.iov);
		recv_common(h, ev, a0, m.name, m.namelen, iov.base, ret < (long)iov.len ? ret : (long)iov.len);
		break;
	}
	case SC_sendto:
		send_common(h, ev, a0, a4, a5, a1, a2);
		break;
	case SC_sendmsg:
	case SC_sendmmsg: {
		/* sendmmsg: the first struct mmsghdr starts with its msghdr */
		struct u_msghdr m = {};
		struct u_iovec iov = {};
		if (!a1 || bpf_probe_read_user(&m, sizeof(m), (void *)a1) < 0) {
			sock_info(a0, 0);
			break;
		}
		if (m.iov && m.iovlen > 0)
			bpf_probe_read_user(&iov, sizeof(iov), (void *)m.iov);
		send_common(h, ev, a0, m.name, m.namelen, iov.base, iov.len);
		break;
	}
	default:
		/* every other path call (path_spec): the paths alone */
		if (np)
			paths(h, ev, &ps, np, nr);
		break;
	}
	goto out;

resolved:
	if (ret >= 0 && want_resolved)
		FIELD(SF_RESOLVED, put_fd_path(ret));
out:
	return emit_record(id);
}

/* flush_slot adds a cached slot to the counts hash map (other CPUs may too). */
static __noinline void flush_slot(struct count_slot *sl, __u64 nr)
{
	struct count_key key = {.pid = sl->pid, .nr = nr};
	struct count_val *v = bpf_map_lookup_elem(&counts, &key);
	if (!v) {
		struct count_val zero = {};
		bpf_map_update_elem(&counts, &key, &zero, BPF_NOEXIST);
		v = bpf_map_lookup_elem(&counts, &key);
	}
	if (v) {
		__sync_fetch_and_add(&v->count, sl->count);
		if (sl->errors)
			__sync_fetch_and_add(&v->errors, sl->errors);
	} else {
		count_lost_n(LOSS_COUNT, sl->count);
	}
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	if (!task_in_target(task))
		return 0;
	__s64 cnr = compat_nr(task, regs);
	if (cnr >= 0) {
		/* a unix connect through socketcall or another ABI gets its
		 * peer check too: the cgroup hooks fire whatever the ABI, and
		 * conn_sk says whether this call was such a connect */
		sa_peer_check(ret);
		/* refused by seccomp: the thread dies of SIGSYS, sched_exit
		 * reports it (also when it dies without reaching sys_exit) */
		if (!started || task->seccomp.mode == SECCOMP_MODE_DEAD)
			return 0;
		return record_compat(regs, cnr, ret, 0);
	}
	__u64 nr = SC_NR(regs);
	if (nr == (__u64)-1)
		nr = sigreturn_nr; /* see sigreturn_nr */
	if (nr >= NR_TABLE)
		return 0;
	__u8 id = sc_table[nr];
	/* the sockaddr hooks' sys_exit half (sa_exit.h): from Watch on, like
	 * the hooks, and before this call's own record */
	if (id == SC_connect)
		sa_peer_check(ret);
	else if (id == SC_sendmmsg)
		sa_mmsg(ret, SC_A0(regs), SC_A1(regs));
	if (!started)
		return 0;
	/* the child's half of fork/clone did not make the call */
	if (ret == 0 && (id == SC_clone || id == SC_clone3 || id == SC_fork || id == SC_vfork))
		return 0;

	__u64 pid_tgid = (__u64)(__u32)task->tgid << 32 | (__u32)task->pid;
	__u32 zero = 0;
	struct count_cache *cc = bpf_map_lookup_elem(&pcounts, &zero);
	if (cc) {
		struct count_slot *sl = &cc->slot[nr & (NR_TABLE - 1)];
		__u32 tgid = pid_tgid >> 32;
		if (sl->pid != tgid) {
			if (sl->count)
				flush_slot(sl, nr);
			sl->pid = tgid;
			sl->count = 0;
			sl->errors = 0;
		}
		/* per CPU, and syscall tracepoint programs do not nest: no atomics */
		sl->count++;
		if (ret < 0 && ret > -4096)
			sl->errors++;
	} else {
		count_lost(LOSS_COUNT);
	}

	if (id >= SC_DNS_FIRST) {
		/* DNS only (see enum sc_id); nothing to look at before port 53 is used */
		if (ret <= 0 || !dns_seen || !dns_io(id, regs))
			return 0;
	} else if (id == SC_NONE || id >= SC_RECORD_END) {
		return 0;
	}
	/* a successful exec is reported by sched_process_exec with its argv;
	 * its registers and memory are gone here, so a record would be empty */
	if (ret == 0 && (id == SC_execve || id == SC_execveat))
		return 0;
	return record(id, nr, ret, regs, pid_tgid);
}

/*
 * sys_enter copies the path arguments of the calls record() stores paths
 * for, before the kernel reads them (pathargs.h). It runs for every syscall
 * on the machine: the syscall test (a table load and a few compares) comes
 * before the cgroup test (a chain of dependent loads), as most calls are
 * not path calls.
 */
SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long nr)
{
	if ((__u64)nr >= NR_TABLE)
		return 0;
	struct pspec ps;
	int n = path_spec(sc_table[nr], SC_A0(regs), SC_A1(regs), SC_A2(regs), SC_A3(regs), &ps);
	if (!n)
		return 0;
	if (!cur_in_target())
		return 0;
	if (!started)
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	if (compat_nr(task, regs) >= 0)
		return 0; /* a compat call: record_compat reads its string at exit */
	struct path_args *e = bpf_task_storage_get(&path_args, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!e)
		return 0; /* no copy: sys_exit flags the record late */
	e->nr = 0;
	e->raced = 0;
	e->kcopy = 0;
	save_arg(e, 0, ps.ptr[0], ps.dirfd[0]);
	if (n > 1)
		save_arg(e, 1, ps.ptr[1], ps.dirfd[1]);
	else
		save_arg(e, 1, 0, 0);
	__u8 id = sc_table[nr];
	if (id == SC_chdir || id == SC_pivot_root) {
		/* these move the cwd themselves: its identity at exit is no
		 * evidence of a racing chdir */
		e->base[0] = 0;
		e->base[1] = 0;
	}
	e->nr = nr + 1;
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(sched_fork, struct task_struct *parent, struct task_struct *child)
{
	if (!in_target())
		return 0;
	if (!started)
		return 0;
	if (child->pid != child->tgid)
		return 0; /* a thread */
	struct fork_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost(LOSS_FORK);
		return 0;
	}
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	e->h.ts = bpf_ktime_get_ns();
	e->h.pid = pid_tgid >> 32;
	e->h.tid = (__u32)pid_tgid;
	e->h.kind = KIND_FORK;
	e->h.flags = 0;
	e->h._pad0 = 0;
	e->h._pad1 = 0;
	e->child = child->tgid;
	e->_pad = 0;
	bpf_ringbuf_submit(e, rb_flags());
	return 0;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(sched_exec, struct task_struct *p, int old_pid, struct linux_binprm *bprm)
{
	if (!in_target())
		return 0;
	if (!started)
		started = 1; /* the container's init became the user's command */
	struct heap *h = get_heap();
	if (!h)
		return 0;
	struct exec_event *ev = (void *)h->rec;
	__builtin_memset(ev, 0, sizeof(*ev));
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	ev->h.ts = bpf_ktime_get_ns();
	ev->h.pid = pid_tgid >> 32;
	ev->h.tid = (__u32)pid_tgid;
	ev->h.kind = KIND_EXEC;
	ev->ppid = BPF_CORE_READ(p, real_parent, tgid);
	ev->uid = (__u32)bpf_get_current_uid_gid();
	h->off = sizeof(*ev);
	h->trunc = 0;

	__u32 off = h->off;
	long n = bpf_probe_read_kernel_str(&h->rec[off & 0xfff], STR_MAX, BPF_CORE_READ(bprm, filename));
	if (n > 0) {
		n = (n - 1) & 0xfff;
		ev->lens[EXEC_FILENAME] = n;
		off += n;
	}

	/* off <= sizeof(*ev) + 4095 here: the argv copy ends below REC_SIZE */
	__u64 start = BPF_CORE_READ(p, mm, arg_start);
	__u64 end = BPF_CORE_READ(p, mm, arg_end);
	__u64 alen = end > start ? end - start : 0;
	if (alen > ARGV_MAX) {
		alen = ARGV_MAX;
		ev->h.flags |= FLAG_ARGV_TRUNC;
	}
	alen = CLAMP(alen, ARGV_MAX);
	if (alen && bpf_probe_read_user(&h->rec[off & 0x1fff], alen, (void *)start) == 0) {
		ev->lens[EXEC_ARGV] = alen;
		off += alen;
	}
	h->off = off;

	struct fs_struct *fs = BPF_CORE_READ(p, fs);
	__u64 cur = bpf_get_current_task();
	ev->lens[EXEC_CWD] = put_path((__u64)BPF_CORE_READ(fs, pwd.dentry), (__u64)BPF_CORE_READ(fs, pwd.mnt), cur);
	if (BPF_CORE_READ(bprm, interp) != BPF_CORE_READ(bprm, filename))
		ev->h.flags |= FLAG_EXEC_INTERP;
	/* the file the kernel opened and runs, whatever string named it */
	ev->lens[EXEC_EXE] = put_path((__u64)BPF_CORE_READ(bprm, file, f_path.dentry),
				      (__u64)BPF_CORE_READ(bprm, file, f_path.mnt), cur);

	start = BPF_CORE_READ(p, mm, env_start);
	end = BPF_CORE_READ(p, mm, env_end);
	__u64 elen = end > start ? end - start : 0;
	if (elen > ENV_MAX) {
		elen = ENV_MAX;
		ev->h.flags |= FLAG_ENV_TRUNC;
	}
	elen = CLAMP(elen, ENV_MAX);
	off = h->off;
	if (elen && off <= TAIL_MASK &&
	    bpf_probe_read_user(&h->rec[off & TAIL_MASK], elen, (void *)start) == 0) {
		ev->lens[EXEC_ENV] = elen;
		h->off = off + elen;
	}

	__u64 sz = CLAMP(h->off, REC_SIZE);
	if (h->trunc)
		ev->h.flags |= FLAG_TRUNC;
	if (bpf_ringbuf_output(&events, h->rec, sz, rb_flags_h(h)) < 0)
		count_lost(LOSS_EXEC);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(sched_exit, struct task_struct *p)
{
	if (!in_target())
		return 0;
	if (!started)
		return 0;
	/*
	 * A compat syscall the sandbox's seccomp filter refused (bad arch) never
	 * reaches sys_exit: the thread dies of SIGSYS inside it. Report it here,
	 * also when other threads live on.
	 */
	if ((p->exit_code & 0x7f) == SIGSYS) {
		struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(p);
		if (regs) {
			__s64 cnr = compat_nr(p, regs);
			if (cnr >= 0)
				record_compat(regs, cnr, 0, FLAG_COMPAT_KILLED);
		}
	}
	if (BPF_CORE_READ(p, signal, live.counter) != 0)
		return 0; /* other threads remain */
	struct exit_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_lost(LOSS_EXIT);
		return 0;
	}
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	int code = p->exit_code;
	e->h.ts = bpf_ktime_get_ns();
	e->h.pid = pid_tgid >> 32;
	e->h.tid = (__u32)pid_tgid;
	e->h.kind = KIND_EXIT;
	e->h.flags = 0;
	e->h._pad0 = 0;
	e->h._pad1 = 0;
	e->code = (code >> 8) & 0xff;
	e->sig = code & 0x7f;
	bpf_ringbuf_submit(e, rb_flags());
	return 0;
}

/*
 * Anchor the shared types in BTF so bpf2go -type can generate them even
 * where no program uses them as a type (enums used only as constants).
 */
struct btf_anchor {
	struct hdr hdr;
	struct fork_event fork;
	struct exit_event exit;
	struct exec_event exec;
	struct sys_event sys;
	struct count_key ckey;
	struct count_val cval;
	struct count_slot cslot;
	enum kind kind;
	enum hdr_flags flags;
	enum loss_class loss;
	enum exec_field exec_field;
	enum sys_field sys_field;
	enum sc_id sc_id;
};
struct btf_anchor *unused_btf_anchor __attribute__((unused));
