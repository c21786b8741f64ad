/* resp: JSON and problem+json responses on top of httpd. */
#ifndef JSMCP_RESP_H
#define JSMCP_RESP_H

#include <jansson.h>

#include "httpd.h"

/* Sends v as application/json and decrefs it (steals the reference). */
void httpresp_json(httpd_req_t *req, int status, json_t *v);
/* RFC 9457 application/problem+json:
 * {"type":"about:blank","title":<status text>,"status":N,"detail":...,
 *  "field":<field or absent>,"request_id":...}. detail/field may be NULL. */
void httpresp_problem(httpd_req_t *req, int status, const char *detail, const char *field);
/* Same, with extra members merged in (steals extra; may be NULL). */
void httpresp_problem_ex(httpd_req_t *req, int status, const char *detail, const char *field, json_t *extra);

#endif
