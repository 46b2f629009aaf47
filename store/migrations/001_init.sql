-- behavediff trace database, schema version 1.
--
-- Internal tables start with an underscore and may change between schema
-- versions; the public contract is the set of views at the end of this file
-- (documented in docs/schema.md). Strings that repeat (paths, exe names,
-- addresses, domains, syscall names) are interned in _str and referenced by
-- id; event rows hold only small integers so a row costs ~30 bytes.

CREATE TABLE _str (
	id INTEGER PRIMARY KEY,
	s  TEXT NOT NULL UNIQUE
);

CREATE TABLE _run (
	id             INTEGER PRIMARY KEY AUTOINCREMENT,
	name           TEXT    NOT NULL DEFAULT '',
	command        TEXT    NOT NULL DEFAULT '[]', -- JSON array
	workspace      TEXT    NOT NULL DEFAULT '',
	started_ns     INTEGER NOT NULL,              -- unix ns
	ended_ns       INTEGER,                       -- unix ns, NULL while running
	exit_code      INTEGER NOT NULL DEFAULT -1,
	status         TEXT    NOT NULL,
	error          TEXT,                          -- why the run failed (Abort cause)
	lost_events    INTEGER NOT NULL DEFAULT 0,
	replay_of      INTEGER REFERENCES _run(id) ON DELETE SET NULL,
	spec           BLOB,
	stdout         BLOB,
	stderr         BLOB,
	stdout_cap     INTEGER NOT NULL DEFAULT 0,
	stderr_cap     INTEGER NOT NULL DEFAULT 0,
	stdout_trunc   INTEGER NOT NULL DEFAULT 0,
	stderr_trunc   INTEGER NOT NULL DEFAULT 0,
	tool_version   TEXT    NOT NULL DEFAULT '',
	n_file         INTEGER NOT NULL DEFAULT 0,    -- events committed so far
	n_net          INTEGER NOT NULL DEFAULT 0,
	n_priv         INTEGER NOT NULL DEFAULT 0,
	recorder_pid   INTEGER,                       -- who is writing the run ...
	recorder_start INTEGER,                       -- ... its /proc/PID/stat starttime
	recorder_boot  TEXT                           -- ... on which boot
);
CREATE INDEX _run_name ON _run(name, id);
CREATE INDEX _run_running ON _run(status) WHERE status = 'running';

CREATE TABLE _proc (
	run_id      INTEGER NOT NULL REFERENCES _run(id) ON DELETE CASCADE,
	idx         INTEGER NOT NULL,
	pid         INTEGER NOT NULL,
	ppid        INTEGER NOT NULL,
	parent_idx  INTEGER NOT NULL,
	exe         INTEGER NOT NULL,  -- _str.id, 0 when unknown
	argv        TEXT    NOT NULL,  -- JSON array
	cwd         INTEGER NOT NULL,  -- _str.id, 0 when unknown
	uid         INTEGER NOT NULL,
	chain       TEXT    NOT NULL,
	started_ns  INTEGER NOT NULL,  -- since run start
	exited_ns   INTEGER NOT NULL,  -- since run start, 0 when not seen
	exited      INTEGER NOT NULL,
	exit_code   INTEGER NOT NULL,
	exit_signal INTEGER NOT NULL,
	PRIMARY KEY (run_id, idx)
) WITHOUT ROWID;

-- Events: seq is one counter per run across _file, _net and _priv, so the
-- three can be merged back into recording order.
CREATE TABLE _file (
	run_id INTEGER NOT NULL,  -- _run.id (no FK: checked per insert it costs ~10%)
	seq    INTEGER NOT NULL,
	proc   INTEGER NOT NULL,  -- _proc.idx
	op     INTEGER NOT NULL,  -- file_ops.id
	path   INTEGER NOT NULL,  -- _str.id
	path2  INTEGER,           -- _str.id
	flags  INTEGER NOT NULL,
	mode   INTEGER NOT NULL,
	result INTEGER NOT NULL,
	ts     INTEGER NOT NULL,  -- ns since run start
	PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

CREATE TABLE _net (
	run_id    INTEGER NOT NULL,
	seq       INTEGER NOT NULL,
	proc      INTEGER NOT NULL,
	op        INTEGER NOT NULL,  -- net_ops.id
	family    INTEGER NOT NULL,
	sock_type INTEGER NOT NULL,
	addr      INTEGER,           -- _str.id
	port      INTEGER NOT NULL,
	domain    INTEGER,           -- _str.id
	qtype     INTEGER NOT NULL,
	result    INTEGER NOT NULL,
	ts        INTEGER NOT NULL,
	PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

CREATE TABLE _priv (
	run_id  INTEGER NOT NULL,
	seq     INTEGER NOT NULL,
	proc    INTEGER NOT NULL,
	syscall INTEGER NOT NULL,  -- _str.id
	args    INTEGER,           -- _str.id
	result  INTEGER NOT NULL,
	ts      INTEGER NOT NULL,
	PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

-- Deleting a run deletes its events (the event tables carry no foreign key).
CREATE TRIGGER _run_delete AFTER DELETE ON _run BEGIN
	DELETE FROM _file WHERE run_id = old.id;
	DELETE FROM _net  WHERE run_id = old.id;
	DELETE FROM _priv WHERE run_id = old.id;
END;

CREATE TABLE _sys (
	run_id INTEGER NOT NULL REFERENCES _run(id) ON DELETE CASCADE,
	proc   INTEGER NOT NULL,
	name   INTEGER NOT NULL,  -- _str.id
	count  INTEGER NOT NULL,
	errors INTEGER NOT NULL,
	PRIMARY KEY (run_id, proc, name)
) WITHOUT ROWID;

CREATE TABLE _change (
	id     INTEGER PRIMARY KEY,
	run_id INTEGER NOT NULL REFERENCES _run(id) ON DELETE CASCADE,
	path   TEXT    NOT NULL,
	change TEXT    NOT NULL,
	size   INTEGER NOT NULL,
	sha256 TEXT    NOT NULL,
	is_dir INTEGER NOT NULL
);
CREATE INDEX _change_run ON _change(run_id);

CREATE TABLE _lost (
	run_id INTEGER NOT NULL REFERENCES _run(id) ON DELETE CASCADE,
	class  TEXT    NOT NULL,
	count  INTEGER NOT NULL,
	PRIMARY KEY (run_id, class)
) WITHOUT ROWID;

-- Enum tables: public, handy in joins.
CREATE TABLE file_ops (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
INSERT INTO file_ops VALUES
(1,'open'),(2,'unlink'),(3,'rename'),(4,'mkdir'),(5,'rmdir'),(6,'link'),(7,'symlink'),
(8,'chmod'),(9,'chown'),(10,'truncate'),(11,'utimes'),(12,'mknod'),(13,'exec'),
(14,'memfd_create'),(15,'chdir'),(16,'stat');

CREATE TABLE net_ops (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
INSERT INTO net_ops VALUES
(1,'socket'),(2,'connect'),(3,'bind'),(4,'listen'),(5,'accept'),(6,'send'),(7,'dns');

-- Linux errno names: result = -errno for a failed syscall.
CREATE TABLE errnos (errno INTEGER PRIMARY KEY, name TEXT NOT NULL);
INSERT INTO errnos VALUES
(1,'EPERM'),
(2,'ENOENT'),
(3,'ESRCH'),
(4,'EINTR'),
(5,'EIO'),
(6,'ENXIO'),
(7,'E2BIG'),
(8,'ENOEXEC'),
(9,'EBADF'),
(10,'ECHILD'),
(11,'EAGAIN'),
(12,'ENOMEM'),
(13,'EACCES'),
(14,'EFAULT'),
(15,'ENOTBLK'),
(16,'EBUSY'),
(17,'EEXIST'),
(18,'EXDEV'),
(19,'ENODEV'),
(20,'ENOTDIR'),
(21,'EISDIR'),
(22,'EINVAL'),
(23,'ENFILE'),
(24,'EMFILE'),
(25,'ENOTTY'),
(26,'ETXTBSY'),
(27,'EFBIG'),
(28,'ENOSPC'),
(29,'ESPIPE'),
(30,'EROFS'),
(31,'EMLINK'),
(32,'EPIPE'),
(33,'EDOM'),
(34,'ERANGE'),
(35,'EDEADLK'),
(36,'ENAMETOOLONG'),
(37,'ENOLCK'),
(38,'ENOSYS'),
(39,'ENOTEMPTY'),
(40,'ELOOP'),
(42,'ENOMSG'),
(43,'EIDRM'),
(44,'ECHRNG'),
(45,'EL2NSYNC'),
(46,'EL3HLT'),
(47,'EL3RST'),
(48,'ELNRNG'),
(49,'EUNATCH'),
(50,'ENOCSI'),
(51,'EL2HLT'),
(52,'EBADE'),
(53,'EBADR'),
(54,'EXFULL'),
(55,'ENOANO'),
(56,'EBADRQC'),
(57,'EBADSLT'),
(59,'EBFONT'),
(60,'ENOSTR'),
(61,'ENODATA'),
(62,'ETIME'),
(63,'ENOSR'),
(64,'ENONET'),
(65,'ENOPKG'),
(66,'EREMOTE'),
(67,'ENOLINK'),
(68,'EADV'),
(69,'ESRMNT'),
(70,'ECOMM'),
(71,'EPROTO'),
(72,'EMULTIHOP'),
(73,'EDOTDOT'),
(74,'EBADMSG'),
(75,'EOVERFLOW'),
(76,'ENOTUNIQ'),
(77,'EBADFD'),
(78,'EREMCHG'),
(79,'ELIBACC'),
(80,'ELIBBAD'),
(81,'ELIBSCN'),
(82,'ELIBMAX'),
(83,'ELIBEXEC'),
(84,'EILSEQ'),
(85,'ERESTART'),
(86,'ESTRPIPE'),
(87,'EUSERS'),
(88,'ENOTSOCK'),
(89,'EDESTADDRREQ'),
(90,'EMSGSIZE'),
(91,'EPROTOTYPE'),
(92,'ENOPROTOOPT'),
(93,'EPROTONOSUPPORT'),
(94,'ESOCKTNOSUPPORT'),
(95,'ENOTSUP'),
(96,'EPFNOSUPPORT'),
(97,'EAFNOSUPPORT'),
(98,'EADDRINUSE'),
(99,'EADDRNOTAVAIL'),
(100,'ENETDOWN'),
(101,'ENETUNREACH'),
(102,'ENETRESET'),
(103,'ECONNABORTED'),
(104,'ECONNRESET'),
(105,'ENOBUFS'),
(106,'EISCONN'),
(107,'ENOTCONN'),
(108,'ESHUTDOWN'),
(109,'ETOOMANYREFS'),
(110,'ETIMEDOUT'),
(111,'ECONNREFUSED'),
(112,'EHOSTDOWN'),
(113,'EHOSTUNREACH'),
(114,'EALREADY'),
(115,'EINPROGRESS'),
(116,'ESTALE'),
(117,'EUCLEAN'),
(118,'ENOTNAM'),
(119,'ENAVAIL'),
(120,'EISNAM'),
(121,'EREMOTEIO'),
(122,'EDQUOT'),
(123,'ENOMEDIUM'),
(124,'EMEDIUMTYPE'),
(125,'ECANCELED'),
(126,'ENOKEY'),
(127,'EKEYEXPIRED'),
(128,'EKEYREVOKED'),
(129,'EKEYREJECTED'),
(130,'EOWNERDEAD'),
(131,'ENOTRECOVERABLE'),
(132,'ERFKILL'),
(133,'EHWPOISON');

-- ---------------------------------------------------------------- views --

CREATE VIEW runs AS
SELECT r.id,
       NULLIF(r.name, '') AS name,
       r.command,
       r.workspace,
       strftime('%Y-%m-%dT%H:%M:%S', r.started_ns / 1000000000, 'unixepoch')
         || printf('.%03dZ', (r.started_ns / 1000000) % 1000) AS started_at,
       CASE WHEN r.ended_ns IS NOT NULL THEN
         strftime('%Y-%m-%dT%H:%M:%S', r.ended_ns / 1000000000, 'unixepoch')
         || printf('.%03dZ', (r.ended_ns / 1000000) % 1000) END AS ended_at,
       r.exit_code,
       r.status,
       r.lost_events,
       (r.ended_ns - r.started_ns) / 1000000 AS duration_ms,
       r.replay_of,
       r.error,
       r.n_file AS file_event_count,
       r.n_net AS net_event_count,
       r.n_priv AS priv_event_count,
       r.stdout,
       r.stderr,
       r.stdout_trunc,
       r.stderr_trunc,
       r.spec,
       NULLIF(r.tool_version, '') AS tool_version,
       r.started_ns,
       r.ended_ns
FROM _run r;

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
LEFT JOIN _str x ON x.id = p.exe
LEFT JOIN _str c ON c.id = p.cwd;

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
JOIN _str s1 ON s1.id = f.path
LEFT JOIN _str s2 ON s2.id = f.path2
LEFT JOIN _proc p ON p.run_id = f.run_id AND p.idx = f.proc
LEFT JOIN _str x ON x.id = p.exe
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
LEFT JOIN _str a ON a.id = n.addr
LEFT JOIN _str d ON d.id = n.domain
LEFT JOIN _proc p ON p.run_id = n.run_id AND p.idx = n.proc
LEFT JOIN _str x ON x.id = p.exe
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
JOIN _str sc ON sc.id = v.syscall
LEFT JOIN _str a ON a.id = v.args
LEFT JOIN _proc p ON p.run_id = v.run_id AND p.idx = v.proc
LEFT JOIN _str x ON x.id = p.exe
LEFT JOIN errnos en ON v.result < 0 AND en.errno = -v.result;

CREATE VIEW fs_changes AS
SELECT run_id,
       path,
       change,
       CASE WHEN size >= 0 THEN size END AS size,
       NULLIF(sha256, '') AS sha256,
       is_dir
FROM _change;

CREATE VIEW syscalls AS
SELECT y.run_id,
       p.pid,
       x.s AS exe,
       n.s AS name,
       y.count,
       y.errors,
       y.proc AS proc_idx
FROM _sys y
JOIN _str n ON n.id = y.name
LEFT JOIN _proc p ON p.run_id = y.run_id AND p.idx = y.proc
LEFT JOIN _str x ON x.id = p.exe;

CREATE VIEW lost_events AS
SELECT run_id, class, count FROM _lost;
