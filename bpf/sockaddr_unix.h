/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Unix path judgement of sockaddr.bpf.c (included once, from there): the
 * kernel-walked cwd for relative paths, ".." components, and the allowed
 * directory prefixes (unix_allow). Split out to keep each file to one
 * concern; it uses the maps and helpers sockaddr.bpf.c defines before it.
 */
#ifndef BEHAVEDIFF_SOCKADDR_UNIX_H
#define BEHAVEDIFF_SOCKADDR_UNIX_H

/*
 * walk_cwd writes the current task's working directory (as seen from its
 * root) to the start of buf and returns its length, or -1 when it is deeper
 * than CWD_DEPTH or longer than CWD_MAX. Two passes: collect the dentries
 * upwards, then write their names root first.
 */
__noinline int walk_cwd(struct sa_event *ev)
{
	if (!ev)
		return -1;
	char *buf = ev->path;
	struct fs_struct *fs = CUR_TASK()->fs;
	__u64 root_d = (__u64)fs->root.dentry;
	__u64 root_m = (__u64)fs->root.mnt;
	__u64 mnt_off = bpf_core_field_offset(struct mount, mnt);
	__u64 d = (__u64)fs->pwd.dentry;
	__u64 m = (__u64)fs->pwd.mnt - mnt_off;
	__u64 comps[CWD_DEPTH];
	int i = 0, top = 0, bad = 0;

	/*
	 * Loop-carried counters live in the record (ev->path_len), not in
	 * registers: the verifier then sees an unknown value each round and
	 * the iterator loop converges instead of being explored per count.
	 */
	ev->path_len = 0;
	FOR_RANGE(itw, i, 0, CWD_DEPTH)
	{
		if (d == root_d && m + mnt_off == root_m) {
			top = 1;
			break;
		}
		struct mount *mp = KCAST(struct mount, m);
		struct dentry *dp = KCAST(struct dentry, d);
		__u64 parent = (__u64)dp->d_parent;
		if (d == (__u64)mp->mnt.mnt_root) {
			__u64 up = (__u64)mp->mnt_parent;
			if (up == m) {
				top = 1; /* outside the task's root: stop at the top */
				break;
			}
			d = (__u64)mp->mnt_mountpoint;
			m = up;
			continue;
		}
		__u32 n = ev->path_len;
		if (d == parent || n >= CWD_DEPTH) {
			bad = 1; /* disconnected */
			break;
		}
		comps[n & (CWD_DEPTH - 1)] = d;
		ev->path_len = n + 1;
		d = parent;
	}
	ITER_END(itw);
	if (bad || !top)
		return -1;
	int n = ev->path_len;
	ev->path_len = 0; /* now the write position (in memory, as above) */
	FOR_RANGE(itf, i, 0, CWD_DEPTH)
	{
		if (i >= n)
			break;
		struct dentry *dp = KCAST(struct dentry, comps[(n - 1 - i) & (CWD_DEPTH - 1)]);
		__u32 len = dp->d_name.len;
		__u32 pos = ev->path_len;
		if (len > 255 || pos + 1 + len >= CWD_MAX) {
			bad = 1;
			break;
		}
		buf[pos & (CWD_MAX - 1)] = '/';
		bpf_probe_read_kernel(&buf[(pos + 1) & (CWD_MAX - 1)], len & 0xff, dp->d_name.name);
		ev->path_len = pos + 1 + len;
	}
	ITER_END(itf);
	if (bad)
		return -1;
	__u32 off = ev->path_len;
	if (off == 0) {
		buf[0] = '/';
		off = 1;
	}
	return off;
}

/* has_dotdot reports whether path[0..n) has a ".." component. */
static __always_inline bool has_dotdot(const char *p, __u32 n)
{
	int i = 0;
	bool found = false;
	if (n > SA_PATH_MAX)
		n = SA_PATH_MAX;
	FOR_RANGE(it, i, 0, (int)n - 1)
	{
		__u32 k = (__u32)i & (SA_PATH_MAX - 1);
		if (p[k] != '.' || p[(k + 1) & (SA_PATH_MAX - 1)] != '.')
			continue;
		bool start = k == 0 || p[(k - 1) & (SA_PATH_MAX - 1)] == '/';
		bool end = k + 2 >= n || p[(k + 2) & (SA_PATH_MAX - 1)] == '/';
		if (start && end) {
			found = true;
			break;
		}
	}
	ITER_END(it);
	return found;
}

/* allowed reports whether path[0..n) lies under one of the unix_allow prefixes. */
static __always_inline bool allowed(const char *p, __u32 n)
{
#pragma unroll
	for (int k = 0; k < N_PREFIX; k++) {
		__u32 len = unix_allow[k].len;
		if (len == 0 || len >= sizeof(unix_allow[k].p) || len > n)
			continue;
		if (bpf_strncmp(p, len, (const char *)unix_allow[k].p) == 0)
			return true;
	}
	return false;
}

/*
 * judge_unix fills ev->path with the absolute path of the unix address in
 * ev->addr and returns the reason to refuse it (SA_R_NONE: allowed).
 * Global (not static) functions are verified once, with unknown arguments:
 * the byte loops below would otherwise be explored once per exact length.
 */
__noinline int judge_unix(struct sa_event *ev, __u64 netns_cookie)
{
	if (!ev)
		return SA_R_NONE;
	__u32 alen = ev->addr_len;
	if (alen <= 2 || alen > SA_ADDR_MAX)
		return SA_R_NONE; /* unnamed: nothing to reach */
	if (ev->addr[2] == 0) {
		/* abstract names are per network namespace: only the host's matters */
		if (host_netns_cookie && netns_cookie == host_netns_cookie)
			return SA_R_HOST_ABSTRACT;
		return SA_R_NONE;
	}
	__u32 off = 0;
	if (ev->addr[2] != '/') {
		int n = walk_cwd(ev);
		if (n <= 0 || n >= CWD_MAX)
			return SA_R_UNKNOWN_CWD;
		off = n;
		if (off > 1) {
			ev->path[off & (CWD_MAX - 1)] = '/';
			off++;
		}
	}
	/* sun_path up to its NUL or the address length (at most 108 bytes) */
	/* the length so far lives in ev->path_len (see walk_cwd) */
	ev->path_len = 0;
	int i = 0;
	FOR_RANGE(it, i, 2, (int)alen)
	{
		__u32 a = (__u32)i & 0x7f;
		if (a >= SA_ADDR_MAX || ev->addr[a] == 0)
			break;
		ev->path[(off + a - 2) & (SA_PATH_MAX - 1)] = ev->addr[a];
		ev->path_len = a - 1;
	}
	ITER_END(it);
	off += ev->path_len;
	if (off > SA_PATH_MAX)
		off = SA_PATH_MAX;
	ev->path_len = off;
	if (has_dotdot(ev->path, off))
		return SA_R_DOTDOT;
	if (!allowed(ev->path, off))
		return SA_R_OUTSIDE;
	return SA_R_NONE;
}

#endif
