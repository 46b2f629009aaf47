// forkopen: CHILDREN processes that each open FILES distinct files
// concurrently (created in the workspace), then report what they did, so a
// test can compare the trace with the program's own count.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
	int children = argc > 1 ? atoi(argv[1]) : 200;
	int files = argc > 2 ? atoi(argv[2]) : 1000;
	for (int c = 0; c < children; c++) {
		pid_t p = fork();
		if (p < 0) { perror("fork"); return 1; }
		if (p == 0) {
			char name[64];
			for (int f = 0; f < files; f++) {
				snprintf(name, sizeof name, "fo-%d-%d", c, f % 10);
				int fd = open(name, O_RDONLY); // most fail (ENOENT): still recorded
				if (fd >= 0) close(fd);
			}
			_exit(0);
		}
	}
	int status, failed = 0;
	while (wait(&status) > 0)
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed++;
	printf("children=%d opens_per_child=%d failed=%d\n", children, files, failed);
	return failed != 0;
}
