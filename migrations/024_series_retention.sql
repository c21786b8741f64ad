-- 024: the call series (GET /calls/series) and the retention of the admin
-- audit trail (issue 26).
--
-- The series aggregates one workspace's calls over a time range: this index
-- reads exactly the rows of that range (tool_calls_workspace is ordered by
-- id, the drain order, and the BRIN on ts covers every workspace's rows).
CREATE INDEX tool_calls_workspace_ts ON tool_calls (workspace_id, ts);

-- JSMCP_ADMIN_EVENTS_RETENTION_DAYS: the oldest events of every workspace,
-- deleted in batches (api/ap_events.c).
CREATE INDEX admin_events_created ON admin_events (created_at);
