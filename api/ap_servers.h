/* ap_servers: MCP server records of an integrated account.
 *
 * A server's URL carries a token (32 random bytes, base64url) that is
 * returned once at creation; PostgreSQL and Redis only hold its SHA-256
 * hex. Every write is one statement (so it has committed when it answers)
 * returning the row's publication columns, and is then published to Redis
 * (ap_publish.h): both tokens' records during a rotation's overlap,
 * tombstones for tokens the write stopped using, each key expiring at its
 * token's expiry.
 *
 * Routes: docs/admin-api.md. Each handler ends its request exactly once
 * (ap_req.h); no callback runs before the call that took it returns. */
#ifndef JSMCP_AP_SERVERS_H
#define JSMCP_AP_SERVERS_H

#include "ap_req.h"

/* Mounted by ap_app.c (ended by a zero entry). */
extern const ap_route_t ap_server_routes[];

#endif
