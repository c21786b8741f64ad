-- 008: a cheaper audit drain (issue 21; api/ap_audit.c). Each drained
-- record cost PostgreSQL five index insertions and two speculative unique
-- checks; now three, of which one unique:
-- - call_id is the primary key (exactly once per tool call, whatever the
--   stream id of its copy), stored as a uuid (its 32 hex digits); records
--   of workers from before call_id get one derived from their stream id,
--   as the drain does for such records; id stays (the listing's order and
--   cursor) without an index of its own, stream_id stays as information;
-- - the per-server index is (server_id, id DESC): a server id is unique,
--   the workspace and account of a listing are checked on the rows found;
-- - the retention index on ts is a BRIN: rows arrive in ts order.
UPDATE tool_calls SET call_id = left(encode(sha256(convert_to('stream:' || stream_id, 'UTF8')), 'hex'), 32)
    WHERE call_id IS NULL;
DROP INDEX tool_calls_call_id;
ALTER TABLE tool_calls ALTER COLUMN call_id TYPE uuid USING call_id::uuid;
ALTER TABLE tool_calls DROP CONSTRAINT tool_calls_pkey;
ALTER TABLE tool_calls ADD PRIMARY KEY (call_id);
ALTER TABLE tool_calls DROP CONSTRAINT tool_calls_stream_id_key;
DROP INDEX tool_calls_server;
CREATE INDEX tool_calls_server ON tool_calls (server_id, id DESC);
DROP INDEX tool_calls_ts;
CREATE INDEX tool_calls_ts ON tool_calls USING brin (ts);
