package recorder

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/behavediff/behavediff/store"
)

// pathsC opens, from two threads, paths chosen against the ingest's reuse
// of strings and buffers: ROUNDS rounds over DISTINCT missing paths (more
// than the decoder's string cache has slots, so slots are overwritten all
// the time), written into one buffer (the same user address with new bytes
// each call), absolute and relative to the cwd; meanwhile a second thread
// opens two paths one byte apart, PAIRS times each.
const pathsC = `#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static long pairs;

static void *pair(void *arg) {
	for (long i = 0; i < 2 * pairs; i++) {
		int fd = open(i & 1 ? "/etc/hostnamf" : "/etc/hostname", O_RDONLY);
		if (fd >= 0) close(fd);
	}
	return 0;
}

int main(int argc, char **argv) {
	long rounds = atol(argv[1]), distinct = atol(argv[2]);
	pairs = atol(argv[3]);
	if (chdir("/tmp") != 0) { perror("chdir"); return 1; }
	pthread_t th;
	if (pthread_create(&th, 0, pair, 0) != 0) { perror("pthread_create"); return 1; }
	char p[64];
	for (long r = 0; r < rounds; r++)
		for (long i = 0; i < distinct; i++) {
			snprintf(p, sizeof p, "/tmp/pa/%ld", i);
			open(p, O_RDONLY);
			snprintf(p, sizeof p, "pr/%ld", i);
			open(p, O_RDONLY);
		}
	pthread_join(th, 0);
	return 0;
}
`

// Every path is stored as itself, exactly as often as it was opened, with
// its own result: neither the decoder's string cache nor the recycled
// ingest batches may hand an event an earlier record's path (a slot reused
// by another path, a buffer rewritten in place, a neighbour one byte
// apart) or lose or repeat one.
func TestRecordRepeatedPathsExact(t *testing.T) {
	requireRoot(t)
	const rounds, distinct, pairs = 6, 5000, 10000
	ws := t.TempDir()
	bin := buildSource(t, "paths", pathsC, ws)
	r := record(t, ws, Spec{Args: []string{bin, fmt.Sprint(rounds), fmt.Sprint(distinct), fmt.Sprint(pairs)}}, nil)
	if r.res.Status != store.StatusOK || r.res.ExitCode != 0 {
		t.Fatalf("status %s exit %d; stderr %s", r.res.Status, r.res.ExitCode, r.stderr)
	}
	if r.trace.Run.LostEvents != 0 {
		t.Fatalf("lost %d events: the counts below cannot be exact", r.trace.Run.LostEvents)
	}
	type key struct {
		path string
		ok   bool
	}
	got := map[key]int{}
	for _, f := range r.trace.Files {
		if f.Op == store.FileOpen {
			got[key{f.Path, f.Result >= 0}]++
		}
	}
	want := map[key]int{{"/etc/hostname", true}: pairs, {"/etc/hostnamf", false}: pairs}
	for i := range distinct {
		want[key{fmt.Sprintf("/tmp/pa/%d", i), false}] = rounds
		want[key{fmt.Sprintf("/tmp/pr/%d", i), false}] = rounds
	}
	bad := 0
	for k, n := range want {
		if got[k] != n && bad < 10 {
			t.Errorf("open of %q (ok=%v) stored %d times, made %d times", k.path, k.ok, got[k], n)
			bad++
		}
	}
	for k, n := range got {
		if _, ok := want[k]; !ok && (k.path == "/etc/hostname" || k.path == "/etc/hostnamf" ||
			filepath.Dir(k.path) == "/tmp/pa" || filepath.Dir(k.path) == "/tmp/pr") && bad < 20 {
			t.Errorf("open of %q (ok=%v) stored %d times, never made", k.path, k.ok, n)
			bad++
		}
	}
}
