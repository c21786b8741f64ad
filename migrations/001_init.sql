-- 001: workspaces, API keys, integrated accounts, MCP servers.
-- Every record belongs to one workspace; every lookup by id is also by
-- workspace, so a key of one workspace can never reach another's rows.

CREATE TABLE workspaces (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- API keys: only the SHA-256 hex of the key is stored; prefix is the
-- first characters, shown in listings so operators can tell keys apart.
CREATE TABLE api_keys (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id  uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    prefix        text NOT NULL,
    key_hash      text NOT NULL UNIQUE CHECK (key_hash ~ '^[0-9a-f]{64}$'),
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz
);
CREATE INDEX api_keys_workspace ON api_keys (workspace_id, created_at, id);

-- Integrated accounts: a customer's JSM site and its credentials, sealed
-- with libsodium (secret_seal, additional data "acct:<id>") under the
-- master key named by key_id. cred_version is bumped on every credential
-- change (compare-and-set for OAuth refresh, issue 6).
CREATE TABLE integrated_accounts (
    id                  uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id        uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    tenant_id           text NOT NULL CHECK (length(tenant_id) BETWEEN 1 AND 200),
    site_url            text NOT NULL,
    auth_type           text NOT NULL CHECK (auth_type IN ('api_token', 'oauth2')),
    credentials_sealed  text NOT NULL,
    key_id              text NOT NULL,
    cred_version        bigint NOT NULL DEFAULT 1,
    cloud_id            text,
    status              text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'needs_reauth')),
    context             jsonb NOT NULL DEFAULT '{}',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (workspace_id, tenant_id)
);
CREATE INDEX integrated_accounts_page ON integrated_accounts (workspace_id, created_at, id);

-- MCP servers: token_hash is the SHA-256 hex of the URL's token; the token
-- itself is returned once and never stored.
CREATE TABLE mcp_servers (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id            uuid NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    account_id              uuid NOT NULL REFERENCES integrated_accounts(id) ON DELETE CASCADE,
    name                    text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    config                  jsonb NOT NULL DEFAULT '{}',
    token_hash              text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    expires_at              timestamptz,
    require_api_token_auth  boolean NOT NULL DEFAULT false,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    last_used_at            timestamptz
);
CREATE INDEX mcp_servers_page ON mcp_servers (account_id, created_at, id);
CREATE INDEX mcp_servers_expiry ON mcp_servers (expires_at) WHERE expires_at IS NOT NULL;
