package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Check is the stored verdict of one spec in one check (views checks and
// findings, docs/schema.md).
type Check struct {
	RunID       int64 // 0: the spec was not replayed
	Spec        string
	Command     string // check, diff
	Status      string
	FailOn      string
	Error       string
	At          time.Time
	ToolVersion string
	Findings    []CheckFinding
}

// CheckFinding is one finding of a check, as it was reported.
type CheckFinding struct {
	Level       int // 0 none .. 4 critical (table levels)
	RuleID      string
	Kind        string
	Change      string
	Section     string
	Subject     string
	Reason      string
	Process     string
	Query       string
	Fingerprint string
}

// AddChecks stores checks and their findings in one transaction (all or
// nothing) and returns their ids.
func (db *DB) AddChecks(ctx context.Context, cs []Check) ([]int64, error) {
	if db.w == nil {
		return nil, fmt.Errorf("store checks: trace database %s is open read-only", db.path)
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store checks: %w", err)
	}
	defer tx.Rollback()
	var ids []int64
	for _, c := range cs {
		id, err := addCheck(ctx, tx, c)
		if err != nil {
			return nil, fmt.Errorf("store check of %s: %w", c.Spec, err)
		}
		ids = append(ids, id)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store checks: %w", err)
	}
	return ids, nil
}

func addCheck(ctx context.Context, tx *sql.Tx, c Check) (int64, error) {
	if c.At.IsZero() {
		c.At = time.Now()
	}
	var run any
	if c.RunID != 0 {
		run = c.RunID
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO _check (run_id, spec, command, status, fail_on, error, checked_ns, tool_version)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, run, c.Spec, c.Command, c.Status, c.FailOn, nullString(c.Error), c.At.UnixNano(), c.ToolVersion)
	if err != nil {
		return 0, err
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, err
	}
	st, err := tx.PrepareContext(ctx, `INSERT INTO _finding (check_id, idx, level, rule_id, kind, change, section, subject, reason, process, query, fingerprint)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	for i, f := range c.Findings {
		if f.Level < 0 || f.Level > 4 {
			return 0, fmt.Errorf("finding %s %s: level %d out of range", f.Kind, f.Subject, f.Level)
		}
		if _, err := st.ExecContext(ctx, id, i, f.Level, f.RuleID, f.Kind, f.Change, f.Section, f.Subject, f.Reason, f.Process, f.Query, f.Fingerprint); err != nil {
			return 0, err
		}
	}
	return id, nil
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
