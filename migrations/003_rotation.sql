-- 003: token rotation with an overlap window. After a rotate, the previous
-- token keeps working until prev_token_expires_at; the sweeper clears it.
ALTER TABLE mcp_servers
    ADD COLUMN prev_token_hash text UNIQUE CHECK (prev_token_hash ~ '^[0-9a-f]{64}$'),
    ADD COLUMN prev_token_expires_at timestamptz,
    ADD COLUMN rotated_at timestamptz;
CREATE INDEX mcp_servers_prev_expiry ON mcp_servers (prev_token_expires_at) WHERE prev_token_hash IS NOT NULL;
