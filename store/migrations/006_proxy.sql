-- behavediff trace database, schema version 6: egress proxy requests.
--
-- In --net proxy mode the sandbox has no route out; behavediff's proxy and
-- resolver inside the sandbox decide every request and every DNS query.
-- Each is one row here with its decision, kept with the run (few rows per
-- run, so strings are stored inline rather than interned).
CREATE TABLE _proxy (
	run_id     INTEGER NOT NULL REFERENCES _run(id) ON DELETE CASCADE,
	n          INTEGER NOT NULL,  -- arrival order within the run
	proc       INTEGER,           -- _proc.idx of the client, NULL when unknown
	pid        INTEGER,           -- host pid of the client, NULL when unknown
	ts         INTEGER NOT NULL,  -- ns since run start
	protocol   TEXT    NOT NULL,  -- http, connect, socks5, dns
	host       TEXT    NOT NULL,
	port       INTEGER,
	method     TEXT,
	sni        TEXT,
	bytes_up   INTEGER NOT NULL,
	bytes_down INTEGER NOT NULL,
	allowed    INTEGER NOT NULL,
	reason     TEXT,
	status     INTEGER,
	via        TEXT,
	PRIMARY KEY (run_id, n)
) WITHOUT ROWID;

CREATE VIEW proxy_requests AS
SELECT q.run_id,
       q.ts,
       coalesce(p.pid, q.pid) AS pid,
       x.s AS exe,
       q.protocol,
       q.host,
       q.port,
       q.method,
       q.sni,
       q.bytes_up,
       q.bytes_down,
       CASE WHEN q.allowed THEN 'allowed' ELSE 'denied' END AS decision,
       q.reason,
       q.status,
       q.via,
       q.proc AS proc_idx
FROM _proxy q
LEFT JOIN _proc p ON p.run_id = q.run_id AND p.idx = q.proc
LEFT JOIN _str x ON x.run_id = p.run_id AND x.id = p.exe;
