// syscall_heavy: the benchmark workload. ROUNDS rounds of open/read/close/stat
// on a file, with a fork+exec of /bin/true every 1000 rounds. Prints the
// loop's own wall time in nanoseconds and the number of opens it made, so a
// benchmark can compare traced and untraced runs of the same sandbox.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
	long rounds = argc > 1 ? atol(argv[1]) : 1000000;
	const char *path = argc > 2 ? argv[2] : "/etc/hostname";
	char buf[256];
	struct stat st;
	struct timespec a, b;
	long opens = 0, execs = 0;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < rounds; i++) {
		int fd = open(path, O_RDONLY);
		if (fd >= 0) {
			opens++;
			if (read(fd, buf, sizeof buf) < 0) return 2;
			close(fd);
		}
		stat(path, &st);
		if (i % 1000 == 999) {
			pid_t p = fork();
			if (p == 0) {
				execl("/bin/true", "true", (char *)0);
				_exit(127);
			}
			waitpid(p, 0, 0);
			execs++;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	long long ns = (b.tv_sec - a.tv_sec) * 1000000000LL + (b.tv_nsec - a.tv_nsec);
	printf("loop_ns=%lld opens=%ld execs=%ld\n", ns, opens, execs);
	return 0;
}
