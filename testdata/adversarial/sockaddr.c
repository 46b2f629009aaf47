/*
 * Adversarial probe for the sockaddr hooks (recorder/sockaddr_e2e_test.go).
 * Built static by the test, run inside the sandbox.
 *
 *   sockaddr race-unix N REAL DECOY   N blocking unix connects to REAL while a
 *                                     thread rewrites sun_path to DECOY
 *   sockaddr race-inet N PORT DECOYPORT  the same with sockaddr_in on loopback
 *   sockaddr mmsg                     sendmmsg of two DNS queries (A, AAAA)
 *   sockaddr connect PATH [MSG]       unix stream connect, then write MSG
 *   sockaddr sendto PATH              unix datagram sendto
 *   sockaddr echo DIR                 listener in DIR, connect, round trip
 *   sockaddr dup2-race PATH           unix connects to PATH while a thread
 *                                     dup2()s a harmless socket over the fd
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

static volatile int go, conn_done;
static pid_t main_tid;
static void *rewrite_target;
static const void *decoy;
static size_t decoy_len;
static int rewritten_pipe = -1; /* told once the buffer names the decoy */

/* in_connect waits until the main thread is blocked inside connect(2) (its
 * /proc syscall file names the call), so the rewrite happens while the
 * kernel holds its own copy; 0 if the connect ended first. */
static int in_connect(void)
{
	char path[64], buf[64];
	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)main_tid);
	while (!conn_done) {
		FILE *f = fopen(path, "r");
		if (f) {
			int nr = -1;
			if (fgets(buf, sizeof(buf), f))
				nr = atoi(buf);
			fclose(f);
			if (nr == SYS_connect) {
				usleep(2000); /* well inside the wait */
				return 1;
			}
		}
		usleep(500);
	}
	return 0;
}

static void *racer(void *arg)
{
	(void)arg;
	while (!go)
		;
	if (in_connect())
		memcpy(rewrite_target, decoy, decoy_len);
	if (rewritten_pipe >= 0)
		write(rewritten_pipe, "x", 1);
	return 0;
}

static int unix_listener(const char *path, int backlog)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	strncpy(a.sun_path, path, sizeof(a.sun_path) - 1);
	unlink(path);
	if (bind(fd, (void *)&a, sizeof(a)) || listen(fd, backlog)) {
		perror(path);
		exit(2);
	}
	return fd;
}

/* race_unix: connect blocks on REAL's full backlog (unix_wait_for_peer);
 * the racer rewrites the caller's sockaddr_un, then the main thread's
 * helper accepts one pending connection so the connect completes. */
static int race_unix(int n, const char *real, const char *decoyp)
{
	int l = unix_listener(real, 0);
	int ld = unix_listener(decoyp, 16); /* the decoy exists too */
	struct sockaddr_un fill = {.sun_family = AF_UNIX};
	strncpy(fill.sun_path, real, sizeof(fill.sun_path) - 1);
	static struct sockaddr_un dec = {.sun_family = AF_UNIX};
	strncpy(dec.sun_path, decoyp, sizeof(dec.sun_path) - 1);
	int ok = 0;
	main_tid = syscall(SYS_gettid);
	for (int i = 0; i < n; i++) {
		int pp[2];
		pipe(pp);
		rewritten_pipe = pp[1];
		conn_done = 0;
		/* fill the backlog: with backlog 0 one pending connection is the max */
		int f = socket(AF_UNIX, SOCK_STREAM, 0);
		connect(f, (void *)&fill, sizeof(fill));
		struct sockaddr_un *a = malloc(sizeof(*a));
		memset(a, 0, sizeof(*a));
		a->sun_family = AF_UNIX;
		strncpy(a->sun_path, real, sizeof(a->sun_path) - 1);
		rewrite_target = a;
		decoy = &dec;
		decoy_len = sizeof(dec);
		go = 0;
		pthread_t th;
		pthread_create(&th, 0, racer, 0);
		int c = socket(AF_UNIX, SOCK_STREAM, 0);
		struct timeval tv = {.tv_sec = 2};
		setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		/* make room after the rewrite: accept the filler in a child */
		if (fork() == 0) {
			char x;
			read(pp[0], &x, 1);
			int y = accept(l, 0, 0);
			close(y);
			_exit(0);
		}
		go = 1;
		int r = connect(c, (void *)a, sizeof(*a));
		conn_done = 1;
		pthread_join(th, 0);
		close(pp[0]);
		close(pp[1]);
		rewritten_pipe = -1;
		if (r == 0 && strcmp(a->sun_path, decoyp) == 0)
			ok++; /* connected, and the buffer now names the decoy */
		int x = accept(l, 0, 0); /* the raced connection itself */
		close(x);
		close(c);
		close(f);
		free(a);
	}
	close(ld);
	printf("race-unix rewritten-after-connect=%d of %d\n", ok, n);
	return 0;
}

/* race_inet: a blocking TCP connect to a loopback listener whose accept
 * queue is full (the SYN is dropped, the connect waits); the racer rewrites
 * the port; SO_SNDTIMEO ends the wait. */
static int race_inet(int n, int port, int decoyport)
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	int one = 1;
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in la = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (bind(l, (void *)&la, sizeof(la)) || listen(l, 0)) {
		perror("listen");
		return 2;
	}
	int f = socket(AF_INET, SOCK_STREAM, 0);
	connect(f, (void *)&la, sizeof(la)); /* fills the queue */
	static struct sockaddr_in dec;
	dec = la;
	dec.sin_port = htons(decoyport);
	int rewritten = 0;
	main_tid = syscall(SYS_gettid);
	for (int i = 0; i < n; i++) {
		conn_done = 0;
		struct sockaddr_in *a = malloc(sizeof(*a));
		*a = la;
		rewrite_target = a;
		decoy = &dec;
		decoy_len = sizeof(dec);
		go = 0;
		pthread_t th;
		pthread_create(&th, 0, racer, 0);
		int c = socket(AF_INET, SOCK_STREAM, 0);
		struct timeval tv = {.tv_usec = 300000};
		setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		go = 1;
		connect(c, (void *)a, sizeof(*a));
		conn_done = 1;
		pthread_join(th, 0);
		if (a->sin_port == htons(decoyport))
			rewritten++;
		close(c);
		free(a);
	}
	printf("race-inet rewritten=%d of %d\n", rewritten, n);
	return 0;
}

static int dnsq(unsigned char *b, const char *name, int qtype)
{
	unsigned char h[12] = {0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0};
	memcpy(b, h, 12);
	int n = 12;
	const char *p = name;
	while (*p) {
		const char *dot = strchr(p, '.');
		int len = dot ? dot - p : (int)strlen(p);
		b[n++] = len;
		memcpy(b + n, p, len);
		n += len;
		p += len + (dot ? 1 : 0);
	}
	b[n++] = 0;
	b[n++] = 0;
	b[n++] = qtype;
	b[n++] = 0;
	b[n++] = 1;
	return n;
}

/* mmsg: glibc's pattern (A and AAAA in one sendmmsg), unconnected, with
 * different names so both must be stored. */
static int mmsg(void)
{
	unsigned char q1[512], q2[512];
	int n1 = dnsq(q1, "first.mmsg.example", 1), n2 = dnsq(q2, "second.mmsg.example", 28);
	struct sockaddr_in ns = {.sin_family = AF_INET, .sin_port = htons(53), .sin_addr.s_addr = htonl(0x7f000035)};
	struct iovec iov[2] = {{q1, n1}, {q2, n2}};
	struct mmsghdr m[2];
	memset(m, 0, sizeof(m));
	for (int i = 0; i < 2; i++) {
		m[i].msg_hdr.msg_name = &ns;
		m[i].msg_hdr.msg_namelen = sizeof(ns);
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	int r = sendmmsg(fd, m, 2, 0);
	printf("sendmmsg=%d\n", r);
	/* and connected, without names (what glibc really does) */
	int c = socket(AF_INET, SOCK_DGRAM, 0);
	connect(c, (void *)&ns, sizeof(ns));
	n1 = dnsq(q1, "third.mmsg.example", 1);
	n2 = dnsq(q2, "fourth.mmsg.example", 28);
	for (int i = 0; i < 2; i++) {
		m[i].msg_hdr.msg_name = 0;
		m[i].msg_hdr.msg_namelen = 0;
	}
	r = sendmmsg(c, m, 2, 0);
	printf("sendmmsg connected=%d\n", r);
	return 0;
}

static int do_connect(const char *path, const char *msg)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	strncpy(a.sun_path, path, sizeof(a.sun_path) - 1);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (connect(fd, (void *)&a, sizeof(a))) {
		printf("connect %s: %s\n", path, strerror(errno));
		return 3;
	}
	if (msg)
		write(fd, msg, strlen(msg));
	printf("connect %s: ok\n", path);
	return 0;
}

static int do_sendto(const char *path)
{
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	strncpy(a.sun_path, path, sizeof(a.sun_path) - 1);
	int fd = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (sendto(fd, "LEAK", 4, 0, (void *)&a, sizeof(a)) < 0) {
		printf("sendto %s: %s\n", path, strerror(errno));
		return 3;
	}
	printf("sendto %s: ok\n", path);
	return 0;
}

static int echo(const char *dir)
{
	char path[108];
	snprintf(path, sizeof(path), "%s/echo.sock", dir);
	int l = unix_listener(path, 4);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	strncpy(a.sun_path, path, sizeof(a.sun_path) - 1);
	int c = socket(AF_UNIX, SOCK_STREAM, 0);
	if (connect(c, (void *)&a, sizeof(a))) {
		printf("echo connect: %s\n", strerror(errno));
		return 3;
	}
	int s = accept(l, 0, 0);
	char buf[8] = {0};
	write(c, "ping", 4);
	read(s, buf, 4);
	printf("echo %s\n", buf);
	return strcmp(buf, "ping") != 0;
}

static volatile int dup_fd = -1, dup_benign = -1, dup_go;

static void *dup_racer(void *arg)
{
	long spin = (long)arg;
	while (!dup_go)
		;
	for (volatile long i = 0; i < spin; i++)
		;
	dup2(dup_benign, dup_fd);
	return 0;
}

/* dup2_race: a connect to PATH (a symlink to a host socket) while another
 * thread replaces the fd with one end of a socketpair, so that a check at
 * sys_exit that goes by fd number sees a harmless socket. A copy of the
 * original socket is kept to use the connection if the check misses it. */
static int dup2_race(const char *path)
{
	int b[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, b);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	strncpy(a.sun_path, path, sizeof(a.sun_path) - 1);
	for (int i = 0; i < 400; i++) {
		int s = socket(AF_UNIX, SOCK_STREAM, 0);
		int keep = dup(s);
		dup_fd = s;
		dup_benign = b[0];
		dup_go = 0;
		pthread_t th;
		pthread_create(&th, 0, dup_racer, (void *)(long)(i * 37 % 4000));
		dup_go = 1;
		connect(s, (void *)&a, sizeof(a));
		pthread_join(th, 0);
		struct sockaddr_un peer;
		socklen_t plen = sizeof(peer);
		if (getpeername(keep, (void *)&peer, &plen) == 0) {
			write(keep, "LEAK", 4);
			printf("dup2-race escaped at round %d\n", i);
			return 0;
		}
		close(keep);
		close(s);
	}
	printf("dup2-race never connected\n");
	return 4;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, 0, _IONBF, 0);
	if (argc >= 5 && !strcmp(argv[1], "race-unix"))
		return race_unix(atoi(argv[2]), argv[3], argv[4]);
	if (argc >= 5 && !strcmp(argv[1], "race-inet"))
		return race_inet(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
	if (argc >= 2 && !strcmp(argv[1], "mmsg"))
		return mmsg();
	if (argc >= 3 && !strcmp(argv[1], "connect"))
		return do_connect(argv[2], argc > 3 ? argv[3] : 0);
	if (argc >= 3 && !strcmp(argv[1], "sendto"))
		return do_sendto(argv[2]);
	if (argc >= 3 && !strcmp(argv[1], "dup2-race"))
		return dup2_race(argv[2]);
	if (argc >= 3 && !strcmp(argv[1], "echo"))
		return echo(argv[2]);
	fprintf(stderr, "usage: see the comment at the top of sockaddr.c\n");
	return 2;
}
