/* ap_web: the operator's dashboard (api/web/, embedded into the binary by
 * the Makefile's EMBED_api) served by the admin API itself: GET / and
 * GET /ui/ answer the page, GET /ui/<file> its assets. No API key: the page
 * asks the operator for the workspace API key and sends it on its own
 * fetch calls, so these routes serve only static, secret-free files. */
#ifndef JSMCP_AP_WEB_H
#define JSMCP_AP_WEB_H

#include "router.h"

/* Adds the dashboard routes (like /openapi.json, plain router routes: a
 * static file needs no admin request context, no database, no key). */
void ap_web_add_routes(router_t *router);

#endif
