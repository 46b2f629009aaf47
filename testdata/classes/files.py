# Exercises every file operation class the recorder must see. Run in the
# sandbox's workspace; each step is independent and failures are expected
# for some (they must be recorded too).
import ctypes, os, stat

libc = ctypes.CDLL(None, use_errno=True)
def attempt(f, *a):
    try:
        f(*a)
    except OSError:
        pass

os.mkdir("d")
attempt(os.rmdir, "d")
open("f.txt", "w").close()
os.link("f.txt", "hard.txt")
os.symlink("f.txt", "soft.txt")
open("soft.txt").close()                     # opened through a symlink
os.chmod("f.txt", 0o4755)                    # setuid bit
attempt(os.chown, "f.txt", 1000, 1000)
os.truncate("f.txt", 0)
os.utime("f.txt", (1, 1))
os.mknod("fifo", 0o600 | stat.S_IFIFO)
fd = os.memfd_create("sneaky")
os.close(fd)
open("/proc/self/status").close()
fd = os.open("sub", os.O_RDONLY | os.O_DIRECTORY) if os.path.isdir("sub") else None
os.mkdir("sub2")
dfd = os.open("sub2", os.O_RDONLY | os.O_DIRECTORY)
os.close(os.open("rel.txt", os.O_CREAT | os.O_WRONLY, 0o600, dir_fd=dfd))   # openat relative to a dirfd
os.rename("sub2/rel.txt", "sub2/renamed.txt")
os.unlink("hard.txt")
# openat2(AT_FDCWD, "f.txt", {flags=O_RDONLY}, 24)
class OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]
how = OpenHow(0, 0, 0)
r = libc.syscall(437, -100, b"f.txt", ctypes.byref(how), ctypes.sizeof(how))
if r >= 0:
    os.close(r)
print("files done")
