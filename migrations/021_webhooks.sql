-- 021: webhooks (issue 26). A workspace registers URLs and the events each
-- wants; an event becomes one delivery per subscribed webhook, written in the
-- same transaction as what caused it (a trigger below, or the API's scans),
-- and any API replica delivers it (api/ap_delivery.c): it claims due rows
-- with FOR UPDATE SKIP LOCKED and a lease (locked_until), so one replica
-- sends a given delivery, and another takes it over only once the lease of
-- a replica that died has passed.

-- The signing secret is sealed (secret_seal, additional data
-- "webhook:<id>") under the master key named by key_id: deliveries need
-- it in clear to sign, so it cannot be a hash. It is returned once.
CREATE TABLE webhooks (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id     uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    url              text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    events           text[] NOT NULL CHECK (cardinality(events) BETWEEN 1 AND 16),
    description      text CHECK (description IS NULL OR length(description) <= 200),
    expiring_lead_s  int NOT NULL DEFAULT 604800 CHECK (expiring_lead_s BETWEEN 60 AND 7776000),
    secret_sealed    text NOT NULL,
    key_id           text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_page ON webhooks (workspace_id, created_at, id);

-- One row per (webhook, event). event_id is the event's, the same for every
-- webhook it goes to; events found by a scan (server.expiring, audit.backlog,
-- ratelimit.burst) get an id derived from what they are about, so replicas
-- scanning at once insert each only once (the unique constraint).
-- payload is the exact body that is signed and sent. attempt_log holds one
-- object per attempt (at most max attempts, see ap_delivery.c).
CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    webhook_id       uuid NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    workspace_id     uuid NOT NULL,
    event            text NOT NULL,
    event_id         uuid NOT NULL,
    payload          text NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts         int NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    locked_until     timestamptz,
    last_status      int,
    last_error       text,
    last_attempt_at  timestamptz,
    attempt_log      jsonb NOT NULL DEFAULT '[]',
    created_at       timestamptz NOT NULL DEFAULT now(),
    completed_at     timestamptz,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_page ON webhook_deliveries (webhook_id, created_at, id);
CREATE INDEX webhook_deliveries_done ON webhook_deliveries (completed_at) WHERE status <> 'pending';

-- The body of every delivery (docs/admin-api.md, "Webhooks").
CREATE FUNCTION jsmcp_webhook_envelope(eid uuid, ev text, ws uuid, data jsonb) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', eid, 'type', ev,
                             'created_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
                             'workspace_id', ws, 'data', data)::text
$$;

-- Fans one event out to the webhooks that want it: those of workspace ws
-- (NULL: of every workspace, for events about the service itself such as
-- audit.backlog). eid NULL: a new random event id.
CREATE FUNCTION jsmcp_webhook_emit(ws uuid, ev text, eid uuid, data jsonb) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO webhook_deliveries (webhook_id, workspace_id, event, event_id, payload)
    SELECT w.id, w.workspace_id, ev, e.id, jsmcp_webhook_envelope(e.id, ev, w.workspace_id, data)
    FROM webhooks w, (SELECT coalesce(eid, gen_random_uuid()) AS id) e
    WHERE (ws IS NULL OR w.workspace_id = ws) AND ev = ANY (w.events)
    ON CONFLICT (webhook_id, event_id) DO NOTHING
$$;

-- account.needs_reauth: the account's OAuth refresh token was refused
-- (api/ap_refresh.c), in the transaction that marks it.
CREATE FUNCTION jsmcp_acct_webhook_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM jsmcp_webhook_emit(NEW.workspace_id, 'account.needs_reauth', NULL,
        jsonb_build_object('account', jsonb_build_object('id', NEW.id, 'tenant_id', NEW.tenant_id,
                                                         'site_url', NEW.site_url, 'auth_type', NEW.auth_type)));
    RETURN NULL;
END $$;
CREATE TRIGGER integrated_accounts_webhook_events AFTER UPDATE OF status ON integrated_accounts
    FOR EACH ROW WHEN (NEW.status = 'needs_reauth' AND OLD.status IS DISTINCT FROM 'needs_reauth')
    EXECUTE FUNCTION jsmcp_acct_webhook_events();

-- server.expired (the sweeper removed it at its expiry) or server.deleted
-- (DELETE of the server or of its account), in the deleting transaction.
CREATE FUNCTION jsmcp_srv_webhook_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM jsmcp_webhook_emit(OLD.workspace_id,
        CASE WHEN OLD.expires_at IS NOT NULL AND OLD.expires_at <= now() THEN 'server.expired' ELSE 'server.deleted' END,
        NULL,
        jsonb_build_object('server', jsonb_build_object('id', OLD.id, 'account_id', OLD.account_id, 'name', OLD.name,
            'expires_at', to_char(OLD.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))));
    RETURN NULL;
END $$;
CREATE TRIGGER mcp_servers_webhook_events AFTER DELETE ON mcp_servers
    FOR EACH ROW EXECUTE FUNCTION jsmcp_srv_webhook_events();
