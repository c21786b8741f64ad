-- 022: usage metering and ratelimit.burst (issue 26), both maintained as
-- tool-call records are drained: a statement-level trigger on tool_calls
-- sees the rows one drain statement inserted (its transition table: only
-- rows really inserted, so a record drained twice counts once), in that
-- statement's transaction. Nothing scans tool_calls; the rollup outlives the
-- records' retention (JSMCP_AUDIT_RETENTION_DAYS), so it can be billed from.

-- Bytes of the tool result returned to the model (the worker's
-- result_bytes field; NULL on records of older workers).
ALTER TABLE tool_calls ADD COLUMN result_bytes bigint;

-- Workspace-wide search (GET /calls): newest first within a workspace.
CREATE INDEX tool_calls_workspace ON tool_calls (workspace_id, id DESC);

-- One row per UTC day, account, server and tool. errors: records with an
-- error_class; rate_limited: of those, rate_limited or paced; upstream_ms:
-- the sum of the calls' latency_ms (the worker's clock around the upstream
-- request); bytes_to_model: the sum of result_bytes.
CREATE TABLE usage_daily (
    workspace_id    uuid NOT NULL,
    day             date NOT NULL,
    account_id      uuid NOT NULL,
    server_id       uuid NOT NULL,
    tool            text NOT NULL,
    calls           bigint NOT NULL DEFAULT 0,
    errors          bigint NOT NULL DEFAULT 0,
    rate_limited    bigint NOT NULL DEFAULT 0,
    upstream_ms     double precision NOT NULL DEFAULT 0,
    bytes_to_model  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (workspace_id, day, account_id, server_id, tool)
);

-- Rows are upserted in key order, so two drains (replicas, or one
-- replica's overlapping batches) lock the rows they share in the same order
-- and never deadlock.
CREATE FUNCTION jsmcp_usage_rollup() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO usage_daily AS u (workspace_id, day, account_id, server_id, tool, calls, errors, rate_limited,
                                  upstream_ms, bytes_to_model)
    SELECT workspace_id, (ts AT TIME ZONE 'UTC')::date, account_id, server_id, tool, count(*),
           count(*) FILTER (WHERE error_class IS NOT NULL),
           count(*) FILTER (WHERE error_class IN ('rate_limited', 'paced')),
           coalesce(sum(latency_ms), 0), coalesce(sum(result_bytes), 0)
    FROM new_rows
    GROUP BY 1, 2, 3, 4, 5
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (workspace_id, day, account_id, server_id, tool) DO UPDATE
        SET calls = u.calls + excluded.calls, errors = u.errors + excluded.errors,
            rate_limited = u.rate_limited + excluded.rate_limited,
            upstream_ms = u.upstream_ms + excluded.upstream_ms,
            bytes_to_model = u.bytes_to_model + excluded.bytes_to_model;
    RETURN NULL;
END $$;
CREATE TRIGGER tool_calls_usage AFTER INSERT ON tool_calls
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION jsmcp_usage_rollup();

-- ratelimit.burst: a run of upstream 429s for an account is 429s less than
-- a minute apart (by the records' ts); when a run reaches 10, the event is
-- emitted once (its id derives from the account and the run's start). A
-- minute without a 429 ends the run; the next one starts a new run.
CREATE TABLE ratelimit_runs (
    account_id    uuid PRIMARY KEY,
    workspace_id  uuid NOT NULL,
    run_start     timestamptz NOT NULL,
    run_last      timestamptz NOT NULL,
    n             bigint NOT NULL
);

CREATE FUNCTION jsmcp_ratelimit_burst() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    run record;
BEGIN
    FOR run IN
        WITH hits AS (
            SELECT account_id, min(workspace_id::text)::uuid AS workspace_id, count(*) AS n, min(ts) AS first,
                   max(ts) AS last
            FROM new_rows WHERE upstream_status = 429
            GROUP BY account_id ORDER BY account_id
        ), runs AS (
            INSERT INTO ratelimit_runs AS r (account_id, workspace_id, run_start, run_last, n)
            SELECT account_id, workspace_id, first, last, n FROM hits
            ON CONFLICT (account_id) DO UPDATE SET
                run_start = CASE WHEN excluded.run_start > r.run_last + interval '1 minute' THEN excluded.run_start
                                 ELSE r.run_start END,
                n = CASE WHEN excluded.run_start > r.run_last + interval '1 minute' THEN excluded.n
                         ELSE r.n + excluded.n END,
                run_last = greatest(r.run_last, excluded.run_last)
            RETURNING r.*
        )
        SELECT runs.*, hits.n AS added FROM runs JOIN hits USING (account_id)
    LOOP
        -- Once per run: in the statement whose records take it to 10.
        IF run.n >= 10 AND run.n - run.added < 10 THEN
            PERFORM jsmcp_webhook_emit(run.workspace_id, 'ratelimit.burst',
                md5('ratelimit.burst:' || run.account_id || ':' || extract(epoch FROM run.run_start))::uuid,
                jsonb_build_object(
                    'account', (SELECT jsonb_build_object('id', run.account_id, 'tenant_id', a.tenant_id,
                                                          'site_url', a.site_url)
                                FROM (SELECT 1) one LEFT JOIN integrated_accounts a ON a.id = run.account_id),
                    'count', run.n, 'threshold', 10,
                    'since', to_char(run.run_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')));
        END IF;
    END LOOP;
    RETURN NULL;
END $$;
CREATE TRIGGER tool_calls_ratelimit_burst AFTER INSERT ON tool_calls
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION jsmcp_ratelimit_burst();
