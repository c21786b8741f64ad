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

json_t *wk_idem_answer(const redisReply *reply, const char *args_sha, const json_t *id, const char *tool,
                       wk_tool_result_t **result)
{
    *result = NULL;
    char msg[300];
    const char *rec = NULL;
    if (reply && reply->type == REDIS_REPLY_STRING && strncmp(reply->str, "done:", 5) == 0)
        rec = reply->str + 5;
    if (rec && strncmp(rec, args_sha, SECRET_HASH_HEX_LEN) == 0 && rec[SECRET_HASH_HEX_LEN] == ':') {
        char perr[128];
        const char *v = rec + SECRET_HASH_HEX_LEN + 1;
        json_t *res = jsontext_parse(v, strlen(v), 64, perr, sizeof perr);
        const json_t *sc = json_object_get(res, "structuredContent");
        const char *text = jsontext_str(json_array_get(json_object_get(res, "content"), 0), "text");
        if (sc || text) {
            *result = wk_result_new(json_incref((json_t *)sc), text, 0);
            json_decref(res);
            return wk_rpc_envelope(id);
        }
        json_decref(res);
    }
    if (rec) {
        snprintf(msg, sizeof msg, "Invalid arguments for %s: idempotency_key was already used with "
                 "different arguments; use a new key", tool);
        *result = wk_result_invalid_args(tool, msg);
        return wk_rpc_envelope(id);
    }
    snprintf(msg, sizeof msg, "%s: a call with this idempotency_key is still running (or Redis is "
             "unavailable); call again in a few seconds with the same key", tool);
    *result = wk_result_new(NULL, msg, 1);
    return wk_rpc_envelope(id);
}

int wk_idem_value(const wk_tool_result_t *result, const char *args_sha, buf_t *out)
{
    if (!result || result->is_error || !result->structured)
        return -1;
    /* A record that does not fit is not kept (a retry runs the call again):
     * out's limit is WK_IDEM_MAX and the prefix (buf.h's sticky error). */
    int bad = buf_printf(out, "done:%s:{\"content\":[{\"type\":\"text\"", args_sha) ||
              (result->text && (buf_append_str(out, ",\"text\":") || jsontext_dump_buf(out, result->text))) ||
              buf_append_str(out, "}],\"structuredContent\":") || jsontext_dump_buf(out, result->structured) ||
              buf_append_str(out, "}");
    return bad || out->len > WK_IDEM_MAX + 5 + SECRET_HASH_HEX_LEN + 1 ? -1 : 0;
}
