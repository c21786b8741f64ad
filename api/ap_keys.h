/* ap_keys: a workspace's API keys.
 *
 * Two doors to the same records: the bootstrap key manages any workspace's
 * keys under /workspaces/:id/api-keys, and a workspace's own full-scope key
 * manages its workspace's under /api-keys (the dashboard's API keys page).
 *
 * A key is "jsk_" + 43 base64url characters (32 random bytes). Only the
 * SHA-256 hex is stored (PostgreSQL) and published (wskey:<hash>, for
 * servers that require an API key, after COMMIT: ap_publish.h); the key is
 * returned once. A key's scope
 * is "full" or "read" (GET routes only, enforced by the route entry in ap_app.c); a key may
 * expire (expires_at, at least JSMCP_MIN_LIFETIME_MS ahead).
 *
 * Routes: docs/admin-api.md. Each handler ends its request exactly once
 * (ap_req.h); no callback runs before the call that took it returns. */
#ifndef JSMCP_AP_KEYS_H
#define JSMCP_AP_KEYS_H

#include "ap_req.h"

/* Mounted by ap_app.c (ended by a zero entry). */
extern const ap_route_t ap_key_routes[];

#endif
