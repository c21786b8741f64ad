/* ap_delivery: sends webhook deliveries, and finds the events no single
 * write causes (server.expiring, audit.backlog).
 *
 * Every API replica runs it. A delivery is a row of webhook_deliveries
 * (migration 021); a replica claims due rows in one statement
 * (FOR UPDATE SKIP LOCKED, then a lease: locked_until = now() + the
 * request timeout + 30 s), POSTs each, and records the attempt with a
 * compare on the attempt number, so a replica that lost its lease (it
 * stalled past it and another took the row over) cannot overwrite the
 * other's result. One replica sends a given attempt; a replica that dies
 * mid-request leaves the row to be taken over once its lease passes (the
 * receiver may then see that attempt twice: the delivery id is the same).
 *
 * Each request is signed: Jsmcp-Signature: t=<unix seconds>,v1=<hex of
 * HMAC-SHA256(secret, "<t>." + body)> (libsodium crypto_auth_hmacsha256,
 * the secret string as the key). A 2xx answer ends the delivery; anything
 * else (another status, a timeout, a refused connection, the SSRF guard)
 * is retried after JSMCP_WEBHOOK_RETRY_MS doubled per attempt (up to
 * JSMCP_WEBHOOK_RETRY_MAX_MS, +-20 % jitter) until JSMCP_WEBHOOK_DEADLINE
 * after the event or 20 attempts, then it is "failed". Redirects are never
 * followed; a URL outside JSMCP_WEBHOOK_ALLOWLIST only reaches public
 * addresses (httpc public_only), checked again on every attempt.
 *
 * Callbacks: ap_delivery_stop's done runs from the loop, never before the
 * call returns (the contract of the whole tree, like libuv's).
 */
#ifndef JSMCP_AP_DELIVERY_H
#define JSMCP_AP_DELIVERY_H

#include "ap_req.h"

#define AP_DELIVERY_MAX_ATTEMPTS 20

int ap_delivery_start(ap_app_t *app);
/* Looks for due deliveries now (after an event was queued by this process). */
void ap_delivery_kick(ap_app_t *app);
/* Stops: requests in flight are abandoned (their leases pass, another
 * replica retries them); done runs once nothing is in flight. */
void ap_delivery_stop(void (*done)(void *arg), void *arg);

/* The Jsmcp-Signature value of body signed at t with secret (out >= 96). */
void ap_delivery_sign(const char *secret, long long t, const char *body, size_t len, char *out, size_t outsz);

#endif
