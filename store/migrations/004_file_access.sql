-- behavediff trace database, schema version 4: file_events.access.
--
-- Whether an open read, wrote or created was only visible by decoding the
-- O_* flags. The view now says it in words (the same words `behavediff
-- show` and baselines use): read, write, create (O_CREAT: the file may have
-- existed before), exec, or for path operations what they do to the tree.
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
       END AS access
FROM _file f
JOIN file_ops o ON o.id = f.op
JOIN _str s1 ON s1.run_id = f.run_id AND s1.id = f.path
LEFT JOIN _str s2 ON s2.run_id = f.run_id AND s2.id = f.path2
LEFT JOIN _proc p ON p.run_id = f.run_id AND p.idx = f.proc
LEFT JOIN _str x ON x.run_id = p.run_id AND x.id = p.exe
LEFT JOIN errnos en ON f.result < 0 AND en.errno = -f.result;
