/* wk_callrec: what one tool call leaves behind once it has its answer: the
 * audit record's fields (XADD <prefix>audit, docs/architecture.md), its
 * error_class, the metrics and the log line. The call (wk_call.h) holds
 * one wk_callrec_t with the facts; nothing here does I/O except counting
 * metrics and logging.
 */
#ifndef JSMCP_WK_CALLREC_H
#define JSMCP_WK_CALLREC_H

#include <jansson.h>
#include <stdint.h>

#include "secret.h"
#include "wk_result.h"
#include "wk_proc.h"

/* The facts of one call (copied from the server record and the HTTP
 * request: the call outlives both). */
typedef struct wk_callrec_s {
    char server_id[64], workspace_id[64], account_id[64];
    char request_id[72];
    char traceparent[64];        /* sent upstream; "" without one */
    char trace_id[33];           /* its trace id, for the logs */
    char args_sha[SECRET_HASH_HEX_LEN + 1]; /* "" until wk_callrec_args_hash */
    const char *tool;            /* the catalog tool's name (the catalog outlives calls) */
    uint64_t t0;                 /* clock_mono_ns() at the start */
    int64_t ts_ms;               /* wall clock at the start */
    int status;                  /* upstream status of the answer (0: none) */
    const char *cls;             /* its error_class (wk_callrec_error_class) */
    wk_upstream_meta_t rl;       /* the answer's upstream metadata, when has_rl */
    int has_rl;
} wk_callrec_t;

/* The arguments' hash (audit record, idempotency record): the sorted compact
 * JSON of the arguments, hashed once and kept in r->args_sha. */
const char *wk_callrec_args_hash(wk_callrec_t *r, const json_t *args);

/* error_class of the audit record: what kind of failure, for dashboards
 * ("" for a success). */
const char *wk_callrec_error_class(const wk_tool_result_t *result, const wk_upstream_meta_t *rl, int status);

/* The audit record's XADD arguments (argv points into out). */
typedef struct wk_callrec_argv_s {
    const char *argv[40];
    int argc;
    char key[160], ts[32], st[16], lat[32], reset[32], bytes[32];
} wk_callrec_argv_t;
void wk_callrec_audit_argv(const rcli_t *redis, wk_callrec_t *r, const json_t *args, const wk_tool_result_t *result,
                           wk_callrec_argv_t *out);

/* Metrics and the log line of a finished call (the request id ties it to
 * the HTTP request, the upstream request and the audit record). */
void wk_callrec_observe(wk_worker_t *w, const wk_callrec_t *r);

#endif
