-- migrate: no-transaction
-- 037: fair webhook delivery (adversarial run, defect 1). The claim took
-- due deliveries of every webhook in next_attempt_at order, so one
-- webhook's backlog to a receiver that never answers held every slot of
-- every replica for the whole timeout, and other workspaces' deliveries
-- waited behind it. The claim (api/ap_delivery.c) now takes at most
-- JSMCP_WEBHOOK_PER_WEBHOOK attempts in flight per webhook, counted over
-- all replicas' leases. It needs, per webhook:
-- - its pending deliveries in next_attempt_at order: the webhooks that have
--   any (a skip scan, one probe per webhook, never a walk of the backlog)
--   and their first due ones;
-- - its deliveries in flight: those with a lease (locked_until is set on a
--   claim and cleared when the attempt is recorded), a handful of rows.
-- Built CONCURRENTLY, outside a transaction: writes to webhook_deliveries
-- (events from every write path's triggers) go on during the build. The
-- lock_timeout bounds the waits for the table's lock; an interrupted build
-- leaves an INVALID index, which the runner drops and builds again.
SET lock_timeout = '5s';
CREATE INDEX CONCURRENTLY IF NOT EXISTS webhook_deliveries_hook_due ON webhook_deliveries (webhook_id, next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX CONCURRENTLY IF NOT EXISTS webhook_deliveries_leased ON webhook_deliveries (webhook_id)
    WHERE status = 'pending' AND locked_until IS NOT NULL;
RESET lock_timeout;
