-- 036: workspace API keys with an expiry are published again, with it
-- (issue 21). Their wskey: records had none, so a worker took an expired
-- key as the second factor of a server that requires one until the key
-- was revoked (the API itself refused it on time). The record now carries
-- expires_at_ms, which workers check, and Redis keeps it a tombstone TTL
-- past it (api/ap_publish.c). Each such key's version goes up by one, so
-- that the publish script replaces the record Redis holds, and an outbox
-- row has reconcile publish it (an expired key's record is written as a
-- tombstone). Keys without an expiry keep their records: they are right.
-- Workers first (they read the new member; an old worker ignores it),
-- then the API, as for every upgrade (docs/architecture.md).
UPDATE api_keys SET version = version + 1 WHERE expires_at IS NOT NULL;
INSERT INTO publish_outbox (kind, ref, hashes, version)
    SELECT 'wsk', id, ARRAY[key_hash], version FROM api_keys WHERE expires_at IS NOT NULL;
