-- 027: narrower tool_calls rows, a cheaper audit drain (issue 21).
-- The heap is about 30% of PostgreSQL's CPU per drained record (filling and
-- extending pages, logging them: BENCHMARKS.md), so fewer bytes a row is
-- fewer pages to extend, write and log. Two columns carried bytes that say
-- nothing new:
-- - args_sha256 held the digest as 64 hex digits (65 bytes a row): the drain
--   now stores a well-formed digest (64 lowercase hex digits, what workers
--   send) as its 32 bytes in args_digest (33 a row) and leaves args_sha256
--   NULL; anything else a worker might send stays in args_sha256 as before.
--   Every reader shows coalesce(args_sha256, encode(args_digest, 'hex')), so
--   the API's output is the same byte for byte for old rows and new ones.
-- - stream_id (the Redis entry id, 17 bytes) named a record only before
--   call_id existed; the drain now writes it only for a record without a
--   call_id (whose call_id is derived from it, migration 008).
-- Both changes are catalog-only on a table of any size: a nullable column
-- without a default adds no bytes to existing rows, and DROP NOT NULL checks
-- nothing. They take tool_calls' ACCESS EXCLUSIVE lock for a moment; the
-- lock_timeout makes a migration stuck behind a long transaction fail (the
-- API exits and a restart tries again) instead of queueing the drain and the
-- listings behind it. Old rows are not rewritten.
SET LOCAL lock_timeout = '5s';
ALTER TABLE tool_calls ADD COLUMN IF NOT EXISTS args_digest bytea;
ALTER TABLE tool_calls ALTER COLUMN stream_id DROP NOT NULL;
