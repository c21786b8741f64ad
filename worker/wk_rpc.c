/* wk_rpc: see wk_rpc.h. */
#include "wk_rpc.h"

#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "jsontext.h"

enum wk_msg_kind wk_rpc_classify(const json_t *msg, char *err, size_t errsz)
{
    if (json_is_array(msg)) {
        snprintf(err, errsz, "Invalid Request: batch not supported");
        return WK_MSG_INVALID;
    }
    if (!json_is_object(msg)) {
        snprintf(err, errsz, "Invalid Request: a JSON-RPC message must be an object, got %s",
                 jsontext_type_name(msg));
        return WK_MSG_INVALID;
    }
    const char *jv = jsontext_str(msg, "jsonrpc");
    if (!jv || strcmp(jv, "2.0") != 0) {
        snprintf(err, errsz, "Invalid Request: \"jsonrpc\" must be \"2.0\"");
        return WK_MSG_INVALID;
    }
    const json_t *id = json_object_get(msg, "id");
    const json_t *method = json_object_get(msg, "method");
    if (id && !json_is_string(id) && !json_is_integer(id)) {
        snprintf(err, errsz, "Invalid Request: \"id\" must be a string or an integer");
        return WK_MSG_INVALID;
    }
    if (method) {
        if (!json_is_string(method) || json_string_length(method) == 0) {
            snprintf(err, errsz, "Invalid Request: \"method\" must be a non-empty string");
            return WK_MSG_INVALID;
        }
        const json_t *params = json_object_get(msg, "params");
        if (params && !json_is_object(params)) {
            snprintf(err, errsz, "Invalid Request: \"params\" must be an object");
            return WK_MSG_INVALID;
        }
        return id ? WK_MSG_REQUEST : WK_MSG_NOTIFICATION;
    }
    int has_result = json_object_get(msg, "result") != NULL;
    int has_error = json_is_object(json_object_get(msg, "error"));
    if (id && has_result != has_error)
        return WK_MSG_RESPONSE;
    snprintf(err, errsz, "Invalid Request: a message needs \"method\" (request or notification) "
             "or \"id\" with \"result\" or \"error\" (response)");
    return WK_MSG_INVALID;
}

json_t *wk_rpc_error(const json_t *id, int code, const char *message, json_t *data)
{
    /* The message often quotes what the client sent, cut to a length by
     * bytes: jansson would refuse it as invalid UTF-8, and the request
     * would get no answer at all. */
    json_t *e = json_object();
    json_object_set_new(e, "code", json_integer(code));
    json_object_set_new(e, "message", jsontext_string_lossy(message, message ? strlen(message) : 0));
    if (data)
        json_object_set_new(e, "data", data);
    return json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(), "error", e);
}

json_t *wk_rpc_result(const json_t *id, json_t *result)
{
    /* Member by member: json_pack parses its format on every call, and
     * every tool call ends here. */
    if (!id || !result) {
        json_decref(result);
        return NULL;
    }
    json_t *r = json_object();
    json_object_set_new(r, "jsonrpc", json_string("2.0"));
    json_object_set(r, "id", (json_t *)id);
    json_object_set_new(r, "result", result);
    return r;
}

#define WK_RESPONSE_MAX (64u << 20)

char *wk_rpc_dump(const json_t *response, size_t *len)
{
    buf_t b;
    buf_init(&b, WK_RESPONSE_MAX);
    if (jsontext_dump_buf(&b, response)) {
        buf_free(&b);
        *len = 0;
        return NULL;
    }
    return buf_steal(&b, len);
}

json_t *wk_rpc_envelope(const json_t *id)
{
    json_t *r = json_object();
    json_object_set_new(r, "jsonrpc", json_string("2.0"));
    json_object_set(r, "id", id ? (json_t *)id : json_null());
    return r;
}
