/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Path arguments that a racing writer cannot forge (included by
 * sensor.bpf.c; uses its heap and helpers).
 *
 * A path argument is the caller's memory, and another thread (or another
 * process through shared memory or /proc/PID/mem) can rewrite it while the
 * kernel is using it. Read at sys_exit only, such a trace records a decoy.
 * Three reads of each path argument of a recorded path syscall:
 *
 *   entry  sys_enter copies the string into the thread's task storage,
 *          before the kernel reads it. It cannot fault: a string on a page
 *          that is not resident yet gives no copy.
 *   kernel getname()'s own copy (struct filename), caught when putname()
 *          frees it (tracepoint kmem_cache_free of names_cache, still in
 *          the syscall, before sys_exit): this IS the string the kernel
 *          used, and the kernel faulted the page in. Matched to the
 *          argument by filename.uptr. Only names that fit in the embedded
 *          buffer (about 4 KiB minus a header); longer ones have none.
 *   exit   sys_exit reads the caller's memory again.
 *
 * The record holds the kernel copy, else the entry copy. FLAG_RACED when
 * any two of the three differ, or the base directory of a relative path is
 * another one at exit: honest code never changes an argument during the
 * call. FLAG_LATE when there is neither a kernel nor an entry copy (the exit
 * read is all there is, and it need not be what the kernel used), and for a
 * string over LONG_PATH bytes without a kernel copy (entry == exit does not
 * prove the kernel read the same).
 *
 * The task storage lives as long as the thread (the kernel frees it at
 * exit), one value per thread that made a path syscall, so a hostile
 * program gets at most its pids limit of them; a thread blocked forever
 * keeps its one. path_args.nr ties a copy to the call that made it: exec
 * keeps the storage, the next path call overwrites it, and sys_exit drops
 * it after use, so a stale copy is never taken for a later call.
 */
#ifndef BEHAVEDIFF_PATHARGS_H
#define BEHAVEDIFF_PATHARGS_H

#define NO_BASE -200 /* dirfd of a string that is no path (symlink text) */
/* longer strings may have no kernel copy (getname()'s embedded buffer is
 * 4096 bytes less a 32-byte header on 6.x); without one they are late */
#define LONG_PATH 4000

struct path_args {
	__u32 nr;     /* syscall nr + 1 of the copies; 0: none pending */
	__u16 raced;  /* bit i: the kernel copy of i differed from an earlier copy */
	__u16 kcopy;  /* bit i: str[i] is the kernel's copy */
	__u64 ptr[2];  /* user pointers of the arguments */
	__u64 base[2]; /* identity of the base directory of a relative string at entry */
	__s32 len[2];  /* bytes of str[i] with the NUL; <= 0: no copy */
	char str[2][STR_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct path_args);
} path_args SEC(".maps");

/* A path syscall's string arguments: pointer and base dirfd per slot. */
struct pspec {
	__u64 ptr[2];
	__s64 dirfd[2];
};

/*
 * path_spec fills p for the syscalls whose arguments are paths and returns
 * how many there are (1 or 2), else 0. The one place that says which argument is which path: sys_enter
 * copies them, record() stores them.
 */
static __always_inline int path_spec(__u8 id, __u64 a0, __u64 a1, __u64 a2, __u64 a3, struct pspec *p)
{
	p->ptr[1] = 0;
	p->dirfd[1] = AT_FDCWD;
	switch (id) {
	case SC_open:
	case SC_creat:
	case SC_execve:
	case SC_unlink:
	case SC_rmdir:
	case SC_mkdir:
	case SC_chmod:
	case SC_chown:
	case SC_lchown:
	case SC_truncate:
	case SC_utime:
	case SC_utimes:
	case SC_mknod:
	case SC_chroot:
	case SC_umount2:
	case SC_chdir:
		p->ptr[0] = a0;
		p->dirfd[0] = AT_FDCWD;
		return 1;
	case SC_openat:
	case SC_openat2:
	case SC_execveat:
	case SC_unlinkat:
	case SC_mkdirat:
	case SC_fchmodat:
	case SC_fchmodat2:
	case SC_fchownat:
	case SC_mknodat:
	case SC_futimesat:
	case SC_utimensat:
	case SC_open_tree:
		p->ptr[0] = a1;
		p->dirfd[0] = a0;
		return 1;
	case SC_rename:
	case SC_link:
	case SC_pivot_root:
	case SC_mount:
		p->ptr[0] = a0;
		p->dirfd[0] = AT_FDCWD;
		p->ptr[1] = a1;
		return 2;
	case SC_renameat:
	case SC_renameat2:
	case SC_linkat:
	case SC_move_mount:
		p->ptr[0] = a1;
		p->dirfd[0] = a0;
		p->ptr[1] = a3;
		p->dirfd[1] = a2;
		return 2;
	case SC_symlink:
		p->ptr[0] = a0; /* link text: no base */
		p->dirfd[0] = NO_BASE;
		p->ptr[1] = a1;
		return 2;
	case SC_symlinkat:
		p->ptr[0] = a0;
		p->dirfd[0] = NO_BASE;
		p->ptr[1] = a2;
		p->dirfd[1] = a1;
		return 2;
	}
	return 0;
}

/*
 * base_id identifies the directory a relative path starts from (the cwd or
 * dirfd's directory): its dentry and mount mixed into one number, compared
 * between sys_enter and sys_exit only. 0: none.
 */
__noinline __u64 base_id(__s64 dirfd)
{
	struct path p = {};
	if (!fd_path(dirfd, &p, bpf_get_current_task()))
		return 0;
	return (__u64)p.dentry ^ ((__u64)p.mnt << 1);
}

/* save_arg makes the sys_enter copy of slot i. */
static __always_inline void save_arg(struct path_args *e, int i, __u64 uptr, __s64 dirfd)
{
	e->ptr[i] = uptr;
	e->base[i] = 0;
	e->len[i] = 0;
	if (!uptr)
		return;
	long n = bpf_probe_read_user_str(e->str[i], STR_MAX, (void *)uptr);
	e->len[i] = n;
	if (n > 0 && e->str[i][0] != '/' && dirfd != NO_BASE)
		e->base[i] = base_id(dirfd);
}

/*
 * str_differs compares two strings of n bytes (NUL included), n <= STR_MAX,
 * a word at a time. The bytes after the NUL are never looked at (the last
 * partial word is masked). The first STR_FAST bytes are compared by
 * unrolled code, most paths entirely: no call. The words past them go
 * through an open-coded iterator (FOR_RANGE): as a bounded loop the
 * verifier walked all 512 rounds at each of its inlined uses, ~15k of the
 * instructions it checks (a third of the sensor's load time); the iterator
 * costs a call per 8 bytes compared. Both buffers must be readable for
 * STR_MAX bytes (the record area, a path_args or kname string).
 */
#define STR_FAST 64
static __always_inline int str_differs(const char *a, const char *b, __u32 n)
{
	__u32 words = n / 8;
#pragma unroll
	for (__u32 w = 0; w < STR_FAST / 8; w++) {
		if (w >= words)
			break;
		if (*(const __u64 *)(a + w * 8) != *(const __u64 *)(b + w * 8))
			return 1;
	}
	if (words > STR_FAST / 8) {
		int i, differs = 0;
		FOR_RANGE(itw, i, STR_FAST / 8, STR_MAX / 8)
		{
			if ((__u32)i >= words)
				break;
			__u32 o = ((__u32)i * 8) & (STR_MAX - 8);
			if (*(const __u64 *)(a + o) != *(const __u64 *)(b + o)) {
				differs = 1;
				break;
			}
		}
		ITER_END(itw);
		if (differs)
			return 1;
	}
	__u32 rest = n & 7;
	if (!rest)
		return 0;
	/* the last n % 8 bytes: one word, the bytes past n masked away
	 * (little endian: the first bytes are the low ones); n < STR_MAX
	 * here, so the word ends inside both buffers */
	__u32 o = (words * 8) & (STR_MAX - 8);
	__u64 mask = (1ULL << (rest * 8)) - 1;
	return ((*(const __u64 *)(a + o) ^ *(const __u64 *)(b + o)) & mask) != 0;
}

/* put_arg's slot argument: the call's last path argument (retire the copy after it) */
#define PA_LAST 2

/*
 * put_arg appends path argument slot & 1 (pointer uptr, base dirfd) of
 * syscall nr to the record: the kernel's copy, else the sys_enter copy,
 * else the exit read (FLAG_LATE). Sets FLAG_RACED in h->pflags when they
 * differ. With PA_LAST in slot it retires the thread's copy afterwards.
 * Returns like put_ustr.
 *
 * The exit read: with a copy of en bytes (NUL included) from before, the
 * caller's memory is read as exactly en bytes (one copy, where a string
 * read looks for the NUL as it goes) and compared byte for byte, the NUL
 * included: equal bytes are the same string, any change of content or
 * length differs (TestAdversarialPathRaceFlipper/mode=len moves the NUL).
 * Only when that read fails (a page gone, or a shorter string now ending
 * before an unreadable one) is the string read as such, exactly as without
 * a copy.
 */
__noinline int put_arg(__u32 slot, __u64 uptr, __s64 dirfd, __u64 nr)
{
	/* one lookup per argument: whether the copy is this call's, and the
	 * copy itself (sys_exit looks nothing up for the paths) */
	struct path_args *s = bpf_task_storage_get(&path_args, bpf_get_current_task_btf(), 0, 0);
	struct path_args *e = s && s->nr == nr + 1 ? s : 0;
	int r = -1;
	struct heap *h = get_heap();
	if (!h || !uptr)
		goto out;
	__u32 off = h->off;
	if (off > TAIL_MASK) {
		h->trunc = 1;
		goto out;
	}
	char *dst = (char *)&h->rec[off & TAIL_MASK];
	__u32 i = slot & 1;
	long n, en = 0;
	if (e && e->ptr[i] == uptr)
		en = e->len[i];
	if (e && en > 0) {
		en = CLAMP(en, STR_MAX);
		int same;
		if (bpf_probe_read_user(dst, en, (void *)uptr) == 0) {
			n = en;
			same = !str_differs(dst, e->str[i], en);
		} else {
			n = bpf_probe_read_user_str(dst, STR_MAX, (void *)uptr);
			same = n == en && !str_differs(dst, e->str[i], en);
		}
		/* an exit read that fails is no evidence of a write: the page may
		 * have been reclaimed during the call (the copy is stored anyway) */
		if ((n > 0 && !same) || (e->raced & (1 << i)))
			h->pflags |= FLAG_RACED;
		if (e->base[i] && e->base[i] != base_id(dirfd))
			h->pflags |= FLAG_RACED; /* the base directory changed */
		/* a name too long for getname()'s embedded buffer has no kernel
		 * copy, and entry == exit does not prove the kernel read the same
		 * (a writer can flip the buffer and back around its read) */
		if (!(e->kcopy & (1 << i)) && en > LONG_PATH)
			h->pflags |= FLAG_LATE;
		if (!same) /* the common case needs no copy: dst holds it already */
			bpf_probe_read_kernel(dst, en, e->str[i]);
		n = en;
	} else {
		n = bpf_probe_read_user_str(dst, STR_MAX, (void *)uptr);
		h->pflags |= FLAG_LATE;
	}
	r = commit_str(h, off, n);
out:
	if (s && (slot & PA_LAST))
		s->nr = 0;
	return r;
}

/* the names_cache object scratch of kmem_free (its own: it may interrupt sys_exit) */
struct kname {
	char s[STR_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct kname);
} kname SEC(".maps");

/* take_kernel_copy makes the kernel copy kn (n bytes) the copy of slot i. */
static __always_inline void take_kernel_copy(struct path_args *e, int i, struct kname *kn, long n)
{
	long old = e->len[i];
	if (old > 0 && old == n && !str_differs(e->str[i], kn->s, CLAMP(n, STR_MAX))) {
		e->kcopy |= 1 << i; /* the entry copy is the kernel's: nothing to copy */
		return;
	}
	if (old > 0)
		e->raced |= 1 << i;
	bpf_probe_read_kernel(e->str[i], CLAMP(n, STR_MAX), kn->s);
	e->len[i] = n;
	e->kcopy |= 1 << i;
}

/*
 * kernel_is_entry reports whether the kernel's string at name is slot i's
 * entry copy, and marks it the kernel's then: the entry copy's en bytes
 * (NUL included) are compared with the kernel's in place, through an
 * untyped read-only view (kread64): no copy, no helper call. Equal bytes
 * are the same string. Up to LONG_PATH bytes only: they lie inside the
 * names_cache object (its embedded buffer starts 32 bytes in), where the
 * view's loads cannot fault (a faulting load reads 0, which could pass for
 * the NUL); a longer copy is read with bpf_probe_read_kernel, which says
 * when it fails. Otherwise (no entry copy, another string, or the read
 * failed) the caller reads the string itself.
 */
static __always_inline int kernel_is_entry(struct path_args *e, int i, struct kname *kn, __u64 name)
{
	long en = e->len[i];
	if (en <= 0)
		return 0;
	en = CLAMP(en, STR_MAX);
	if (en <= LONG_PATH) {
		if (str_differs(bpf_rdonly_cast((void *)name, 0), e->str[i], en))
			return 0;
	} else if (bpf_probe_read_kernel(kn->s, en, (void *)name) < 0 || str_differs(kn->s, e->str[i], en)) {
		return 0;
	}
	e->kcopy |= 1 << i;
	return 1;
}

/*
 * kmem_free catches getname()'s copy of a pending path argument as
 * putname() frees it. Every slab free on the machine passes here: once the
 * cache is known by name, one compare sends all others away; until then the
 * object size test comes first, then the name.
 */
/* the names_cache kmem_cache, once kmem_free has seen it by name */
volatile __u64 names_cache = 0;

SEC("tp_btf/kmem_cache_free")
int BPF_PROG(kmem_free, unsigned long call_site, const void *ptr, struct kmem_cache *s)
{
	__u64 nc = names_cache;
	if (nc ? (__u64)s != nc : s->object_size != STR_MAX)
		return 0;
	if (!nc) {
		/* learnt at the first names_cache free on the machine, whoever
		 * frees (within moments of the attach), not at the traced
		 * thread's first path call: until then every 4 KiB free went on
		 * to the task tests below */
		char cname[12] = {};
		/* "names_cache" little endian: "names_ca", "che\0" */
		if (bpf_probe_read_kernel(cname, sizeof(cname), s->name) < 0 ||
		    *(__u64 *)cname != 0x61635f73656d616eULL || *(__u32 *)(cname + 8) != 0x00656863)
			return 0;
		names_cache = (__u64)s;
	}
	struct task_struct *task = bpf_get_current_task_btf();
	if (!task_in_target(task))
		return 0;
	struct path_args *e = bpf_task_storage_get(&path_args, task, 0, 0);
	if (!e || !e->nr)
		return 0;
	/*
	 * Only the embedded form (name points just past the header): for a
	 * long name the freed object is the bare string, which the caller
	 * wrote, and its first bytes must not be taken for pointers.
	 */
	struct filename *fn = KCAST(struct filename, ptr);
	__u64 name = (__u64)fn->name, uptr = (__u64)fn->uptr;
	if (name != (__u64)ptr + bpf_core_field_offset(struct filename, iname) || !uptr)
		return 0;
	if (uptr != e->ptr[0] && uptr != e->ptr[1])
		return 0;
	__u32 zero = 0;
	struct kname *kn = bpf_map_lookup_elem(&kname, &zero);
	if (!kn)
		return 0;
	/* slots whose kernel copy is their entry copy: no string read */
	int need = 0;
	if (uptr == e->ptr[0] && !kernel_is_entry(e, 0, kn, name))
		need |= 1;
	if (uptr == e->ptr[1] && !kernel_is_entry(e, 1, kn, name))
		need |= 2;
	if (!need)
		return 0;
	long n = bpf_probe_read_kernel_str(kn->s, STR_MAX, (void *)name);
	if (n <= 0)
		return 0;
	if (need & 1)
		take_kernel_copy(e, 0, kn, n);
	if (need & 2)
		take_kernel_copy(e, 1, kn, n);
	return 0;
}

#endif
