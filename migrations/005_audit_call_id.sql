-- 005: call_id on the audit log. A worker writes each tool call's record to
-- a local spool before it answers (worker/wk_spool.h); a record whose
-- acknowledgement from Redis was not yet noted when its worker died is sent
-- again by another worker, as a new stream entry with the same call_id.
-- The unique index keeps one row per call (rows from before have NULL).
ALTER TABLE tool_calls ADD COLUMN call_id text;
CREATE UNIQUE INDEX tool_calls_call_id ON tool_calls (call_id);
