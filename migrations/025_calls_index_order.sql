-- 025: a cheaper audit drain (issue 21). The listing indexes of tool_calls
-- were ordered (..., id DESC): id grows with every drained record, so each
-- insertion went to the first slot of its server's (or workspace's) range,
-- the page it landed on split in halves that never filled again, and
-- PostgreSQL never took its fast path for insertions at the right end of a
-- btree. In ascending order the same indexes serve the same queries (GET
-- /calls reads them backwards for ORDER BY id DESC, with the keyset
-- condition id < $n), and new entries go to the end of their range: the
-- drain's per-record index cost falls, and the indexes are about half the
-- size (bench/audit_drain.sh, BENCHMARKS.md).
DROP INDEX tool_calls_server;
CREATE INDEX tool_calls_server ON tool_calls (server_id, id);
DROP INDEX tool_calls_workspace;
CREATE INDEX tool_calls_workspace ON tool_calls (workspace_id, id);
