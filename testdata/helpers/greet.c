// greet: prints /etc/greeting. Used as the only program of a tiny image to
// test recording in a rootfs imported from an image tarball.
#include <stdio.h>

int main(void) {
	char buf[128];
	FILE *f = fopen("/etc/greeting", "r");
	if (!f) { perror("/etc/greeting"); return 3; }
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	buf[n] = 0;
	fputs(buf, stdout);
	return 0;
}
