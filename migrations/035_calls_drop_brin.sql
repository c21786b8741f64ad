-- migrate: no-transaction
-- 035: the BRIN on tool_calls.ts goes (issue 21). Retention, its only
-- reader, walks the workspace listing index since 034; every drained record
-- paid an insertion into it (2.5% of PostgreSQL's CPU per record in a
-- profile of the drain, BENCHMARKS.md). CONCURRENTLY, outside a transaction:
-- a plain DROP INDEX would wait for, and then block, the drain's inserts and
-- the listings. An API from before 034 still running during a rolling
-- upgrade runs its old retention statement without the index (a scan of
-- tool_calls until it finds 10,000 due rows) until it is replaced.
DROP INDEX CONCURRENTLY IF EXISTS tool_calls_ts;
