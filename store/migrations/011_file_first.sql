-- behavediff trace database: an index of each run's first file events.
--
-- store.LoadDistinct (what baselines, and so every diff, are built from)
-- reads the file events with dup IS NULL: the first of each behaviour, a
-- few thousand of a build's million events. Without an index it visits
-- every row of the run to test dup. This partial index holds the first
-- events alone, in recording order, with every column the read needs
-- (covering: no lookup into _file per row). The writer pays one index
-- entry per first event; repeats, the bulk, cost nothing more.
CREATE INDEX _file_first ON _file(run_id, seq, proc, op, path, path2, flags, mode, result, ts, pflags, dup)
	WHERE dup IS NULL;
