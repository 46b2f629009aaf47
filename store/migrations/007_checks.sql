-- behavediff trace database, schema version 7: checks, their findings, and
-- where merged runs came from.
--
-- Every "behavediff check" (and "diff" with --db writable) stores its
-- verdict per spec and the findings behind it, so "which runs failed, and
-- why" is one SQL query. A check row without a run is a spec that could not
-- even be replayed (status error). Findings keep the text check printed:
-- the report is what was decided, even if the risk policy later changes.
--
-- "behavediff merge" renumbers the runs it copies; _origin keeps, per
-- copied run, the database it came from and its id there.

CREATE TABLE _check (
	id           INTEGER PRIMARY KEY AUTOINCREMENT,
	run_id       INTEGER REFERENCES _run(id) ON DELETE CASCADE, -- NULL: no run
	spec         TEXT    NOT NULL,
	command      TEXT    NOT NULL,  -- check, diff
	status       TEXT    NOT NULL,  -- pass, fail, new, inconclusive, error
	fail_on      TEXT    NOT NULL,  -- level name
	error        TEXT,
	checked_ns   INTEGER NOT NULL,  -- unix ns
	tool_version TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX _check_run ON _check(run_id);
CREATE INDEX _check_spec ON _check(spec, id);

CREATE TABLE _finding (
	check_id    INTEGER NOT NULL REFERENCES _check(id) ON DELETE CASCADE,
	idx         INTEGER NOT NULL,  -- order in the report (worst first)
	level       INTEGER NOT NULL,  -- 0 none .. 4 critical
	rule_id     TEXT    NOT NULL,
	kind        TEXT    NOT NULL,
	change      TEXT    NOT NULL,
	section     TEXT    NOT NULL,
	subject     TEXT    NOT NULL,
	reason      TEXT    NOT NULL,
	process     TEXT    NOT NULL DEFAULT '',
	query       TEXT    NOT NULL DEFAULT '',
	fingerprint TEXT    NOT NULL,
	PRIMARY KEY (check_id, idx)
) WITHOUT ROWID;
CREATE INDEX _finding_fp ON _finding(fingerprint);

CREATE TABLE _origin (
	run_id        INTEGER PRIMARY KEY REFERENCES _run(id) ON DELETE CASCADE,
	source        TEXT    NOT NULL,  -- the database file the run was merged from
	source_run_id INTEGER NOT NULL   -- its id there
);

CREATE TABLE levels (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
INSERT INTO levels VALUES (0, 'none'), (1, 'low'), (2, 'medium'), (3, 'high'), (4, 'critical');

CREATE VIEW checks AS
SELECT c.id,
       c.run_id,
       c.spec,
       c.command,
       c.status,
       c.fail_on,
       c.error,
       strftime('%Y-%m-%dT%H:%M:%S', c.checked_ns / 1000000000, 'unixepoch')
         || printf('.%03dZ', (c.checked_ns / 1000000) % 1000) AS checked_at,
       (SELECT count(*) FROM _finding f WHERE f.check_id = c.id) AS finding_count,
       (SELECT l.name FROM _finding f JOIN levels l ON l.id = f.level
         WHERE f.check_id = c.id ORDER BY f.level DESC LIMIT 1) AS worst_level,
       NULLIF(c.tool_version, '') AS tool_version,
       c.checked_ns
FROM _check c;

CREATE VIEW findings AS
SELECT f.check_id,
       c.run_id,
       c.spec,
       l.name AS level,
       f.rule_id,
       f.kind,
       f.change,
       f.section,
       f.subject,
       f.reason,
       NULLIF(f.process, '') AS process,
       NULLIF(f.query, '') AS query,
       f.fingerprint,
       c.status AS check_status,
       f.idx
FROM _finding f
JOIN _check c ON c.id = f.check_id
JOIN levels l ON l.id = f.level;

CREATE VIEW run_origins AS
SELECT run_id, source, source_run_id FROM _origin;
