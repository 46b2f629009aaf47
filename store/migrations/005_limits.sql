-- behavediff trace database, schema version 5: sandbox limits.
--
-- Each run keeps the bounds its sandbox had (memory, processes, the disk of
-- the workspace's copy-on-write layer, /tmp, CPU bandwidth) and the ones it
-- reached ("memory limit 4 GiB reached: OOM-killed"), so a run killed by a
-- limit is not mistaken for the program's own failure. Older runs have
-- NULLs: their limits were not recorded.
ALTER TABLE _run ADD COLUMN memory_limit INTEGER; -- bytes
ALTER TABLE _run ADD COLUMN pids_limit   INTEGER; -- processes
ALTER TABLE _run ADD COLUMN disk_limit   INTEGER; -- bytes of the workspace's copy-on-write layer
ALTER TABLE _run ADD COLUMN tmpfs_limit  INTEGER; -- bytes of /tmp
ALTER TABLE _run ADD COLUMN cpu_limit    REAL;    -- CPUs of bandwidth (cgroup cpu.max)
ALTER TABLE _run ADD COLUMN limits_hit   TEXT NOT NULL DEFAULT ''; -- limits reached, "; "-separated

DROP VIEW runs;
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
       r.ended_ns,
       r.memory_limit,
       r.pids_limit,
       r.disk_limit,
       r.tmpfs_limit,
       r.cpu_limit,
       NULLIF(r.limits_hit, '') AS limits_hit
FROM _run r;
