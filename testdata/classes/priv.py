# Attempts privilege and namespace operations. In the sandbox (no
# capabilities, seccomp) most fail; every attempt must still be recorded.
import ctypes, os

libc = ctypes.CDLL(None, use_errno=True)
def sc(nr, *a):
    return libc.syscall(nr, *a)

try:
    os.setuid(1000)
except OSError:
    pass
libc.unshare(0x10000000 | 0x40000000)                 # CLONE_NEWUSER|CLONE_NEWNET
libc.mount(b"none", b"/mnt", b"tmpfs", 0, None)
libc.ptrace(16, 1, 0, 0)                                # PTRACE_ATTACH pid 1
libc.prctl(38, 1, 0, 0, 0)                              # PR_SET_NO_NEW_PRIVS
libc.personality(0x0040000)                             # ADDR_NO_RANDOMIZE
sc(321, 0, 0, 0)                                        # bpf(BPF_MAP_CREATE, NULL, 0)
sc(425, 8, 0)                                           # io_uring_setup(8, NULL)
libc.chroot(b"/tmp")
print("priv done")
