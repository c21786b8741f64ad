/* wk_idem: see wk_idem.h. */
#include "wk_idem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsontext.h"
#include "secret.h"
#include "wk_rpc.h"

int wk_idem_key(const rcli_t *redis, const char *server_id, const char *tool, const char *ikey, char *out,
                size_t outsz)
{
    char h[SECRET_HASH_HEX_LEN + 1];
    buf_t b;
    buf_init(&b, strlen(tool) + 1 + strlen(ikey)); /* fits: only out of memory fails */
    if (buf_printf(&b, "%s\n%s", tool, ikey) != 0) {
        buf_free(&b);
        return -1;
    }
    secret_hash_hex(b.data, b.len, h);
    buf_free(&b);
    rcli_key(redis, out, outsz, "idem:%s:%s", server_id, h);
    return 0;
}

json_t *wk_idem_answer(const redisReply *reply, const char *args_sha, const json_t *id, const char *tool)
{
    char msg[300];
    const char *rec = NULL;
    if (reply && reply->type == REDIS_REPLY_STRING && strncmp(reply->str, "done:", 5) == 0)
        rec = reply->str + 5;
    if (rec && strncmp(rec, args_sha, SECRET_HASH_HEX_LEN) == 0 && rec[SECRET_HASH_HEX_LEN] == ':') {
        char perr[128];
        const char *v = rec + SECRET_HASH_HEX_LEN + 1;
        json_t *res = jsontext_parse(v, strlen(v), 64, perr, sizeof perr);
        if (res)
            return wk_rpc_result(id, res);
    }
    if (rec) {
        snprintf(msg, sizeof msg, "Invalid arguments for %s: idempotency_key was already used with "
                 "different arguments; use a new key", tool);
        return wk_rpc_error(id, WK_RPC_INVALID_PARAMS, msg, NULL);
    }
    snprintf(msg, sizeof msg, "%s: a call with this idempotency_key is still running (or Redis is "
             "unavailable); call again in a few seconds with the same key", tool);
    return wk_rpc_result(id, json_pack("{s:[{s:s,s:s}],s:b}", "content", "type", "text", "text", msg, "isError", 1));
}

int wk_idem_value(const json_t *response, const char *args_sha, buf_t *out)
{
    const json_t *result = json_object_get(response, "result");
    char *dump = result && !json_is_true(json_object_get(result, "isError")) ? jsontext_dump(result) : NULL;
    /* A record that does not fit is not kept (a retry runs the call again). */
    int rc = dump && strlen(dump) <= WK_IDEM_MAX && buf_printf(out, "done:%s:%s", args_sha, dump) == 0 ? 0 : -1;
    free(dump);
    return rc;
}
