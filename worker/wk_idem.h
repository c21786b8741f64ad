/* wk_idem: the idempotency records of writes called with an
 * idempotency_key (the pure half of the call's IDEM, IDEM_READ and
 * IDEM_STORE states, wk_call.h). A call takes idem:<server>:<hash of tool
 * and key> with SET NX "pending" (WK_IDEM_PENDING_MS); after the call it
 * holds "done:<args sha256>:<result JSON>" for a day, or is gone after a
 * failure so that a retry may try again. No I/O.
 */
#ifndef JSMCP_WK_IDEM_H
#define JSMCP_WK_IDEM_H

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stddef.h>

#include "buf.h"
#include "rcli.h"
#include "wk_result.h"

#define WK_IDEM_TTL_MS 86400000LL  /* how long an idempotency_key's result is kept */
#define WK_IDEM_MAX (1u << 20)       /* a stored result larger than this is not kept */
#define WK_IDEM_PENDING_MS 120000LL  /* a call in flight holds its key at most this long (a worker
                                      * that dies mid-call must not block retries for a day) */

/* The record's Redis key for key ikey of tool on server_id (per server and
 * tool: one key cannot replay another tool's result). 0, or -1 (out of
 * memory). */
int wk_idem_key(const rcli_t *redis, const char *server_id, const char *tool, const char *ikey, char *out,
                size_t outsz);

/* The answer to a call whose key was taken already, from the record's GET
 * reply (NULL: Redis failed): a replay of the stored result (same
 * arguments), an isError result "invalid_arguments" (other arguments), or an
 * isError result "still running" (pending, gone or unreadable). A new
 * JSON-RPC response: the envelope of the result set in *result. */
json_t *wk_idem_answer(const redisReply *reply, const char *args_sha, const json_t *id, const char *tool,
                       wk_tool_result_t **result);

/* The record after the call with result (NULL: a JSON-RPC error): 0 with
 * the value to SET in out, or -1 when the record is to be deleted (a
 * failure, or too large to keep). The record holds the CallToolResult as
 * {"content":[{"type":"text"}],"structuredContent":...}: its text is the
 * structured content serialised, written when it is replayed. */
int wk_idem_value(const wk_tool_result_t *result, const char *args_sha, buf_t *out);

#endif
