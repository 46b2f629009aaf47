package linux

// Open flags (open(2), openat(2)).
const (
	O_RDONLY  = 0x0
	O_WRONLY  = 0x1
	O_RDWR    = 0x2
	O_ACCMODE = 0x3
	O_CREAT   = 0x40
	O_EXCL    = 0x80
	O_TRUNC   = 0x200
	// O_TMPFILE is __O_TMPFILE|O_DIRECTORY; O_DIRECTORY is 0x4000 on arm64,
	// which makes it 0x404000 there.
	O_TMPFILE = 0x410000
)

// *at(2) arguments.
const (
	AT_FDCWD     = -100
	AT_REMOVEDIR = 0x200
)

// Address families.
const (
	AF_UNIX  = 1
	AF_INET  = 2
	AF_INET6 = 10
)

// Socket types (without the SOCK_NONBLOCK/SOCK_CLOEXEC flags).
const (
	SOCK_STREAM = 1
	SOCK_DGRAM  = 2
)
