package recorder

import (
	"context"
	"fmt"

	"github.com/behavediff/behavediff/store"
)

// tamperQuery finds a run's attempts (successful or not) to change
// behavediff's own files: any .behavediff directory, and the trace database
// with its journal files. The sandbox hides and refuses them; the attempt
// itself is what the user must hear about.
//
// It reads only the first event of each behaviour (_file rows with dup IS
// NULL, the partial index _file_first of migration 011), not every event
// of the run: a repeat (a _file_rep row since migration 013, dup = 1
// before) has the op, paths and flags of an earlier first event,
// which is all this query looks at, so it can add no path. Run after every
// recording, the scan of a build's million events was most of finishing it
// (TestTamperFirstEventsOnly checks both answers agree).
const tamperQuery = `
SELECT DISTINCT p FROM (
  SELECT s1.s AS p, s2.s AS p2 FROM _file f
  JOIN file_ops o ON o.id = f.op
  JOIN _str s1 ON s1.run_id = f.run_id AND s1.id = f.path
  LEFT JOIN _str s2 ON s2.run_id = f.run_id AND s2.id = f.path2
  WHERE f.run_id = ?1 AND f.dup IS NULL AND (
    (o.name = 'open' AND (f.flags & 3 <> 0 OR f.flags & 64 <> 0 OR f.flags & 512 <> 0))
    OR o.name IN ('unlink', 'rename', 'mkdir', 'rmdir', 'link', 'symlink', 'chmod', 'chown', 'truncate', 'utimes', 'mknod'))
)
WHERE p LIKE '%/.behavediff' OR p LIKE '%/.behavediff/%' OR p2 LIKE '%/.behavediff' OR p2 LIKE '%/.behavediff/%'
   OR p IN (?2, ?3, ?4, ?5) OR p2 IN (?2, ?3, ?4, ?5)
ORDER BY p LIMIT 20`

// projectTamper lists the paths of behavediff's own files that run id tried
// to change.
func projectTamper(ctx context.Context, db *store.DB, id int64) ([]string, error) {
	files := dbFiles(db.Path())
	res, err := db.Query(ctx, tamperQuery, id, files[0], files[1], files[2], files[3])
	if err != nil {
		return nil, fmt.Errorf("look for changes to behavediff's files: %w", err)
	}
	var out []string
	for _, r := range res.Rows {
		if len(r) == 1 {
			out = append(out, fmt.Sprint(r[0]))
		}
	}
	return out, nil
}
