-- behavediff trace database: malformed inputs.
--
-- Payloads the traced code sends to or receives from port 53 that do not
-- parse as DNS are counted per run and kind instead of being dropped
-- silently. They are the code's (or its peer's) bytes, not lost events: the
-- run keeps status ok.
CREATE TABLE _malformed (
	run_id INTEGER NOT NULL REFERENCES _run(id) ON DELETE CASCADE,
	kind   TEXT    NOT NULL,
	count  INTEGER NOT NULL,
	PRIMARY KEY (run_id, kind)
) WITHOUT ROWID;

CREATE VIEW malformed_inputs AS
SELECT run_id, kind, count FROM _malformed;
