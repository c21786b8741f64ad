-- 030: the usage rollup folded in the background, a cheaper audit drain
-- (issue 21). Until now the drain's statement trigger (022, 028) upserted
-- usage_daily in the drain's own transaction: one upsert per (day, account,
-- server, tool) of each batch. With many servers nearly every record of a
-- batch is its own key (1,000 servers and a dozen tools: ~4,000 upserts for
-- 5,000 records), and each upsert is an index search, a locked row, a new
-- row version and a new index entry: the largest single cost of a drained
-- record (BENCHMARKS.md). Now:
-- - the trigger appends the batch's sums, one row per key, to usage_pending,
--   a table with no index, in the same transaction as the records: a record
--   drained twice still counts once (the transition table holds only the
--   rows really inserted);
-- - jsmcp_usage_fold(), called every JSMCP_USAGE_FOLD_MS by each API
--   process (api/ap_audit.c), moves pending rows into usage_daily in one
--   statement: they are deleted and added to their keys' rows together, or
--   not at all. A key is upserted once per fold, not once per batch. Two folds
--   at once (replicas) never count a row twice: the second waits for the
--   rows the first deleted and skips them; both upsert in key order;
-- - usage_all is what GET /usage reads: usage_daily plus what is pending,
--   so the figures are exact at any moment, whenever the last fold ran.
-- An API from before this migration (a rolling upgrade) still reads
-- usage_daily alone: its figures lag by what is pending until the new
-- processes, which fold, replace it.
SET LOCAL lock_timeout = '5s';
CREATE TABLE usage_pending (
    workspace_id    uuid NOT NULL,
    day             date NOT NULL,
    account_id      uuid NOT NULL,
    server_id       uuid NOT NULL,
    tool            text NOT NULL,
    calls           bigint NOT NULL,
    errors          bigint NOT NULL,
    rate_limited    bigint NOT NULL,
    upstream_ms     double precision NOT NULL,
    bytes_to_model  bigint NOT NULL
);
-- Rows live for one fold interval: vacuum its dead rows often, whatever
-- the table's size (the default waits for 20% of it).
ALTER TABLE usage_pending SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 10000);

-- A fold updates every key that had calls since the last one: room on each
-- page for the new versions keeps those updates on the page (HOT: no new
-- entry in usage_daily_pkey). Pages written from now on; a table of any
-- size is not rewritten.
ALTER TABLE usage_daily SET (fillfactor = 50);

-- The rows are grouped by the tool as stored (tool_id or tool) and only
-- the groups are named: a name per row cost more than the grouping (a
-- 5,000-row statement's rollup query 10.0 ms against 6.6, BENCHMARKS.md). A
-- name stored both ways in one statement makes two pending rows of one
-- key; the fold adds them up.
CREATE OR REPLACE FUNCTION jsmcp_usage_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_pending (workspace_id, day, account_id, server_id, tool, calls, errors, rate_limited,
                               upstream_ms, bytes_to_model)
    SELECT g.workspace_id, g.day, g.account_id, g.server_id, coalesce(g.tool, n.name), g.calls, g.errors,
           g.rate_limited, g.upstream_ms, g.bytes_to_model
    FROM (SELECT r.workspace_id, (r.ts AT TIME ZONE 'UTC')::date AS day, r.account_id, r.server_id, r.tool_id,
                 r.tool, count(*) AS calls, count(*) FILTER (WHERE r.error_class IS NOT NULL) AS errors,
                 count(*) FILTER (WHERE r.error_class IN ('rate_limited', 'paced')) AS rate_limited,
                 coalesce(sum(r.latency_ms), 0) AS upstream_ms, coalesce(sum(r.result_bytes), 0) AS bytes_to_model
          FROM new_rows r
          GROUP BY 1, 2, 3, 4, 5, 6) g
    LEFT JOIN tool_names n ON n.id = g.tool_id;
    RETURN NULL;
END $$;

-- Moves at most max_rows pending rows into usage_daily; returns how many
-- it moved (max_rows: there may be more). The rows are picked by ctid and
-- deleted with their sums' upsert in one statement.
CREATE FUNCTION jsmcp_usage_fold(max_rows int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    moved_rows bigint;
BEGIN
    WITH moved AS (
        DELETE FROM usage_pending
        WHERE ctid = ANY (ARRAY(SELECT ctid FROM usage_pending LIMIT max_rows))
        RETURNING *
    ), folded AS (
        INSERT INTO usage_daily AS u (workspace_id, day, account_id, server_id, tool, calls, errors, rate_limited,
                                      upstream_ms, bytes_to_model)
        SELECT workspace_id, day, account_id, server_id, tool, sum(calls), sum(errors), sum(rate_limited),
               sum(upstream_ms), sum(bytes_to_model)
        FROM moved
        GROUP BY 1, 2, 3, 4, 5
        ORDER BY 1, 2, 3, 4, 5
        ON CONFLICT (workspace_id, day, account_id, server_id, tool) DO UPDATE
            SET calls = u.calls + excluded.calls, errors = u.errors + excluded.errors,
                rate_limited = u.rate_limited + excluded.rate_limited,
                upstream_ms = u.upstream_ms + excluded.upstream_ms,
                bytes_to_model = u.bytes_to_model + excluded.bytes_to_model
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM moved) INTO moved_rows FROM (SELECT count(*) FROM folded) f;
    RETURN moved_rows;
END $$;

-- One row per key, as usage_daily would hold once everything is folded.
CREATE VIEW usage_all AS
SELECT workspace_id, day, account_id, server_id, tool, sum(calls)::bigint AS calls, sum(errors)::bigint AS errors,
       sum(rate_limited)::bigint AS rate_limited, sum(upstream_ms) AS upstream_ms,
       sum(bytes_to_model)::bigint AS bytes_to_model
FROM (SELECT workspace_id, day, account_id, server_id, tool, calls, errors, rate_limited, upstream_ms, bytes_to_model
      FROM usage_daily
      UNION ALL
      SELECT workspace_id, day, account_id, server_id, tool, calls, errors, rate_limited, upstream_ms, bytes_to_model
      FROM usage_pending) u
GROUP BY workspace_id, day, account_id, server_id, tool;
