/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Records of the cgroup sock_addr object (sockaddr.bpf.c), shared with Go
 * through bpf2go -type. They go into the sensor's ring buffer (the loader
 * passes the sensor's "events" map in), start with struct hdr (events.h),
 * and use hdr.kind values that events.h's enum kind does not: the reader
 * tells them apart by kind alone.
 *
 * Only NEW types live here: events.h is the sensor's, and is not changed.
 */
#ifndef BEHAVEDIFF_SOCKADDR_H
#define BEHAVEDIFF_SOCKADDR_H

enum sa_kind {
	KIND_SOCKADDR = 16,   /* struct sa_event: one address the kernel is about to use */
	KIND_SA_PAYLOAD = 17, /* struct sa_payload: one sendmmsg message sent to port 53 */
};

/* Which kernel point produced a sa_event. */
enum sa_hook {
	SA_CONNECT4 = 1,
	SA_CONNECT6 = 2,
	SA_SENDMSG4 = 3,
	SA_SENDMSG6 = 4,
	SA_CONNECT_UNIX = 5,
	SA_SENDMSG_UNIX = 6,
	SA_BIND4 = 7,
	SA_BIND6 = 8,
	/*
	 * sys_exit of a successful unix connect whose peer socket was not
	 * bound inside the sandbox (a path check passed, e.g. through a
	 * symlink): the process is killed before it returns to user space.
	 * addr is the peer's own bound address.
	 */
	SA_PEER_CHECK = 9,
};

enum sa_verdict {
	SA_ALLOW = 0,
	SA_DENY = 1, /* the hook refused: the syscall fails with EPERM */
	SA_KILL = 2, /* too late to refuse: the calling process was SIGKILLed */
};

/* Why a unix address was refused (sa_event.reason). */
enum sa_reason {
	SA_R_NONE = 0,
	SA_R_OUTSIDE = 1,      /* path outside the allowed directories */
	SA_R_DOTDOT = 2,       /* path with a ".." component */
	SA_R_UNKNOWN_CWD = 3,  /* relative path, cwd could not be walked */
	SA_R_HOST_ABSTRACT = 4, /* abstract name in the host's network namespace */
	SA_R_PEER_OUTSIDE = 5, /* connected peer bound in another mount namespace */
};

/* Loss counters of this object (per-CPU array "sa_lost"). */
enum sa_loss {
	SA_LOSS_HOOK = 0, /* a sa_event did not fit in the ring buffer */
	SA_LOSS_DNS = 1,  /* a sendmmsg message to port 53 beyond the bound or not delivered */
	SA_LOSS_MAX = 2,
};

#define SA_ADDR_MAX 112 /* sockaddr_un is 110 bytes */
#define SA_PATH_MAX 512 /* the judged absolute unix path (cwd + sun_path) */
#define SA_MMSG_MAX 16  /* sendmmsg messages read for DNS per call */
#define SA_PAYLOAD_MAX 512

/*
 * sa_event: addr holds a struct sockaddr as the kernel uses it (inet: built
 * from the hook context, i.e. the kernel's copy; unix: the kernel's copy
 * itself), addr_len bytes. For unix paths, path holds the absolute path the
 * policy judged (relative paths joined to the kernel-walked cwd), path_len
 * bytes; the record is cut after path.
 */
struct sa_event {
	struct hdr h;
	__u8 hook;     /* enum sa_hook */
	__u8 verdict;  /* enum sa_verdict */
	__u8 reason;   /* enum sa_reason */
	__u8 _pad0;
	__u16 family;  /* of the address */
	__u16 type;    /* SOCK_STREAM, SOCK_DGRAM, ... */
	__u16 protocol;
	__u16 addr_len;
	__u16 path_len;
	__u16 _pad1;
	__u8 addr[SA_ADDR_MAX];
	char path[SA_PATH_MAX];
};

/*
 * sa_payload: message idx of a sendmmsg call (ret = the call's result)
 * whose destination is port 53; addr is the destination (the socket's peer,
 * or the message's own name as read from user memory), data its first
 * bytes.
 */
struct sa_payload {
	struct hdr h;
	__s64 ret;
	__u16 idx;
	__u16 len;
	__u16 addr_len;
	__u16 _pad;
	__u8 addr[32];
	__u8 data[SA_PAYLOAD_MAX];
};

/* One allowed unix path prefix (rodata unix_allow); p ends with '/', NUL after. */
struct sa_prefix {
	__u32 len;
	char p[252];
};

#endif
