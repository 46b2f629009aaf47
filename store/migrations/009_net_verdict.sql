-- behavediff trace database, schema version 9: network policy verdicts.
--
-- The sensor's cgroup sock_addr hooks judge unix socket addresses in the
-- kernel (host sockets are refused) and record connect/bind/send
-- destinations from the kernel's own copy. A net event now says when the
-- policy refused it (denied: the call failed with EPERM) or, too late to
-- refuse, killed the caller at the syscall's return (killed: a symlink led
-- a unix connect to a host socket). 0 = no verdict (allowed).
ALTER TABLE _net ADD COLUMN verdict INTEGER NOT NULL DEFAULT 0;

DROP VIEW net_events;
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
       n.proc AS proc_idx,
       CASE n.verdict WHEN 1 THEN 'denied' WHEN 2 THEN 'killed' END AS verdict
FROM _net n
JOIN net_ops o ON o.id = n.op
LEFT JOIN _str a ON a.run_id = n.run_id AND a.id = n.addr
LEFT JOIN _str d ON d.run_id = n.run_id AND d.id = n.domain
LEFT JOIN _proc p ON p.run_id = n.run_id AND p.idx = n.proc
LEFT JOIN _str x ON x.run_id = p.run_id AND x.id = p.exe
LEFT JOIN errnos en ON n.result < 0 AND en.errno = -n.result;
