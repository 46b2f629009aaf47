/*
 * Adversarial probe for path arguments read at syscall entry
 * (bpf/pathargs.h; asserted in cmd/behavediff/adversarial_test.go). Built
 * static by the test, run inside the sandbox. Everything lives in DIR.
 *
 *   pathrace fifo N DIR [map|long|maplong]
 *       N times: the main thread open()s DIR/fifo for reading and blocks
 *       (no writer); a racer thread waits until it is inside openat, rewrites
 *       the path buffer to /root/.ssh/id_rsa and interrupts it with a signal
 *       (EINTR, a failed open). The buffer is a resident static array, or
 *       (map) a fresh MAP_PRIVATE mapping of a file holding the path, never
 *       touched before the call, so it is not resident at entry; long: the
 *       path padded with slashes past getname()'s embedded buffer (4064
 *       bytes), so the kernel's copy is not caught.
 *       cd: the path is relative ("fifo", the cwd is DIR) and the racer
 *       moves the cwd to / instead of rewriting the buffer.
 *       Prints "E <errno>" per call.
 *   pathrace flip N DIR [long]
 *       A flipper thread toggles one byte of the path buffer between 'a' and
 *       'b' without pause while the main thread makes N calls through it,
 *       in turn mkdir, unlink and rename of DIR/a<i> or DIR/b<i>. After each
 *       call it looks (with stable strings) at which name the kernel used
 *       and prints "<op> <i> <letter>" (op M, U, R). long: the path is
 *       padded with slashes past getname()'s embedded buffer. len: the
 *       flipped byte is the one after the name, toggled between its NUL
 *       and 'x': the names are DIR/a<i> (letter a) and DIR/a<i>x (letter
 *       b), one a prefix of the other, so only the string's length changes
 *       (against reads of exactly the entry copy's length, NUL included).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static const char decoy[] = "/root/.ssh/id_rsa";
static int move_cwd; /* cd mode: the racer chdirs instead */
static char path_buf[8192];
static char *volatile target; /* the buffer the main thread passes */
static volatile int round_no, done_no;
static pid_t main_tid;
static pthread_t main_th;

static void on_signal(int sig) { (void)sig; }

/* in_open waits until the main thread is inside openat(2) (its /proc
 * syscall file names the call), so the rewrite happens after the kernel
 * copied the path and while it waits for a writer. */
static int in_open(int r)
{
	char path[64], buf[64];
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)main_tid);
	while (done_no < r) {
		FILE *f = fopen(path, "r");
		if (f) {
			int nr = -1;
			if (fgets(buf, sizeof(buf), f))
				nr = atoi(buf);
			fclose(f);
			if (nr == SYS_openat || nr == SYS_open) {
				usleep(1000); /* well inside the wait */
				return 1;
			}
		}
		usleep(200);
	}
	return 0;
}

static void *racer(void *arg)
{
	int n = (int)(long)arg;
	for (int r = 1; r <= n; r++) {
		while (round_no < r)
			sched_yield();
		if (in_open(r)) {
			if (move_cwd)
				chdir("/"); /* the cwd is the process's: the opener's base moves */
			else
				memcpy(target, decoy, sizeof(decoy));
			pthread_kill(main_th, SIGUSR1);
		}
		while (done_no < r)
			sched_yield();
	}
	return 0;
}

static int fifo(int n, const char *dir, const char *mode)
{
	int map = mode && strstr(mode, "map"), lng = mode && strstr(mode, "long");
	char fifo_path[256], file[256];
	snprintf(fifo_path, sizeof(fifo_path), "%s/fifo", dir);
	snprintf(file, sizeof(file), "%s/pathfile", dir);
	mkfifo(fifo_path, 0644);
	/* the path passed: DIR/fifo, or DIR + ~4070 slashes + /fifo */
	static char want[8192];
	move_cwd = mode && !strcmp(mode, "cd");
	if (move_cwd) {
		strcpy(want, "fifo");
	} else if (lng) {
		size_t d = strlen(dir);
		memcpy(want, dir, d);
		memset(want + d, '/', 4070);
		strcpy(want + d + 4070, "fifo");
	} else {
		strcpy(want, fifo_path);
	}
	size_t len = strlen(want) + 1;
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, want, len) != (ssize_t)len) {
		perror(file);
		return 2;
	}
	close(fd);

	struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: EINTR */
	sigaction(SIGUSR1, &sa, 0);
	main_tid = syscall(SYS_gettid);
	main_th = pthread_self();
	pthread_t th;
	pthread_create(&th, 0, racer, (void *)(long)n);
	for (int r = 1; r <= n; r++) {
		char *p = path_buf;
		if (map) {
			int mf = open(file, O_RDONLY);
			p = mmap(0, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE, mf, 0);
			close(mf);
			if (p == MAP_FAILED) {
				perror("mmap");
				return 2;
			}
		} else {
			memcpy(p, want, len);
		}
		if (move_cwd)
			chdir(dir);
		target = p;
		round_no = r;
		int o = open(p, O_RDONLY); /* map: p is not touched before this call */
		int e = o < 0 ? errno : 0;
		if (o >= 0)
			close(o);
		done_no = r;
		printf("E %d\n", e);
		if (map)
			munmap(p, 8192);
	}
	pthread_join(th, 0);
	return 0;
}

static char flip_buf[8192];
static size_t flip_at;
static char flip_xor = 'a' ^ 'b';
static int len_mode; /* flip toggles the NUL after DIR/a<i> (see len) */
static volatile int stop;
static volatile unsigned long flips;

static void *flipper(void *arg)
{
	(void)arg;
	volatile char *c = &flip_buf[flip_at];
	while (!stop) {
		*c ^= flip_xor;
		flips++;
	}
	return 0;
}

/* name_of: DIR/<letter><i>, or in len mode DIR/a<i> (a) and DIR/a<i>x (b) */
static void name_of(char *p, size_t n, const char *dir, char letter, int i)
{
	if (len_mode)
		snprintf(p, n, "%s/a%05d%s", dir, i, letter == 'b' ? "x" : "");
	else
		snprintf(p, n, "%s/%c%05d", dir, letter, i);
}

static int exists(const char *dir, char letter, int i)
{
	char p[256];
	struct stat st;
	name_of(p, sizeof(p), dir, letter, i);
	return lstat(p, &st) == 0;
}

static void create(const char *dir, char letter, int i)
{
	char p[256];
	name_of(p, sizeof(p), dir, letter, i);
	int fd = open(p, O_WRONLY | O_CREAT, 0644);
	if (fd >= 0)
		close(fd);
}

/* used names the letter of the name that exists (M) or is gone (U, R) */
static char used(const char *dir, int i, int gone)
{
	int a = exists(dir, 'a', i), b = exists(dir, 'b', i);
	if (gone)
		a = !a, b = !b;
	return a && !b ? 'a' : b && !a ? 'b' : '?';
}

static int flip(int n, const char *dir, int lng)
{
	int d = snprintf(flip_buf, sizeof(flip_buf), "%s/a%05d", dir, 0);
	if (lng) {
		size_t l = strlen(dir);
		memcpy(flip_buf, dir, l);
		memset(flip_buf + l, '/', 4070);
		d = l + 4070 + sprintf(flip_buf + l + 4070, "a%05d", 0);
	}
	flip_at = d - 6;
	if (len_mode) {
		flip_at = d; /* the NUL: DIR/a<i> <-> DIR/a<i>x */
		flip_xor = 'x';
	}
	pthread_t th;
	pthread_create(&th, 0, flipper, 0);
	for (int i = 0; i < n; i++) {
		char digits[16], to[256];
		snprintf(digits, sizeof(digits), "%05d", i);
		/* the flipper owns only flip_at */
		memcpy(&flip_buf[len_mode ? flip_at - 5 : flip_at + 1], digits, 5);
		/* call while the flipper is running on another CPU: it has just
		 * made progress while this thread spun (on a loaded machine it may
		 * wait for a CPU; pinning the threads made that worse) */
		unsigned long f0 = flips;
		while (flips < f0 + 64)
			;
		switch (i % 3) {
		case 0:
			mkdir(flip_buf, 0755);
			printf("M %d %c\n", i, used(dir, i, 0));
			break;
		case 1:
			create(dir, 'a', i);
			create(dir, 'b', i);
			unlink(flip_buf);
			printf("U %d %c\n", i, used(dir, i, 1));
			break;
		case 2:
			create(dir, 'a', i);
			create(dir, 'b', i);
			snprintf(to, sizeof(to), "%s/r%05d", dir, i);
			rename(flip_buf, to);
			printf("R %d %c\n", i, used(dir, i, 1));
			break;
		}
	}
	stop = 1;
	pthread_join(th, 0);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, 0, _IOLBF, 0);
	if (argc >= 4 && !strcmp(argv[1], "fifo")) {
		mkdir(argv[3], 0755);
		return fifo(atoi(argv[2]), argv[3], argc > 4 ? argv[4] : 0);
	}
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "flip")) {
		mkdir(argv[3], 0755);
		len_mode = argc == 5 && !strcmp(argv[4], "len");
		return flip(atoi(argv[2]), argv[3], argc == 5 && !strcmp(argv[4], "long"));
	}
	fprintf(stderr, "usage: pathrace fifo N DIR [map|long|maplong|cd] | flip N DIR [long|len]\n");
	return 2;
}
