/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Record layouts shared with Go. bpf2go generates the Go side from these
 * definitions (-type ...), so never copy them by hand.
 *
 * Every ring-buffer record starts with struct hdr. Fixed-size records (fork,
 * exit) are just their struct. Variable-size records are the struct followed
 * by a tail of fields without NUL terminators or padding: exec_event's
 * fields follow each other in enum exec_field order, lens[i] bytes each;
 * sys_event's field i is at byte offs[i] of the record, lens[i] bytes long
 * (lens[i] == 0: absent), in whatever order the kernel produced them.
 */
#ifndef BEHAVEDIFF_EVENTS_H
#define BEHAVEDIFF_EVENTS_H

enum kind {
	KIND_EXEC = 1,
	KIND_FORK = 2,
	KIND_EXIT = 3,
	KIND_SYSCALL = 4,
};

/* hdr.flags bits */
enum hdr_flags {
	FLAG_ARGV_TRUNC = 1, /* exec argv longer than the cap */
	FLAG_TRUNC = 2,      /* some string/path field was cut short or dropped */
	/*
	 * sys_event: a syscall through a non-native ABI (x86: int $0x80 or
	 * sysenter from 32-bit code, or the x32 bit; arm64: aarch32). nr is
	 * that ABI's number, args its argument registers in order.
	 */
	FLAG_COMPAT = 4,
	FLAG_COMPAT_KILLED = 8, /* ... refused: the thread died of SIGSYS in it */
	FLAG_ENV_TRUNC = 16,    /* exec environment longer than the cap */
	/* exec of a script (#!) or binfmt_misc file: EXEC_EXE is the
	 * interpreter's path, the script's own file is gone by then */
	FLAG_EXEC_INTERP = 32,
	/*
	 * sys_event path arguments (see pathargs.h): RACED, the caller's
	 * string changed while the kernel was using it (the record holds the
	 * kernel's own copy, else the sys_enter copy); LATE, neither could be
	 * had and the string was read at sys_exit, after the kernel used it.
	 */
	FLAG_RACED = 64,
	FLAG_LATE = 128,
};

/* Loss counter classes (index of the per-CPU "lost" array). */
enum loss_class {
	LOSS_EXEC = 0,
	LOSS_FORK = 1,
	LOSS_EXIT = 2,
	LOSS_FILE = 3,
	LOSS_NET = 4,
	LOSS_PRIV = 5,
	LOSS_COUNT = 6,
	LOSS_MAX = 7,
};

struct hdr {
	__u64 ts;
	__u32 pid; /* tgid */
	__u32 tid;
	__u8 kind;
	__u8 flags;
	__u16 _pad0;
	__u32 _pad1;
};

struct fork_event {
	struct hdr h;
	__u32 child; /* tgid of the new process */
	__u32 _pad;
};

struct exit_event {
	struct hdr h;
	__s32 code;
	__s32 sig;
};

enum exec_field {
	EXEC_FILENAME = 0,
	EXEC_ARGV = 1, /* NUL separated, as in the process's memory */
	EXEC_CWD = 2,
	EXEC_EXE = 3, /* kernel path of the file exec'd (bprm->file) */
	EXEC_ENV = 4, /* NUL separated NAME=VALUE, as in the process's memory */
	EXEC_NFIELDS = 5,
};

struct exec_event {
	struct hdr h;
	__u32 ppid;
	__u32 uid;
	__u16 lens[EXEC_NFIELDS];
	__u16 _pad[3];
};

enum sys_field {
	SF_STR0 = 0,
	SF_STR1 = 1,
	SF_BASE0 = 2,
	SF_BASE1 = 3,
	SF_RESOLVED = 4,
	SF_ADDR = 5,
	SF_PAYLOAD = 6,
	SF_NFIELDS = 7,
};

struct sys_event {
	struct hdr h;
	__s64 ret;
	__u64 args[6];
	__s32 nr;
	__u16 sock_family;
	__u16 sock_type;
	__u16 lens[SF_NFIELDS];
	__u16 _pad;
	__u16 offs[SF_NFIELDS];
	__u16 _pad2;
};

/* Per (tgid, syscall nr) counters. */
struct count_key {
	__u32 pid;
	__u32 nr;
};

struct count_val {
	__u64 count;
	__u64 errors;
};

/*
 * Per-CPU counter cache, one slot per syscall nr: the tgid that last made
 * that call on this CPU and its not yet flushed counts. A slot is flushed
 * into the counts hash map when another tgid takes it over; whatever is still
 * cached when the sensor stops is added by the Go side.
 */
struct count_slot {
	__u32 pid;
	__u32 _pad;
	__u64 count;
	__u64 errors;
};

/*
 * Internal syscall ids. The Go loader fills the rodata table nr -> id from
 * its per-GOARCH syscall table, so the BPF object holds no syscall numbers.
 * Ranges decide the loss class: [SC_FILE_FIRST, SC_NET_FIRST) file,
 * [SC_NET_FIRST, SC_PRIV_FIRST) net, [SC_PRIV_FIRST, SC_MAX) priv.
 */
enum sc_id {
	SC_NONE = 0,
	/* files */
	SC_open, SC_openat, SC_openat2, SC_creat, SC_unlink, SC_unlinkat,
	SC_rename, SC_renameat, SC_renameat2, SC_mkdir, SC_mkdirat, SC_rmdir,
	SC_link, SC_linkat, SC_symlink, SC_symlinkat, SC_chmod, SC_fchmod,
	SC_fchmodat, SC_fchmodat2, SC_chown, SC_lchown, SC_fchown, SC_fchownat,
	SC_truncate, SC_ftruncate, SC_utime, SC_utimes, SC_utimensat,
	SC_futimesat, SC_mknod, SC_mknodat, SC_execve, SC_execveat,
	SC_memfd_create, SC_chdir, SC_fchdir,
	/* net */
	SC_socket, SC_connect, SC_bind, SC_listen, SC_accept, SC_accept4,
	SC_sendto, SC_sendmsg, SC_sendmmsg,
	/* priv */
	SC_setuid, SC_setgid, SC_setreuid, SC_setregid, SC_setresuid,
	SC_setresgid, SC_setgroups, SC_setfsuid, SC_setfsgid, SC_capset,
	SC_prctl, SC_unshare, SC_setns, SC_clone, SC_clone3, SC_mount,
	SC_umount2, SC_pivot_root, SC_chroot, SC_ptrace, SC_process_vm_readv,
	SC_process_vm_writev, SC_bpf, SC_perf_event_open, SC_init_module,
	SC_finit_module, SC_delete_module, SC_kexec_load, SC_kexec_file_load,
	SC_keyctl, SC_add_key, SC_request_key, SC_io_uring_setup,
	SC_personality, SC_fsopen, SC_fsmount, SC_move_mount, SC_open_tree,
	/* not recorded, but the child half of a fork must be recognised */
	SC_fork, SC_vfork,
	/*
	 * DNS only: recorded when the socket's peer (or the datagram's source)
	 * is port 53, and only once the run has connected or sent to port 53.
	 * write sends a query (Go's resolver); the others receive the answer.
	 */
	SC_write, SC_read, SC_recvfrom, SC_recvmsg,
	SC_MAX,
	SC_FILE_FIRST = SC_open,
	SC_NET_FIRST = SC_socket,
	SC_PRIV_FIRST = SC_setuid,
	SC_RECORD_END = SC_fork,
	SC_DNS_FIRST = SC_write,
};

#include "nr_table.h" /* NR_TABLE, generated with the syscall tables */

#endif
