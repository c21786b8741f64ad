#include "httpresp.h"

#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "jsontext.h"

void httpresp_json(httpd_req_t *req, int status, json_t *v)
{
    buf_t b;
    buf_init(&b, SIZE_MAX / 2); /* bounded by the tree we were given */
    /* Objects and arrays only, as json_dumps without JSON_ENCODE_ANY did. */
    if ((!json_is_object(v) && !json_is_array(v)) || jsontext_dump_buf(&b, v) != 0) {
        buf_free(&b);
        json_decref(v);
        static const char body[] = "{\"title\":\"Internal Server Error\",\"status\":500}";
        httpd_respond(req, 500, "application/problem+json", body, sizeof body - 1);
        return;
    }
    httpd_respond(req, status, "application/json", b.data, b.len);
    buf_free(&b);
    json_decref(v);
}

void httpresp_problem_ex(httpd_req_t *req, int status, const char *detail, const char *field,
                     json_t *extra)
{
    json_t *p = json_object();
    json_object_set_new(p, "type", json_string("about:blank"));
    json_object_set_new(p, "title", json_string(httpd_status_text(status)));
    json_object_set_new(p, "status", json_integer(status));
    /* Lossy: a detail may quote what a client sent, cut by bytes. */
    if (detail)
        json_object_set_new(p, "detail", jsontext_string_lossy(detail, strlen(detail)));
    if (field)
        json_object_set_new(p, "field", jsontext_string_lossy(field, strlen(field)));
    json_object_set_new(p, "request_id", json_string(httpd_req_id(req)));
    if (extra) {
        json_object_update(p, extra);
        json_decref(extra);
    }
    buf_t b;
    buf_init(&b, SIZE_MAX / 2);
    int bad = jsontext_dump_buf(&b, p) != 0;
    json_decref(p);
    httpd_respond(req, status, "application/problem+json", bad ? "{}" : b.data, bad ? 2 : b.len);
    buf_free(&b);
}

void httpresp_problem(httpd_req_t *req, int status, const char *detail, const char *field)
{
    httpresp_problem_ex(req, status, detail, field, NULL);
}
