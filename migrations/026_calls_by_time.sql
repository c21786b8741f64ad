-- migrate: no-transaction
-- 026: a cheaper audit drain (issue 21): one btree fewer on tool_calls.
-- Every drained record paid an insertion into the primary key (call_id), the
-- per-server listing index (server_id, id), the workspace listing index
-- (workspace_id, id) and the series index (workspace_id, ts), about a tenth
-- of PostgreSQL's CPU per record each (perf, BENCHMARKS.md). Now the listings
-- (GET /calls, the per-server route, the exports) go newest first by the
-- call's time, ties by call_id, with the keyset (ts, call_id)
-- (api/ap_calls.c), so one index per scope serves a listing, its since/until
-- range and the series:
-- - (workspace_id, ts, call_id): GET /calls and GET /calls/series;
-- - (server_id, ts, call_id): a server's listing and server_id=.
-- The primary key (call_id) still keeps one row per call; the BRIN on ts
-- serves the retention delete; id stays (the record's number) without an
-- index.
--
-- Outside a transaction, CONCURRENTLY: on a large tool_calls a plain CREATE
-- INDEX would block the drain's inserts (and DROP INDEX the listings) for the
-- whole build. The new indexes are built under a temporary name first, so an
-- API still running the old code keeps its plans until the old ones go. Every
-- statement is idempotent: a crash anywhere makes the next start run the file
-- again (an INVALID index left by an interrupted build is dropped and rebuilt
-- by the runner, api/ap_migrate.c). A crash after a RENAME rebuilds that
-- index once more: correct, only slower.
CREATE INDEX CONCURRENTLY IF NOT EXISTS tool_calls_server_026 ON tool_calls (server_id, ts, call_id);
CREATE INDEX CONCURRENTLY IF NOT EXISTS tool_calls_workspace_026 ON tool_calls (workspace_id, ts, call_id);
DROP INDEX CONCURRENTLY IF EXISTS tool_calls_server;
DROP INDEX CONCURRENTLY IF EXISTS tool_calls_workspace;
DROP INDEX CONCURRENTLY IF EXISTS tool_calls_workspace_ts;
ALTER INDEX IF EXISTS tool_calls_server_026 RENAME TO tool_calls_server;
ALTER INDEX IF EXISTS tool_calls_workspace_026 RENAME TO tool_calls_workspace;
