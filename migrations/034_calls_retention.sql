-- 034: the retention of tool_calls reads only what is due (issue 21).
-- Until now each API replica ran, every JSMCP_RETENTION_INTERVAL_MS,
--   DELETE ... WHERE ctid = ANY (ARRAY (SELECT ctid FROM tool_calls
--     WHERE ts < now() - <days> LIMIT 10000))
-- through the BRIN on ts (migration 008). A BRIN narrows a scan only where
-- its ranges are summarized and their rows are in ts order, and here they
-- are neither for long:
-- - a range is summarized only by a VACUUM of tool_calls (autovacuum comes
--   after 20% more rows, so days of a large table's rows at a time); every
--   unsummarized range matches any condition and is read whole;
-- - retention frees space in the oldest pages, new rows fill it, and the
--   summary of a range only ever widens: once a range held a row past the
--   cutoff it matches every later pass too.
-- So a pass that found nothing due read every page of those ranges; on a
-- table that had cycled once through retention, all of it, every minute,
-- in each replica (bench/retention.sh: all 48,667 pages of a 2,000,000-row
-- table, 300-580 ms a pass; BENCHMARKS.md "Retention of tool_calls").
-- Now the pass walks the workspace listing index (workspace_id, ts,
-- call_id) and reads only entries in [since, cutoff):
-- - the workspaces with records are found one descent each (a loose index
--   scan, downward: the next workspace_id below the last one that has an
--   entry at or after since). Downward, a descent lands on a workspace's
--   newest entry, not on the dead entries retention left at its old end
--   (they stay in the index until a VACUUM), and the condition on ts is
--   checked in the index, so a workspace whose records all went is passed
--   over without reading its table rows;
-- - in each, the entries from since to the cutoff, oldest first.
-- since is where the last complete pass of this API process stopped (its
-- cutoff): every record older than that was deleted then, and so were the
-- index entries' rows, so the pass starts after them instead of walking
-- them again at every pass. '-infinity' is a full pass: the API runs one at
-- start, after it inserted a record already past a cutoff (a worker's spool
-- replaying an old record, a backlog drained after a long outage), which
-- may be older than since, and once a day.
-- A pass with nothing due reads one index entry per workspace and, once
-- VACUUM has set the visibility map, no table page. Records of a workspace
-- deleted since are found the same way (the index holds them). 035 drops
-- the BRIN, which nothing reads any more and every drained record paid
-- for.
--
-- Returns the rows deleted (max_rows: there may be more due) and the
-- cutoff used, the since of the next pass once a pass deleted fewer than
-- max_rows.
SET LOCAL lock_timeout = '5s';
CREATE FUNCTION jsmcp_calls_retention(days int, max_rows int, since timestamptz, OUT deleted bigint,
                                      OUT cutoff timestamptz) LANGUAGE sql AS $$
    WITH RECURSIVE ws AS (
        (SELECT c.workspace_id AS id FROM tool_calls c WHERE c.ts >= since ORDER BY c.workspace_id DESC LIMIT 1)
        UNION ALL
        SELECT (SELECT c.workspace_id FROM tool_calls c WHERE c.workspace_id < ws.id AND c.ts >= since
                ORDER BY c.workspace_id DESC LIMIT 1)
        FROM ws WHERE ws.id IS NOT NULL
    ), due AS (
        SELECT d.ctid FROM ws CROSS JOIN LATERAL (
            SELECT c.ctid FROM tool_calls c
            WHERE c.workspace_id = ws.id AND c.ts >= since AND c.ts < now() - days * interval '1 day'
            ORDER BY c.ts LIMIT max_rows) d
        LIMIT max_rows
    ), gone AS (
        DELETE FROM tool_calls WHERE ctid = ANY (ARRAY (SELECT ctid FROM due)) RETURNING 1
    )
    SELECT count(*), now() - days * interval '1 day' FROM gone
$$;
