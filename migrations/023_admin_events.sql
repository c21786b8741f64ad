-- 023: the admin audit trail (issue 26; docs/admin-api.md, "Audit events").
-- Every write of an account, MCP server, API key, OAuth app or webhook becomes one
-- row, written by the triggers below in the writer's own transaction, so no
-- write path can forget it and a write that rolls back leaves no event.
--
-- Who: the API sets jsmcp.actor (set_config(..., true): for its transaction
-- only) at the start of each write transaction (api/ap_app.c) to a JSON
-- object {"key_id", "key_prefix", "client_ip", "route"}. Writes the service
-- makes on its own (the OAuth refresher, the sweeper) have no actor: their
-- events carry NULL key and IP.
--
-- diff: {field: {"from": old, "to": new}} for each changed field; secret
-- fields (credentials, tokens, key hashes, client secrets) appear only as
-- "changed", never with a value. Bookkeeping columns are left out.
CREATE TABLE admin_events (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id  uuid NOT NULL, -- no foreign key: see the trigger on workspaces below
    created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
    action        text NOT NULL,
    object_type   text NOT NULL,
    object_id     uuid NOT NULL,
    key_id        uuid,
    key_prefix    text,
    client_ip     text,
    diff          jsonb
);
-- GET /audit-events: newest first within a workspace (keyset on created_at, id).
CREATE INDEX admin_events_page ON admin_events (workspace_id, created_at DESC, id DESC);
CREATE INDEX admin_events_object ON admin_events (workspace_id, object_id, created_at DESC, id DESC);

-- The field-level diff of two row images (jsonb), without secrets.
CREATE FUNCTION jsmcp_admin_diff(o jsonb, n jsonb) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
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
                    'cred_version', 'access_expires_at', 'refresh_retry_at', 'key_id', 'rotated_at')
      AND coalesce(o -> k, 'null') IS DISTINCT FROM coalesce(n -> k, 'null') -- a new row's NULLs are no change
$$;

CREATE FUNCTION jsmcp_admin_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    actor  jsonb := nullif(current_setting('jsmcp.actor', true), '')::jsonb;
    o      jsonb := CASE WHEN TG_OP = 'INSERT' THEN '{}'::jsonb ELSE to_jsonb(OLD) END;
    n      jsonb := CASE WHEN TG_OP = 'DELETE' THEN '{}'::jsonb ELSE to_jsonb(NEW) END;
    img    jsonb := CASE WHEN TG_OP = 'DELETE' THEN o ELSE n END;
    otype  text := CASE TG_TABLE_NAME WHEN 'integrated_accounts' THEN 'account' WHEN 'mcp_servers' THEN 'server'
                                      WHEN 'api_keys' THEN 'api_key' WHEN 'webhooks' THEN 'webhook'
                                      ELSE 'oauth_app' END;
    act    text;
    d      jsonb := NULL;
BEGIN
    IF TG_OP = 'INSERT' THEN
        act := otype || '.created';
        d := jsmcp_admin_diff(o, n);
    ELSIF TG_OP = 'DELETE' THEN
        act := CASE WHEN otype = 'api_key' THEN 'api_key.revoked'
                    WHEN otype = 'server' AND actor IS NULL AND (o ->> 'expires_at') IS NOT NULL
                         AND (o ->> 'expires_at')::timestamptz <= now() THEN 'server.expired'
                    ELSE otype || '.deleted' END;
    ELSE
        d := jsmcp_admin_diff(o, n);
        IF otype = 'account' AND n ->> 'status' = 'needs_reauth' AND o ->> 'status' IS DISTINCT FROM 'needs_reauth' THEN
            act := 'account.needs_reauth';
        ELSIF otype = 'account' AND actor IS NULL AND (n ->> 'refresh_retry_at') IS NOT NULL
              AND (n -> 'refresh_retry_at') IS DISTINCT FROM (o -> 'refresh_retry_at') AND d = '{}'::jsonb THEN
            act := 'account.refresh_failed';
        ELSIF d = '{}'::jsonb THEN
            RETURN NULL; -- bookkeeping only (last_used_at, retry times, ...)
        ELSIF actor IS NULL AND NOT EXISTS (SELECT 1 FROM jsonb_object_keys(d) k
                                            WHERE k NOT IN ('credentials', 'client_secret', 'secret')) THEN
            RETURN NULL; -- a successful OAuth refresh or a re-seal under a new master key: routine
        ELSIF otype = 'server' AND d ? 'token' THEN
            act := 'server.rotated';
        ELSE
            act := otype || '.updated';
        END IF;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM workspaces WHERE id = (img ->> 'workspace_id')::uuid) THEN
        RETURN NULL; -- the workspace itself is being deleted (a cascade)
    END IF;
    IF otype = 'account' AND actor ->> 'route' = 'oauth_callback' THEN
        act := 'account.connected';
    END IF;
    INSERT INTO admin_events (workspace_id, action, object_type, object_id, key_id, key_prefix, client_ip, diff)
    VALUES ((img ->> 'workspace_id')::uuid, act, otype,
            (CASE WHEN otype = 'oauth_app' THEN img ->> 'workspace_id' ELSE img ->> 'id' END)::uuid,
            nullif(actor ->> 'key_id', '')::uuid, nullif(actor ->> 'key_prefix', ''),
            nullif(actor ->> 'client_ip', ''), d);
    RETURN NULL;
END $$;

CREATE TRIGGER integrated_accounts_admin_event AFTER INSERT OR UPDATE OR DELETE ON integrated_accounts
    FOR EACH ROW EXECUTE FUNCTION jsmcp_admin_event();
CREATE TRIGGER mcp_servers_admin_event AFTER INSERT OR UPDATE OR DELETE ON mcp_servers
    FOR EACH ROW EXECUTE FUNCTION jsmcp_admin_event();
-- Only the columns an operator changes: authentication stamps last_used_at
-- on keys often.
CREATE TRIGGER api_keys_admin_event AFTER INSERT OR DELETE OR UPDATE OF name, prefix, key_hash, scope, expires_at
    ON api_keys
    FOR EACH ROW EXECUTE FUNCTION jsmcp_admin_event();
CREATE TRIGGER webhooks_admin_event AFTER INSERT OR UPDATE OR DELETE ON webhooks
    FOR EACH ROW EXECUTE FUNCTION jsmcp_admin_event();
CREATE TRIGGER oauth_apps_admin_event AFTER INSERT OR UPDATE OR DELETE ON oauth_apps
    FOR EACH ROW EXECUTE FUNCTION jsmcp_admin_event();

-- A deleted workspace takes its trail with it.
CREATE FUNCTION jsmcp_admin_events_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM admin_events WHERE workspace_id = OLD.id;
    RETURN NULL;
END $$;
CREATE TRIGGER workspaces_admin_events_gone AFTER DELETE ON workspaces
    FOR EACH ROW EXECUTE FUNCTION jsmcp_admin_events_gone();
