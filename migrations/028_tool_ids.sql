-- 028: a tool's name as a number in tool_calls, a cheaper audit drain
-- (issue 21). The name (49 bytes on average with the catalog's names, ~18% of
-- a row) was repeated in every record; the heap is about a third of
-- PostgreSQL's CPU per drained record (BENCHMARKS.md). Now:
-- - tool_names gives each name a number, once: a row is never updated or
--   deleted, so a number names the same tool for good (the drain and every
--   reader rely on it; there is no foreign key, which would cost the drain a
--   check per row);
-- - the drain (api/ap_audit.c) stores a name it has a number for as tool_id
--   (4 bytes) and leaves tool NULL. A name that is not 1 to 64 bytes of
--   [A-Za-z0-9_.-], or that comes while tool_names holds 1,024 names (a
--   bound against a worker sending endless new names: about 1,024 plus what
--   replicas add at the same moment), stays text in tool, as before;
-- - every reader shows coalesce(tool, the name of tool_id): GET /calls, the
--   per-server listing, the NDJSON and CSV exports, the tool= filter
--   (api/ap_calls.c) and the usage rollup below, so the output is the same
--   byte for byte for old rows and new ones.
-- Catalog-only on a table of any size, as 027: a nullable column without a
-- default adds no bytes to existing rows, DROP NOT NULL and a NOT VALID check
-- read no rows; old rows are not rewritten.
SET LOCAL lock_timeout = '5s';
CREATE TABLE IF NOT EXISTS tool_names (
    id    int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name  text NOT NULL UNIQUE
);
ALTER TABLE tool_calls ADD COLUMN IF NOT EXISTS tool_id int;
ALTER TABLE tool_calls ALTER COLUMN tool DROP NOT NULL;
-- Every row still names its tool, one way or the other. NOT VALID: checked
-- for new rows only, no scan of the old ones (which all have tool).
ALTER TABLE tool_calls ADD CONSTRAINT tool_calls_tool_named CHECK (tool IS NOT NULL OR tool_id IS NOT NULL) NOT VALID;

-- usage_daily keeps the name (its readers and its key are unchanged). Each
-- row of a statement gets its name from a hash of tool_names (built once per
-- statement; a lookup per group of rows through the index cost more:
-- BENCHMARKS.md), and the rows are grouped by the name, so a name stored both
-- ways in one statement still makes one upsert per key (ON CONFLICT DO UPDATE
-- may not touch a row twice).
CREATE OR REPLACE FUNCTION jsmcp_usage_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_daily AS u (workspace_id, day, account_id, server_id, tool, calls, errors, rate_limited,
                                  upstream_ms, bytes_to_model)
    SELECT r.workspace_id, (r.ts AT TIME ZONE 'UTC')::date, r.account_id, r.server_id, coalesce(r.tool, n.name),
           count(*), count(*) FILTER (WHERE r.error_class IS NOT NULL),
           count(*) FILTER (WHERE r.error_class IN ('rate_limited', 'paced')),
           coalesce(sum(r.latency_ms), 0), coalesce(sum(r.result_bytes), 0)
    FROM new_rows r LEFT JOIN tool_names n ON n.id = r.tool_id
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (workspace_id, day, account_id, server_id, tool) DO UPDATE
        SET calls = u.calls + excluded.calls, errors = u.errors + excluded.errors,
            rate_limited = u.rate_limited + excluded.rate_limited,
            upstream_ms = u.upstream_ms + excluded.upstream_ms,
            bytes_to_model = u.bytes_to_model + excluded.bytes_to_model;
    RETURN NULL;
END $$;
