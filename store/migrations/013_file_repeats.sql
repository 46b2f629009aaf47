-- behavediff trace database: exact repeats of a behaviour stored in groups.
--
-- Most of a run's file events repeat an earlier one in all but their
-- process, return value and time (a build opens the same headers, a loop
-- the same file). Their full rows made SQLite's INSERT most of the
-- recorder's CPU. From this version the first event of each behaviour
-- (what _file.dup IS NULL marked) stays in _file, and the repeats the
-- writer stores in one transaction are grouped by (first event, process,
-- result): one _file_rep row per group, naming the first event by its seq
-- (`of`, whose op, paths, flags, mode and path state every repeat shares)
-- and holding each repeat's own time and place as one integer of a JSON
-- array, `evs`:
--
--     element = (ts << 12) | (the event's seq - the row's seq)
--
-- ts is ns since the run started, 0 <= ts < 2^51 (26 days); a group spans
-- fewer than 4096 seqs (a writer transaction holds at most 4096 events).
-- A repeat that does not fit (a negative or huge ts) is stored the way
-- runs before this version stored every repeat: a full _file row with
-- dup = 1. The view reads every layout.
--
-- file_events still has one row per file syscall with its own seq, ts,
-- process and result (docs/schema.md); only the storage changed.

CREATE TABLE _file_rep (
	run_id INTEGER NOT NULL,  -- _run.id
	seq    INTEGER NOT NULL,  -- the group's first event's place in the run
	of     INTEGER NOT NULL,  -- _file.seq of the behaviour's first event
	proc   INTEGER NOT NULL,  -- _proc.idx of every event of the group
	result INTEGER NOT NULL,  -- the return value of every event of the group
	evs    TEXT    NOT NULL,  -- JSON array: (ts << 12) | (seq - this row's seq) per event
	PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

DROP TRIGGER _run_delete;
CREATE TRIGGER _run_delete AFTER DELETE ON _run BEGIN
	DELETE FROM _file WHERE run_id = old.id;
	DELETE FROM _file_rep WHERE run_id = old.id;
	DELETE FROM _net  WHERE run_id = old.id;
	DELETE FROM _priv WHERE run_id = old.id;
	DELETE FROM _str  WHERE run_id = old.id;
END;

DROP VIEW file_events;
-- The stored rows come from two arms, each a plain join SQLite can plan on
-- its own: the first events (and older runs' repeats) in _file, and the
-- groups of _file_rep expanded by json_each (about what scanning as many
-- narrow rows costs). What is derived from the columns (access, the path
-- state's name) is said once, around them.
CREATE VIEW file_events AS
SELECT run_id, pid, exe, op, path, flags, result, error, ts, path2, mode, seq, proc_idx,
       CASE
         WHEN op = 'open' THEN
           CASE
             WHEN (flags & 64) != 0 THEN 'create'
             WHEN (flags & 3) != 0 OR (flags & 512) != 0 THEN 'write'
             ELSE 'read'
           END
         WHEN op IN ('mkdir', 'mknod', 'link', 'symlink', 'memfd_create') THEN 'create'
         WHEN op IN ('unlink', 'rmdir', 'rename', 'chmod', 'chown', 'truncate', 'utimes') THEN 'write'
         WHEN op = 'exec' THEN 'exec'
         ELSE 'read'
       END AS access,
       CASE pflags WHEN 1 THEN 'unresolved' WHEN 2 THEN 'truncated' WHEN 3 THEN 'late' WHEN 4 THEN 'raced' END AS path_state
FROM (
SELECT
       f.run_id,
       p.pid,
       x.s AS exe,
       o.name AS op,
       s1.s AS path,
       f.flags,
       f.result,
       en.name AS error,
       f.ts AS ts,
       s2.s AS path2,
       f.mode,
       f.seq AS seq,
       f.proc AS proc_idx,
       f.pflags
FROM _file f
JOIN file_ops o ON o.id = f.op
JOIN _str s1 ON s1.run_id = f.run_id AND s1.id = f.path
LEFT JOIN _str s2 ON s2.run_id = f.run_id AND s2.id = f.path2
LEFT JOIN _proc p ON p.run_id = f.run_id AND p.idx = f.proc
LEFT JOIN _str x ON x.run_id = p.run_id AND x.id = p.exe
LEFT JOIN errnos en ON f.result < 0 AND en.errno = -f.result
UNION ALL
SELECT
       r.run_id,
       p.pid,
       x.s AS exe,
       o.name AS op,
       s1.s AS path,
       f.flags,
       r.result,
       en.name AS error,
       j.value >> 12 AS ts,
       s2.s AS path2,
       f.mode,
       r.seq + (j.value & 4095) AS seq,
       r.proc AS proc_idx,
       f.pflags
FROM _file_rep r
JOIN json_each(r.evs) j
JOIN _file f ON f.run_id = r.run_id AND f.seq = r.of
JOIN file_ops o ON o.id = f.op
JOIN _str s1 ON s1.run_id = f.run_id AND s1.id = f.path
LEFT JOIN _str s2 ON s2.run_id = f.run_id AND s2.id = f.path2
LEFT JOIN _proc p ON p.run_id = r.run_id AND p.idx = r.proc
LEFT JOIN _str x ON x.run_id = p.run_id AND x.id = p.exe
LEFT JOIN errnos en ON r.result < 0 AND en.errno = -r.result
);
