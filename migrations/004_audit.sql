-- 004: the audit log of tool calls. Workers append to the Redis stream
-- <prefix>audit; the API drains it here through a consumer group. stream_id
-- (the Redis entry id) makes a redelivered entry a no-op. No foreign keys:
-- the record of what an agent did outlives the server and the account.
CREATE TABLE tool_calls (
    id                   bigserial PRIMARY KEY,
    stream_id            text NOT NULL UNIQUE,
    ts                   timestamptz NOT NULL,
    workspace_id         uuid NOT NULL,
    account_id           uuid NOT NULL,
    server_id            uuid NOT NULL,
    tool                 text NOT NULL,
    args_sha256          text,
    upstream_status      int,
    latency_ms           double precision,
    ratelimit_limit      int,
    ratelimit_remaining  int,
    ratelimit_reset_s    int,
    upstream_request_id  text,
    error_class          text,
    request_id           text
);
CREATE INDEX tool_calls_server ON tool_calls (workspace_id, account_id, server_id, id DESC);
CREATE INDEX tool_calls_ts ON tool_calls (ts);
