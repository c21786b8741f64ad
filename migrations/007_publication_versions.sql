-- 007: versioned publication to Redis (issue 21; docs/architecture.md,
-- "Publication").
--
-- version: bumped by every write that changes what is published of a row
-- (a BEFORE UPDATE trigger, so no writer can forget it); every Redis record
-- carries the version of the row it was built from, and the one publish
-- script (api/ap_publish.c) writes a record only when its version is newer
-- than the one Redis holds. A delete publishes a tombstone with the deleted
-- row's version + 1.
ALTER TABLE mcp_servers ADD COLUMN version bigint NOT NULL DEFAULT 1;
ALTER TABLE integrated_accounts ADD COLUMN version bigint NOT NULL DEFAULT 1;
-- API keys are published one record per key (wskey:<key_hash>, replacing
-- the wskeys:<workspace> sets, which reconcile could not version); a key is
-- never changed, only created (version 1) and deleted (tombstone 2).
ALTER TABLE api_keys ADD COLUMN version bigint NOT NULL DEFAULT 1;

-- The outbox: one row per change of a published row, written by the
-- triggers below in the writer's transaction, consumed by reconcile's
-- incremental pass (DELETE ... FOR UPDATE SKIP LOCKED, then publish, then
-- COMMIT), which republishes what a writer may not have (it died between
-- its COMMIT and its write to Redis). hashes: the token hashes the change
-- touched (old and new), so a rotated-out or deleted token gets its
-- tombstone even once the row no longer names it.
CREATE TABLE publish_outbox (
    seq      bigserial PRIMARY KEY,
    kind     text NOT NULL CHECK (kind IN ('srv', 'acct', 'wsk')),
    ref      uuid NOT NULL,
    hashes   text[],
    version  bigint NOT NULL,
    deleted  boolean NOT NULL DEFAULT false
);

CREATE FUNCTION jsmcp_srv_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.workspace_id, NEW.account_id, NEW.name, NEW.config, NEW.token_hash, NEW.expires_at,
        NEW.require_api_token_auth, NEW.prev_token_hash, NEW.prev_token_expires_at)
       IS DISTINCT FROM
       (OLD.workspace_id, OLD.account_id, OLD.name, OLD.config, OLD.token_hash, OLD.expires_at,
        OLD.require_api_token_auth, OLD.prev_token_hash, OLD.prev_token_expires_at) THEN
        NEW.version := OLD.version + 1;
    ELSE
        NEW.version := OLD.version; -- bookkeeping only (last_used_at, updated_at)
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER mcp_servers_version BEFORE UPDATE ON mcp_servers
    FOR EACH ROW EXECUTE FUNCTION jsmcp_srv_version();

CREATE FUNCTION jsmcp_acct_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.site_url, NEW.auth_type, NEW.credentials_sealed, NEW.status, NEW.cloud_id, NEW.pace)
       IS DISTINCT FROM
       (OLD.site_url, OLD.auth_type, OLD.credentials_sealed, OLD.status, OLD.cloud_id, OLD.pace) THEN
        NEW.version := OLD.version + 1;
    ELSE
        NEW.version := OLD.version; -- tenant_id, context, refresh bookkeeping: not published
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER integrated_accounts_version BEFORE UPDATE ON integrated_accounts
    FOR EACH ROW EXECUTE FUNCTION jsmcp_acct_version();

-- LISTEN jsmcp_publish tells reconcile that the outbox has work (a hint:
-- the periodic pass runs anyway).
CREATE FUNCTION jsmcp_srv_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO publish_outbox (kind, ref, hashes, version, deleted)
        VALUES ('srv', OLD.id, array_remove(ARRAY[OLD.token_hash, OLD.prev_token_hash], NULL), OLD.version + 1, true);
    ELSIF TG_OP = 'INSERT' THEN
        INSERT INTO publish_outbox (kind, ref, hashes, version) VALUES ('srv', NEW.id, ARRAY[NEW.token_hash], NEW.version);
    ELSIF NEW.version <> OLD.version THEN
        INSERT INTO publish_outbox (kind, ref, hashes, version)
        VALUES ('srv', NEW.id, array_remove(ARRAY[OLD.token_hash, OLD.prev_token_hash, NEW.token_hash,
                                                  NEW.prev_token_hash], NULL), NEW.version);
    ELSE
        RETURN NULL;
    END IF;
    PERFORM pg_notify('jsmcp_publish', '');
    RETURN NULL;
END $$;
CREATE TRIGGER mcp_servers_outbox AFTER INSERT OR UPDATE OR DELETE ON mcp_servers
    FOR EACH ROW EXECUTE FUNCTION jsmcp_srv_outbox();

CREATE FUNCTION jsmcp_acct_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO publish_outbox (kind, ref, version, deleted) VALUES ('acct', OLD.id, OLD.version + 1, true);
    ELSIF TG_OP = 'INSERT' OR NEW.version <> OLD.version THEN
        INSERT INTO publish_outbox (kind, ref, version) VALUES ('acct', NEW.id, NEW.version);
    ELSE
        RETURN NULL;
    END IF;
    PERFORM pg_notify('jsmcp_publish', '');
    RETURN NULL;
END $$;
CREATE TRIGGER integrated_accounts_outbox AFTER INSERT OR UPDATE OR DELETE ON integrated_accounts
    FOR EACH ROW EXECUTE FUNCTION jsmcp_acct_outbox();

CREATE FUNCTION jsmcp_wsk_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        INSERT INTO publish_outbox (kind, ref, hashes, version, deleted)
        VALUES ('wsk', OLD.id, ARRAY[OLD.key_hash], OLD.version + 1, true);
    ELSE
        INSERT INTO publish_outbox (kind, ref, hashes, version) VALUES ('wsk', NEW.id, ARRAY[NEW.key_hash], NEW.version);
    END IF;
    PERFORM pg_notify('jsmcp_publish', '');
    RETURN NULL;
END $$;
CREATE TRIGGER api_keys_outbox AFTER INSERT OR DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION jsmcp_wsk_outbox();
