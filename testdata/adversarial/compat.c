/*
 * compat: makes one i386 syscall through `int $0x80` from a 64-bit static,
 * non-PIE binary (so its strings sit below 4 GiB, where the 32-bit ABI can
 * point at them). An attacker uses it to act through a syscall table the
 * sensor might not decode.
 *
 *   compat open PATH      i386 open(PATH, O_RDONLY)          (nr 5)
 *   compat chmod PATH     i386 chmod(PATH, 04755)            (nr 15)
 *   compat connect        i386 socketcall(SYS_CONNECT, ...)  (nr 102)
 *   compat setuid32       i386 setuid32(0)                   (nr 213)
 *   compat thread PATH    i386 open(PATH) from a second thread while the
 *                         first lives on (a refused call kills only the
 *                         thread: the process survives and prints "alive")
 *
 * Prints "ret=N" when the call returned; a sandbox that refuses the ABI
 * kills the process with SIGSYS instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

static long int80(long nr, long a, long b, long c)
{
	long ret;
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(nr), "b"(a), "c"(b), "d"(c)
			 : "memory", "r8", "r9", "r10", "r11");
	return ret;
}

static char path[256];
static unsigned int sockargs[3];
static unsigned int sockmk[3] = {2, 1, 0}; /* AF_INET, SOCK_STREAM */
static unsigned char sa[16] = {2, 0, 0, 9, 127, 0, 0, 1}; /* 127.0.0.1:9 (never leaves the machine) */

static void *opener(void *arg)
{
	(void)arg;
	long r = int80(5, (long)path, 0, 0);
	printf("thread ret=%ld\n", r);
	return 0;
}

int main(int argc, char **argv)
{
	long r;
	if (argc < 2) {
		fprintf(stderr, "usage: compat open|chmod PATH | connect | setuid32\n");
		return 2;
	}
	if (argc > 2)
		strncpy(path, argv[2], sizeof(path) - 1);
	if (!strcmp(argv[1], "open")) {
		r = int80(5, (long)path, 0, 0);
	} else if (!strcmp(argv[1], "chmod")) {
		r = int80(15, (long)path, 04755, 0);
	} else if (!strcmp(argv[1], "connect")) {
		long fd = int80(102, 1 /* SYS_SOCKET */, (long)sockmk, 0);
		sockargs[0] = (unsigned int)fd;
		sockargs[1] = (unsigned int)(long)sa;
		sockargs[2] = sizeof(sa);
		r = int80(102, 3 /* SYS_CONNECT */, (long)sockargs, 0);
	} else if (!strcmp(argv[1], "thread")) {
		pthread_t th;
		if (pthread_create(&th, 0, opener, 0) != 0)
			return 3;
		sleep(1);
		printf("alive\n");
		fflush(stdout);
		_exit(0); /* the killed thread can never be joined */
	} else if (!strcmp(argv[1], "setuid32")) {
		r = int80(213, 0, 0, 0);
	} else {
		fprintf(stderr, "compat: unknown mode %s\n", argv[1]);
		return 2;
	}
	printf("ret=%ld\n", r);
	return 0;
}
