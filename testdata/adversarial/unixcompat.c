/*
 * unixcompat: connects a unix stream socket to PATH through the i386
 * socketcall(SYS_CONNECT) (`int $0x80`) of a 64-bit static, non-PIE binary
 * (its data sits below 4 GiB, where the 32-bit ABI can point), so the
 * connect's sys_exit is a compat one. An attacker uses it to reach a host
 * socket through a symlink the path check lets pass, hoping the peer check
 * after the connect only looks at native connects.
 *
 *   unixcompat PATH
 *
 * Prints "ret=N" when the call returned; the sensor's peer check kills the
 * process instead when the peer was bound outside its mount namespace.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static struct sockaddr_un sun;
static unsigned int args[3];

int main(int argc, char **argv)
{
	if (argc != 2 || strlen(argv[1]) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "usage: unixcompat PATH\n");
		return 2;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0) {
		perror("socket");
		return 1;
	}
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, argv[1]);
	args[0] = fd;
	args[1] = (unsigned int)(unsigned long)&sun;
	args[2] = sizeof(sun);
	long ret;
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(102L /* socketcall */), "b"(3L /* SYS_CONNECT */), "c"((long)args)
			 : "memory", "r8", "r9", "r10", "r11");
	printf("ret=%ld\n", ret);
	fflush(stdout);
	return 0;
}
