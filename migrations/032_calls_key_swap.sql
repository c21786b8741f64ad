-- 032: step 2 of 2 (031 built the index): tool_calls' primary key becomes
-- (server_id, ts, call_id), the per-server listing index, and the keys on
-- call_id alone and the old listing index go. One transaction: the table
-- is never without a unique key. Catalog changes only (the index exists),
-- under tool_calls' ACCESS EXCLUSIVE lock for a moment; the lock_timeout
-- makes a migration stuck behind a long transaction fail (the API exits and
-- a restart tries again) instead of queueing the drain and the listings.
--
-- The drain inserts with ON CONFLICT (server_id, ts, call_id) (the
-- replayed record is the same row, api/ap_audit.c). An API from before
-- this migration still running during a rolling upgrade copies new records
-- as before, but its INSERT ... ON CONFLICT (call_id), for entries it reads
-- again, now fails: those entries stay pending in the stream (nothing is
-- lost) and another API claims them 30 s after it is replaced.
SET LOCAL lock_timeout = '5s';
ALTER TABLE tool_calls DROP CONSTRAINT tool_calls_pkey;
DROP INDEX tool_calls_server;
ALTER TABLE tool_calls ADD CONSTRAINT tool_calls_pkey PRIMARY KEY USING INDEX tool_calls_key_031;
