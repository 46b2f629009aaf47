-- behavediff trace database: path arguments read before the call, races
-- detected.
--
-- _file.pflags gains two values (see 008 for 1 and 2):
--               3: late, no copy the sensor can vouch for: the caller's
--               string as read when the call returned (the page was not
--               resident at entry and the kernel's own copy was not caught),
--               or a path over 4000 bytes that only the caller's memory
--               holds; like unresolved, it need not name the file the kernel
--               used;
--               4: raced, the caller's string changed while the kernel was
--               using it (a racing writer; honest code never does this);
--               path is the kernel's copy where the sensor caught it, else
--               the copy from syscall entry.
-- The column is unchanged; the file_events view names the new values.
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
       CASE f.pflags WHEN 1 THEN 'unresolved' WHEN 2 THEN 'truncated' WHEN 3 THEN 'late' WHEN 4 THEN 'raced' END AS path_state
FROM _file f
JOIN file_ops o ON o.id = f.op
JOIN _str s1 ON s1.run_id = f.run_id AND s1.id = f.path
LEFT JOIN _str s2 ON s2.run_id = f.run_id AND s2.id = f.path2
LEFT JOIN _proc p ON p.run_id = f.run_id AND p.idx = f.proc
LEFT JOIN _str x ON x.run_id = p.run_id AND x.id = p.exe
LEFT JOIN errnos en ON f.result < 0 AND en.errno = -f.result;
