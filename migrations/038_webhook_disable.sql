-- 038: webhooks whose receiver keeps failing are disabled (api/ap_delivery.c;
-- docs/admin-api.md, "Webhooks"). Until now every event to a receiver that
-- never succeeds was retried for a day (up to 20 attempts), forever, each
-- attempt taking a delivery slot.
-- - disabled_at, disabled_reason: set when the webhook is disabled, by the
--   delivery loop or by PATCH /webhooks/:id {"enabled": false}; cleared by
--   {"enabled": true}. A disabled webhook's pending deliveries are not
--   claimed (they resume when it is enabled again) and no event is queued
--   for it (jsmcp_webhook_emit below, the server.expiring scan).
-- - consecutive_failures, failing_since: the run of deliveries that ended
--   failed since the last one that succeeded, and when the first of them
--   was created. Kept on the row by the statement that records a delivery's
--   outcome (one row, under the webhook row's lock) so that the rule "the
--   last JSMCP_WEBHOOK_DISABLE_AFTER finished deliveries failed, over at
--   least JSMCP_WEBHOOK_DISABLE_FAILING" costs no scan of the delivery log
--   (which has no (webhook_id, completed_at) index). Bookkeeping: left out
--   of the admin trail's diff (below), like last_used_at.
-- All four columns are catalog-only on PostgreSQL >= 11 (nullable, or a
-- constant default): no row is rewritten. ALTER TABLE takes webhooks'
-- ACCESS EXCLUSIVE lock for a moment; the lock_timeout makes a migration
-- stuck behind a long transaction fail (the API exits and a restart tries
-- again) instead of queueing every delivery claim and event behind it.
SET LOCAL lock_timeout = '5s';
ALTER TABLE webhooks ADD COLUMN IF NOT EXISTS disabled_at timestamptz,
                     ADD COLUMN IF NOT EXISTS disabled_reason text,
                     ADD COLUMN IF NOT EXISTS consecutive_failures int NOT NULL DEFAULT 0,
                     ADD COLUMN IF NOT EXISTS failing_since timestamptz;

-- Events are not queued for a disabled webhook (as 021, and "AND
-- w.disabled_at IS NULL"): what happens while it is disabled is not sent
-- later. A write that races the disable may still queue one; it waits,
-- pending, like the ones queued before.
CREATE OR REPLACE FUNCTION jsmcp_webhook_emit(ws uuid, ev text, eid uuid, data jsonb) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO webhook_deliveries (webhook_id, workspace_id, event, event_id, payload)
    SELECT w.id, w.workspace_id, ev, e.id, jsmcp_webhook_envelope(e.id, ev, w.workspace_id, data)
    FROM webhooks w, (SELECT coalesce(eid, gen_random_uuid()) AS id) e
    WHERE (ws IS NULL OR w.workspace_id = ws) AND ev = ANY (w.events) AND w.disabled_at IS NULL
    ON CONFLICT (webhook_id, event_id) DO NOTHING
$$;

-- As 029, with consecutive_failures and failing_since left out of the diff:
-- they change with every failed delivery, and the trail records what an
-- operator (or the service, disabling a webhook) changed, not bookkeeping.
-- An update that changes only them has an empty diff and writes no event
-- (jsmcp_admin_event: "bookkeeping only").
CREATE OR REPLACE FUNCTION jsmcp_admin_diff(o jsonb, n jsonb) RETURNS jsonb LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN (
    SELECT coalesce(jsonb_object_agg(
               CASE k WHEN 'credentials_sealed' THEN 'credentials' WHEN 'token_hash' THEN 'token'
                      WHEN 'prev_token_hash' THEN 'previous_token' WHEN 'key_hash' THEN 'key'
                      WHEN 'client_secret_sealed' THEN 'client_secret' WHEN 'secret_sealed' THEN 'secret'
                      ELSE k END,
               CASE WHEN k IN ('credentials_sealed', 'token_hash', 'prev_token_hash', 'key_hash',
                               'client_secret_sealed', 'secret_sealed')
                    THEN to_jsonb('changed'::text)
                    ELSE jsonb_build_object('from', o -> k, 'to', n -> k) END), '{}'::jsonb)
    FROM (SELECT jsonb_object_keys(o) AS k UNION SELECT jsonb_object_keys(n)) keys
    WHERE k NOT IN ('id', 'workspace_id', 'version', 'created_at', 'updated_at', 'last_used_at',
                    'cred_version', 'access_expires_at', 'refresh_retry_at', 'key_id', 'rotated_at',
                    'consecutive_failures', 'failing_since')
      AND coalesce(o -> k, 'null') IS DISTINCT FROM coalesce(n -> k, 'null')); -- a new row's NULLs are no change
END $$;
