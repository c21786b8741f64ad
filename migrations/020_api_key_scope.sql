-- 020: scoped API keys (issue 26). A key is 'full' (every route of its
-- workspace) or 'read' (GET only: a write answers 403 naming the scope), and
-- may expire: from expires_at on it is refused (401) like a revoked one. Keys
-- from before keep what they could do: full, never expiring.
ALTER TABLE api_keys
    ADD COLUMN scope text NOT NULL DEFAULT 'full' CHECK (scope IN ('read', 'full')),
    ADD COLUMN expires_at timestamptz;
