/* ap_webhooks: a workspace's webhooks (POST/GET/DELETE /webhooks, a test
 * event, the delivery log). Deliveries are ap_delivery.c's. */
#ifndef JSMCP_AP_WEBHOOKS_H
#define JSMCP_AP_WEBHOOKS_H

#include "ap_req.h"

/* The events a webhook may subscribe to (NULL-terminated). */
extern const char *const ap_webhook_events[];

extern const ap_route_t ap_webhook_routes[];

#endif
