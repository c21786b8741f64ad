/* ap_accounts: integrated accounts (a customer's JSM site and credentials).
 *
 * Credentials are sealed twice with the active master key: once for
 * PostgreSQL (just the credentials, ad "acct:<id>") and once, together
 * with site URL, auth type and status, for the acct:<id> Redis record the
 * workers read (published after COMMIT with the row's version,
 * ap_publish.h). Neither is ever returned by the API.
 *
 * Routes: docs/admin-api.md. Each handler ends its request exactly once
 * (ap_req.h); no callback runs before the call that took it returns. */
#ifndef JSMCP_AP_ACCOUNTS_H
#define JSMCP_AP_ACCOUNTS_H

#include "ap_req.h"

/* Mounted by ap_app.c (ended by a zero entry). */
extern const ap_route_t ap_account_routes[];

#endif
