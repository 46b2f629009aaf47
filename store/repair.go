package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// A run in status "running" names the process writing it: pid, that
// process's start time (field 22 of /proc/PID/stat, so a reused pid is not
// mistaken for the recorder) and the boot id. Open marks the run
// interrupted when that process is gone.

func bootID() string {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// procStart returns the start time (clock ticks since boot) of pid, or -1
// when the process does not exist.
func procStart(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return -1
	}
	// comm (field 2) may contain spaces and parentheses: fields after the
	// last ')' are well-formed; starttime is field 22, i.e. index 19 there.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return -1
	}
	v, err := strconv.ParseInt(f[19], 10, 64)
	if err != nil {
		return -1
	}
	return v
}

// recorderAlive reports whether the recorder of a running run may still be
// alive. Unknown (no /proc, no boot id) counts as alive: never mark a run
// interrupted on a guess.
func recorderAlive(pid sql.NullInt64, start sql.NullInt64, boot sql.NullString, curBoot string) bool {
	if !pid.Valid || !boot.Valid || boot.String == "" || curBoot == "" {
		return true
	}
	if boot.String != curBoot {
		return false // rebooted since
	}
	st := procStart(int(pid.Int64))
	if st < 0 {
		if _, err := os.Stat("/proc/self/stat"); err != nil {
			return true // no procfs: cannot tell
		}
		return false
	}
	return !start.Valid || start.Int64 == st
}

func findStale(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}) ([]int64, []string, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, recorder_pid, recorder_start, recorder_boot FROM _run WHERE status = 'running'`)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	cur := bootID()
	var ids []int64
	var why []string
	for rows.Next() {
		var id int64
		var pid, start sql.NullInt64
		var boot sql.NullString
		if err := rows.Scan(&id, &pid, &start, &boot); err != nil {
			return nil, nil, err
		}
		if !recorderAlive(pid, start, boot, cur) {
			ids = append(ids, id)
			if boot.String != cur {
				why = append(why, fmt.Sprintf("the machine rebooted while recorder pid %d was recording", pid.Int64))
			} else {
				why = append(why, fmt.Sprintf("recorder pid %d exited without finishing the run", pid.Int64))
			}
		}
	}
	return ids, why, rows.Err()
}

func hasStaleRuns(ctx context.Context, db *sql.DB) (bool, error) {
	ids, _, err := findStale(ctx, db)
	return len(ids) > 0, err
}

// repairRuns marks runs whose recorder is gone as interrupted.
func repairRuns(ctx context.Context, db *sql.DB) error {
	ids, why, err := findStale(ctx, db)
	if err != nil || len(ids) == 0 {
		return err
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	for i, id := range ids {
		// Re-check the status inside the write lock: the run may have been
		// finished meanwhile.
		if _, err := tx.ExecContext(ctx, `UPDATE _run SET status = ?, error = COALESCE(error, ?) WHERE id = ? AND status = 'running'`,
			StatusInterrupted, why[i], id); err != nil {
			return err
		}
	}
	return tx.Commit()
}
