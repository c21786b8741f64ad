/* fz_worker: a worker process's state (wk_worker_t) for fuzz targets that
 * drive the worker's real code (wk_mcp_dispatch, wk_http_handle), without
 * network: Redis and the JSM site are fakes in this process.
 *
 * - Redis: rcli_* calls of the worker's objects are redirected (ld --wrap,
 *   fuzz/<name>.link) to an in-memory store that speaks the commands the
 *   worker sends (GET, SET NX PX, DEL, EXPIRE, HSET, HMGET, SISMEMBER, XADD,
 *   PUBLISH to local subscribers, SCRIPT LOAD, EVAL(SHA) of the pacing
 *   script, CONFIG). Replies come later from the loop, as rcli promises.
 * - The JSM site: httpc_request answers its requests with the answers
 *   queued by fz_upstream_push, in order (the last one repeats; none: 200
 *   "{}"), also from the loop.
 *
 * The store holds the records the admin API would have published for one
 * workspace: FZ_TOKEN's server record (srv:<hash>), its account (acct:<id>,
 * sealed with the fuzzing process's master key) and the workspace's key
 * hash (wskeys:<id>, FZ_API_KEY). fz_worker_settle runs the loop until
 * nothing is pending and puts the store back as it was, so every input
 * starts from the same state. */
#ifndef JSMCP_FZ_WORKER_H
#define JSMCP_FZ_WORKER_H

#include <jansson.h>
#include <stddef.h>

#include "wk_worker.h"

/* The MCP URL token of the published server and a live workspace API key. */
#define FZ_TOKEN "fuzz-token-0123456789abcdefghijklmnopqrstuv"
#define FZ_API_KEY "jsk_fuzz_workspace_key"
#define FZ_WORKSPACE_ID "11111111-1111-4111-8111-111111111111"
#define FZ_ACCOUNT_ID "22222222-2222-4222-8222-222222222222"
#define FZ_SERVER_ID "33333333-3333-4333-8333-333333333333"

/* The worker, set up once per process (aborts when that fails: a build
 * problem, not a finding). */
wk_worker_t *fz_worker(void);

/* A server record as the admin API publishes it (FZ_SERVER_ID of
 * FZ_ACCOUNT_ID), with config (NULL = {}); new reference. */
json_t *fz_server_record(const json_t *config);

/* Queues the fake JSM site's next answer (copied; at most 8 per input).
 * headers: raw "Name: value\r\n" lines, may be NULL. */
void fz_upstream_push(int status, const char *headers, const char *body, size_t body_len);

/* Runs the loop until no fake reply, message or upstream answer is
 * pending (bounded: one that never settles aborts), then puts the store
 * back to the published records, forgets the queued answers and empties
 * the worker's account and field caches. */
void fz_worker_settle(void);

#endif
