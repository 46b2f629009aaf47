/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What both eBPF objects (sensor.bpf.c, sockaddr.bpf.c) need alike: fixed
 * Linux values, the syscall argument registers, and the two idioms that
 * keep the verifier and the JIT happy (CLAMP, KCAST). One definition each.
 */
#ifndef BEHAVEDIFF_COMMON_H
#define BEHAVEDIFF_COMMON_H

#define AF_UNIX 1
#define AF_INET 2
#define AF_INET6 10
#define S_IFMT 0170000
#define S_IFSOCK 0140000

#if defined(__TARGET_ARCH_x86)
#define SC_NR(r) ((r)->orig_ax)
#define SC_A0(r) ((r)->di)
#define SC_A1(r) ((r)->si)
#define SC_A2(r) ((r)->dx)
#define SC_A3(r) ((r)->r10)
#define SC_A4(r) ((r)->r8)
#define SC_A5(r) ((r)->r9)
#elif defined(__TARGET_ARCH_arm64)
#define SC_NR(r) ((__u64)(__s64)(r)->syscallno)
#define SC_A0(r) ((r)->orig_x0) /* x0 holds the return value at exit */
#define SC_A1(r) ((r)->regs[1])
#define SC_A2(r) ((r)->regs[2])
#define SC_A3(r) ((r)->regs[3])
#define SC_A4(r) ((r)->regs[4])
#define SC_A5(r) ((r)->regs[5])
#endif

/*
 * CLAMP bounds v to [0, max] in the very register that is used afterwards;
 * clang otherwise likes to check one copy and pass another to a helper.
 */
#define CLAMP(v, max)                                                            \
	({                                                                       \
		__u64 __c = (v);                                                 \
		asm volatile("if %[c] <= %[m] goto +1; %[c] = %[m];"             \
			     : [c] "+r"(__c)                                     \
			     : [m] "i"(max));                                    \
		__c;                                                             \
	})

/*
 * KCAST turns a kernel address into a read-only BTF pointer, so fields are
 * read with plain loads (the JIT adds fault handling) instead of one
 * bpf_probe_read_kernel call each. The verifier inlines the kfunc to a move.
 */
extern void *bpf_rdonly_cast(const void *obj__ign, __u32 btf_id) __ksym;
#define KCAST(type, p) ((type *)bpf_rdonly_cast((const void *)(p), bpf_core_type_id_kernel(type)))

/*
 * CUR_TASK is the current task read through KCAST. A load through a trusted
 * pointer (bpf_get_current_task_btf(), a tp_btf argument) is the same
 * instruction at run time, but the verifier then asks whether the loaded
 * pointer is trusted too: four lookups of a name like
 * "task_struct__safe_rcu" per load and per verified path, each a linear
 * scan of the kernel's whole BTF - a quarter of the sensor's load time.
 * Through the read-only view nothing is looked up. Helpers that take a task
 * (task storage, bpf_task_pt_regs) still need bpf_get_current_task_btf().
 */
#define CUR_TASK() KCAST(struct task_struct, bpf_get_current_task())

/*
 * Open-coded numeric iterator (what libbpf's bpf_for is): the verifier
 * checks the body once with an unknown index instead of once per value, so
 * byte loops over a path stay cheap to verify.
 */
struct bpf_iter_num {
	__u64 __opaque[1];
} __attribute__((aligned(8)));
extern int bpf_iter_num_new(struct bpf_iter_num *it, int start, int end) __weak __ksym;
extern int *bpf_iter_num_next(struct bpf_iter_num *it) __weak __ksym;
extern void bpf_iter_num_destroy(struct bpf_iter_num *it) __weak __ksym;
/* FOR_RANGE(it, i, start, end) { ... } ITER_END(it); (break is fine) */
#define FOR_RANGE(it, i, start, end)                                                   \
	struct bpf_iter_num it;                                                        \
	bpf_iter_num_new(&it, (start), (end));                                         \
	for (int *it##_v; (it##_v = bpf_iter_num_next(&it)) && ((i = *it##_v), 1);)
#define ITER_END(it) bpf_iter_num_destroy(&it)

#endif
