-- behavediff trace database: an index of each run's first file events.
--
-- store.LoadDistinct (what baselines, and so every diff, are built from)
-- reads the file events with dup IS NULL: the first of each behaviour, a
-- few thousand of a run's million. Without an index it still visits every
-- row to test dup; this partial index holds only the first events, in
-- recording order, so the read visits those alone. The writer pays one
-- index entry per first event (repeats, the bulk, cost nothing more).
CREATE INDEX _file_first ON _file(run_id, seq) WHERE dup IS NULL;
