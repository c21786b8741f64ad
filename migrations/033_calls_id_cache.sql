-- 033: tool_calls.id from a cache of 1,000 numbers per connection, a
-- cheaper audit drain (issue 21). Every drained record took its id with
-- nextval() on the shared sequence: the sequence's page locked and changed,
-- and a WAL record every 32 numbers; 4.1% of PostgreSQL's CPU per record in
-- a perf profile of the drain, 1.8% with the cache (BENCHMARKS.md "Audit
-- drain: the listing index as the primary key"). id is the record's number,
-- unique, not an order (docs/admin-api.md; the listings go by ts and
-- call_id since 026): with the cache, the API's connections hand out
-- numbers from their own blocks, and the numbers a connection had not used
-- when it closed are skipped. Only the sequence is locked, for a moment.
SET LOCAL lock_timeout = '5s';
ALTER SEQUENCE tool_calls_id_seq CACHE 1000;
