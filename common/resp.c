#include "resp.h"

#include <stdlib.h>
#include <string.h>

void resp_json(httpd_req_t *req, int status, json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
    if (!s) {
        json_decref(v);
        httpd_respond(req, 500, "application/problem+json",
                      "{\"title\":\"Internal Server Error\",\"status\":500}", 45);
        return;
    }
    httpd_respond(req, status, "application/json", s, strlen(s));
    free(s);
    json_decref(v);
}

void resp_problem_ex(httpd_req_t *req, int status, const char *detail, const char *field,
                     json_t *extra)
{
    json_t *p = json_object();
    json_object_set_new(p, "type", json_string("about:blank"));
    json_object_set_new(p, "title", json_string(httpd_status_text(status)));
    json_object_set_new(p, "status", json_integer(status));
    if (detail)
        json_object_set_new(p, "detail", json_string(detail));
    if (field)
        json_object_set_new(p, "field", json_string(field));
    json_object_set_new(p, "request_id", json_string(httpd_req_id(req)));
    if (extra) {
        json_object_update(p, extra);
        json_decref(extra);
    }
    char *s = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    httpd_respond(req, status, "application/problem+json", s ? s : "{}", s ? strlen(s) : 2);
    free(s);
}

void resp_problem(httpd_req_t *req, int status, const char *detail, const char *field)
{
    resp_problem_ex(req, status, detail, field, NULL);
}
