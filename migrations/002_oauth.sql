-- 002: OAuth 2.0 (3LO) connect and refresh (issue 6).

-- One OAuth app per workspace: the customer-facing Atlassian app whose
-- client credentials the connect flow and the refresher use. The secret is
-- sealed (secret_seal, additional data "oauthapp:<workspace_id>") under the
-- master key named by key_id, and never returned.
CREATE TABLE oauth_apps (
    workspace_id          uuid PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
    client_id             text NOT NULL CHECK (length(client_id) BETWEEN 1 AND 200),
    client_secret_sealed  text NOT NULL,
    key_id                text NOT NULL,
    scopes                jsonb NOT NULL,
    redirect_url          text NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now()
);

-- The refresher finds due accounts without opening their credentials:
-- access_expires_at mirrors the sealed expires_at_ms (not a secret);
-- refresh_retry_at holds an account back after a failed refresh so every
-- API replica does not retry it on every tick.
ALTER TABLE integrated_accounts
    ADD COLUMN access_expires_at timestamptz,
    ADD COLUMN refresh_retry_at timestamptz;
CREATE INDEX integrated_accounts_refresh ON integrated_accounts (access_expires_at)
    WHERE auth_type = 'oauth2' AND status = 'active';
