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
const tamperQuery = `
SELECT DISTINCT p FROM (
  SELECT path AS p, path2 AS p2 FROM file_events
  WHERE run_id = ?1 AND (
    (op = 'open' AND (flags & 3 <> 0 OR flags & 64 <> 0 OR flags & 512 <> 0))
    OR op IN ('unlink', 'rename', 'mkdir', 'rmdir', 'link', 'symlink', 'chmod', 'chown', 'truncate', 'utimes', 'mknod'))
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
