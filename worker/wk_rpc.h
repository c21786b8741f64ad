/* wk_rpc: JSON-RPC 2.0 framing, independent of MCP's methods and of the
 * HTTP transport: classifying a message, building responses and errors, and
 * serialising a response (every response leaves the worker through
 * wk_rpc_dump). Pure.
 */
#ifndef JSMCP_WK_RPC_H
#define JSMCP_WK_RPC_H

#include <jansson.h>
#include <stddef.h>

#define WK_RPC_PARSE (-32700)
#define WK_RPC_INVALID_REQUEST (-32600)
#define WK_RPC_METHOD_NOT_FOUND (-32601)
#define WK_RPC_INVALID_PARAMS (-32602)
#define WK_RPC_INTERNAL (-32603)
#define WK_RPC_SERVER (-32000)
#define WK_RPC_SESSION_NOT_FOUND (-32001)

/* WK_MSG_BATCH: an array of messages (a JSON-RPC batch), which the
 * transport takes apart; wk_rpc_classify never returns it. */
enum wk_msg_kind { WK_MSG_INVALID = 0, WK_MSG_REQUEST, WK_MSG_NOTIFICATION, WK_MSG_RESPONSE, WK_MSG_BATCH };

/* Classifies one parsed JSON-RPC message (an array is not one: it is
 * WK_MSG_INVALID here); for WK_MSG_INVALID writes why. */
enum wk_msg_kind wk_rpc_classify(const json_t *msg, char *err, size_t errsz);

/* Builders (new references). id may be NULL (serialised as null). */
json_t *wk_rpc_error(const json_t *id, int code, const char *message, json_t *data);
json_t *wk_rpc_result(const json_t *id, json_t *result);

/* The members of a response but its result, {"jsonrpc":"2.0","id":id}:
 * what carries the id of a typed tool result (wk_result.h). */
json_t *wk_rpc_envelope(const json_t *id);

/* Serialises a response (compact JSON; caller frees; NULL past 64 MiB).
 * A typed tool result is written by wk_result_dump. */
char *wk_rpc_dump(const json_t *response, size_t *len);

#endif
