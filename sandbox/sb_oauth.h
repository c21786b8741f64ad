/* sb_oauth: Atlassian OAuth 2.0 (3LO) as the sandbox plays it
 * (jsm-rest-api.md §6.1): GET /authorize consents at once and redirects
 * with code and state; POST /oauth/token handles authorization_code and
 * refresh_token (JSON or form body); access tokens expire after
 * access_ttl_s; every refresh rotates the refresh token and the old one
 * keeps working for refresh_leeway_s, then answers 403 invalid_grant;
 * refresh tokens die after 90 days idle or 365 days from the grant (on the
 * sandbox clock). GET /oauth/token/accessible-resources lists the site.
 *
 * Tokens live in fixed-size rings (SB_OAUTH_MAX per kind): the oldest is
 * forgotten when a ring wraps, which is the bound on memory.
 */
#ifndef JSMCP_SB_OAUTH_H
#define JSMCP_SB_OAUTH_H

#include <stdint.h>

#include <jansson.h>

#include "sb.h"

#define SB_OAUTH_MAX 4096

sb_oauth_t *sb_oauth_new(sb_t *sb);
void sb_oauth_free(sb_oauth_t *o);
/* 0 and *user (and the granted scopes) for a live access token; -1 unknown; -2 expired. */
int sb_oauth_check_bearer(sb_oauth_t *o, const char *token, int64_t now_ms, int *user, char *scope, size_t scopesz);
/* Its routes (/authorize, /oauth/token, accessible-resources), which
 * main.c registers (sb_routes_register): the pipeline (sb_http.c) calls
 * sb_oauth_check_bearer, so this module does not call the pipeline. */
extern const sb_route_t sb_oauth_routes[];
extern const int sb_oauth_nroutes;
json_t *sb_oauth_stats(const sb_oauth_t *o);

#endif
