-- behavediff trace database, schema version 8: what the sensor knows about
-- the truth of a fact.
--
-- _proc.env     _str.id of the environment at exec as a JSON array of
--               "NAME=VALUE" (values of secret-looking names redacted by the
--               recorder; interned: most processes share one); NULL for
--               images recorded before version 8.
-- _proc.pflags  bit 1: argv was cut at the sensor's cap; bit 2: env was cut;
--               bit 4: the image ended by exec'ing another program (it never
--               exited, so it has no exit code).
-- _file.pflags  NULL: path is the kernel's (an open's fd, an exec's file, a
--               chdir's new cwd) or the caller's absolute string without '..';
--               1: unresolved, the caller's string kept as written (a '..'
--               after a component that may be a symlink, or relative with no
--               known base): it need not name the file the kernel used;
--               2: truncated, the kernel path was deeper than the sensor walks
--               and only its tail is known.
ALTER TABLE _proc ADD COLUMN env INTEGER;
ALTER TABLE _proc ADD COLUMN pflags INTEGER NOT NULL DEFAULT 0;
ALTER TABLE _file ADD COLUMN pflags INTEGER;

DROP VIEW processes;
CREATE VIEW processes AS
SELECT p.run_id,
       p.pid,
       p.ppid,
       x.s AS exe,
       p.argv,
       c.s AS cwd,
       p.uid,
       p.started_ns AS started_at,
       CASE WHEN p.exited THEN p.exited_ns END AS exited_at,
       CASE WHEN p.exited AND p.exit_signal = 0 AND (p.pflags & 4) = 0 THEN p.exit_code END AS exit_code,
       p.idx,
       CASE WHEN p.parent_idx >= 0 THEN p.parent_idx END AS parent_idx,
       CASE WHEN p.exited AND p.exit_signal <> 0 THEN p.exit_signal END AS exit_signal,
       p.chain,
       e.s AS env,
       (p.pflags & 1) <> 0 AS argv_truncated,
       (p.pflags & 2) <> 0 AS env_truncated,
       (p.pflags & 4) <> 0 AS replaced
FROM _proc p
LEFT JOIN _str x ON x.run_id = p.run_id AND x.id = p.exe
LEFT JOIN _str c ON c.run_id = p.run_id AND c.id = p.cwd
LEFT JOIN _str e ON e.run_id = p.run_id AND e.id = p.env;

DROP VIEW file_events;
CREATE VIEW file_events AS
SELECT f.run_id,
       p.pid,
       x.s AS exe,
       o.name AS op,
       s1.s AS path,
       f.flags,
       f.result,
       en.name AS error,
       f.ts,
       s2.s AS path2,
       f.mode,
       f.seq,
       f.proc AS proc_idx,
       CASE
         WHEN o.name = 'open' THEN
           CASE
             WHEN (f.flags & 64) != 0 THEN 'create'
             WHEN (f.flags & 3) != 0 OR (f.flags & 512) != 0 THEN 'write'
             ELSE 'read'
           END
         WHEN o.name IN ('mkdir', 'mknod', 'link', 'symlink', 'memfd_create') THEN 'create'
         WHEN o.name IN ('unlink', 'rmdir', 'rename', 'chmod', 'chown', 'truncate', 'utimes') THEN 'write'
         WHEN o.name = 'exec' THEN 'exec'
         ELSE 'read'
       END AS access,
       CASE f.pflags WHEN 1 THEN 'unresolved' WHEN 2 THEN 'truncated' END AS path_state
FROM _file f
JOIN file_ops o ON o.id = f.op
JOIN _str s1 ON s1.run_id = f.run_id AND s1.id = f.path
LEFT JOIN _str s2 ON s2.run_id = f.run_id AND s2.id = f.path2
LEFT JOIN _proc p ON p.run_id = f.run_id AND p.idx = f.proc
LEFT JOIN _str x ON x.run_id = p.run_id AND x.id = p.exe
LEFT JOIN errnos en ON f.result < 0 AND en.errno = -f.result;
