package recorder

import (
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The sandbox's user namespace shifts the command's ids on the host; the
// stored processes keep the uid the command saw (what `id -u` prints), so
// baselines do not depend on the namespace: 0 for a root-owned workspace,
// 1000 with --user 1000.
func TestRecordUIDInside(t *testing.T) {
	requireRoot(t)
	for _, user := range []string{"", "1000"} {
		ws := t.TempDir()
		if user != "" {
			if err := os.Chown(ws, 1000, 1000); err != nil {
				t.Fatal(err)
			}
		}
		r := record(t, ws, Spec{Args: []string{"/bin/sh", "-c", "id -u; /bin/true"}, User: user}, nil)
		want := "0"
		if user != "" {
			want = user
		}
		if got := strings.TrimSpace(r.stdout); got != want {
			t.Errorf("user %q: id -u printed %q, want %s (stderr %s)", user, got, want, r.stderr)
		}
		var uids []uint32
		for _, p := range r.trace.Processes {
			if p.Exe == "/usr/bin/true" || p.Exe == "/bin/true" {
				uids = append(uids, p.UID)
			}
		}
		wantUID := uint32(0)
		if user != "" {
			wantUID = 1000
		}
		if diff := cmp.Diff([]uint32{wantUID}, uids); diff != "" {
			t.Errorf("user %q: stored uid of /bin/true (-want +got):\n%s", user, diff)
		}
	}
}
