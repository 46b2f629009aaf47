-- behavediff trace database, schema version 2: strings are interned per run,
-- and file events mark the first of each distinct behaviour.
--
-- Version 1 interned strings in one table shared by all runs. Loading a run
-- then looked every distinct string up by id, one query each, and a run's
-- strings outlived the run. Now each run has its own dense ids (1, 2, ...),
-- so a run's strings load in one range scan, a writer assigns ids without
-- reading them back, and deleting a run deletes its strings.
--
-- _file.dup is 1 on an event that repeats an earlier one of its run in all a
-- baseline looks at (op, path, path2, flags, mode, errno; for exec also the
-- process), NULL on the first of each: store.LoadDistinct reads only those.
-- Existing rows are NULL, which is always correct, only slower.
ALTER TABLE _file ADD COLUMN dup INTEGER;

DROP VIEW processes;
DROP VIEW file_events;
DROP VIEW net_events;
DROP VIEW priv_events;
DROP VIEW syscalls;
DROP TRIGGER _run_delete;

ALTER TABLE _str RENAME TO _str_v1;

CREATE TABLE _str (
	run_id INTEGER NOT NULL,  -- _run.id
	id     INTEGER NOT NULL,  -- referenced by the run's rows
	s      TEXT    NOT NULL,
	PRIMARY KEY (run_id, id)
) WITHOUT ROWID;

-- Existing runs keep their (globally unique) ids.
INSERT INTO _str(run_id, id, s)
SELECT u.run_id, u.id, o.s
FROM (SELECT run_id, exe AS id FROM _proc
      UNION SELECT run_id, cwd FROM _proc
      UNION SELECT run_id, path FROM _file
      UNION SELECT run_id, path2 FROM _file
      UNION SELECT run_id, addr FROM _net
      UNION SELECT run_id, domain FROM _net
      UNION SELECT run_id, syscall FROM _priv
      UNION SELECT run_id, args FROM _priv
      UNION SELECT run_id, name FROM _sys) u
JOIN _str_v1 o ON o.id = u.id;

DROP TABLE _str_v1;

-- Deleting a run deletes its events and strings (these tables carry no
-- foreign key).
CREATE TRIGGER _run_delete AFTER DELETE ON _run BEGIN
	DELETE FROM _file WHERE run_id = old.id;
	DELETE FROM _net  WHERE run_id = old.id;
	DELETE FROM _priv WHERE run_id = old.id;
	DELETE FROM _str  WHERE run_id = old.id;
END;

-- The views, unchanged in their columns, now join strings by (run_id, id).
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
       CASE WHEN p.exited AND p.exit_signal = 0 THEN p.exit_code END AS exit_code,
       p.idx,
       CASE WHEN p.parent_idx >= 0 THEN p.parent_idx END AS parent_idx,
       CASE WHEN p.exited AND p.exit_signal <> 0 THEN p.exit_signal END AS exit_signal,
       p.chain
FROM _proc p
LEFT JOIN _str x ON x.run_id = p.run_id AND x.id = p.exe
LEFT JOIN _str c ON c.run_id = p.run_id AND c.id = p.cwd;

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
       f.proc AS proc_idx
FROM _file f
JOIN file_ops o ON o.id = f.op
JOIN _str s1 ON s1.run_id = f.run_id AND s1.id = f.path
LEFT JOIN _str s2 ON s2.run_id = f.run_id AND s2.id = f.path2
LEFT JOIN _proc p ON p.run_id = f.run_id AND p.idx = f.proc
LEFT JOIN _str x ON x.run_id = p.run_id AND x.id = p.exe
LEFT JOIN errnos en ON f.result < 0 AND en.errno = -f.result;

CREATE VIEW net_events AS
SELECT n.run_id,
       p.pid,
       x.s AS exe,
       o.name AS op,
       CASE n.family WHEN 2 THEN 'inet' WHEN 10 THEN 'inet6' WHEN 1 THEN 'unix'
                     WHEN 16 THEN 'netlink' WHEN 17 THEN 'packet'
                     ELSE 'af' || n.family END AS family,
       a.s AS address,
       CASE WHEN n.port <> 0 THEN n.port END AS port,
       n.result,
       en.name AS error,
       n.ts,
       d.s AS domain,
       CASE n.sock_type WHEN 0 THEN NULL WHEN 1 THEN 'stream' WHEN 2 THEN 'dgram'
                        WHEN 3 THEN 'raw' WHEN 5 THEN 'seqpacket'
                        ELSE 'type' || n.sock_type END AS sock_type,
       CASE n.qtype WHEN 0 THEN NULL WHEN 1 THEN 'A' WHEN 2 THEN 'NS' WHEN 5 THEN 'CNAME'
                    WHEN 6 THEN 'SOA' WHEN 12 THEN 'PTR' WHEN 15 THEN 'MX' WHEN 16 THEN 'TXT'
                    WHEN 28 THEN 'AAAA' WHEN 33 THEN 'SRV' WHEN 64 THEN 'SVCB'
                    WHEN 65 THEN 'HTTPS' WHEN 255 THEN 'ANY'
                    ELSE 'TYPE' || n.qtype END AS qtype,
       n.seq,
       n.proc AS proc_idx
FROM _net n
JOIN net_ops o ON o.id = n.op
LEFT JOIN _str a ON a.run_id = n.run_id AND a.id = n.addr
LEFT JOIN _str d ON d.run_id = n.run_id AND d.id = n.domain
LEFT JOIN _proc p ON p.run_id = n.run_id AND p.idx = n.proc
LEFT JOIN _str x ON x.run_id = p.run_id AND x.id = p.exe
LEFT JOIN errnos en ON n.result < 0 AND en.errno = -n.result;

CREATE VIEW priv_events AS
SELECT v.run_id,
       p.pid,
       x.s AS exe,
       sc.s AS syscall,
       a.s AS args,
       v.result,
       en.name AS error,
       v.ts,
       v.seq,
       v.proc AS proc_idx
FROM _priv v
JOIN _str sc ON sc.run_id = v.run_id AND sc.id = v.syscall
LEFT JOIN _str a ON a.run_id = v.run_id AND a.id = v.args
LEFT JOIN _proc p ON p.run_id = v.run_id AND p.idx = v.proc
LEFT JOIN _str x ON x.run_id = p.run_id AND x.id = p.exe
LEFT JOIN errnos en ON v.result < 0 AND en.errno = -v.result;

CREATE VIEW syscalls AS
SELECT y.run_id,
       p.pid,
       x.s AS exe,
       n.s AS name,
       y.count,
       y.errors,
       y.proc AS proc_idx
FROM _sys y
JOIN _str n ON n.run_id = y.run_id AND n.id = y.name
LEFT JOIN _proc p ON p.run_id = y.run_id AND p.idx = y.proc
LEFT JOIN _str x ON x.run_id = p.run_id AND x.id = p.exe;
