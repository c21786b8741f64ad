/* Strict mode against the embedded table compacted from the vendored
 * OpenAPI documents: what Cloud would silently ignore is refused, named by
 * where it is; what the documents allow passes; the allow-list lets known
 * refusals through while counting them; the table's limits hold. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sb_strict.h"

static sb_strict_t *s;
static char msg[800];
static const char *fam;

static void setup(void)
{
    char err[200];
    s = sb_strict_new_embedded(err, sizeof err);
    cr_assert_not_null(s, "%s", err);
}

static void teardown(void)
{
    sb_strict_free(s);
}

TestSuite(strict, .init = setup, .fini = teardown);

static int check(const char *m, const char *path, const char *query, const char *body)
{
    return sb_strict_check(s, m, path, query, body ? "application/json" : NULL, body ? body : "", body ? strlen(body) : 0,
                           msg, sizeof msg, &fam);
}

static const char *first_key(void)
{
    json_t *j = sb_strict_json(s);
    static char key[256];
    snprintf(key, sizeof key, "%s", json_string_value(json_object_get(json_array_get(json_object_get(j, "refusals"), 0), "key")));
    json_decref(j);
    return key;
}

Test(strict, table_has_both_documents)
{
    cr_assert_gt(sb_strict_nops(s), 600, "platform + servicedeskapi operations");
    cr_assert(sb_strict_applies("/rest/api/3/issue/X-1"));
    cr_assert(sb_strict_applies("/rest/servicedeskapi/request"));
    cr_assert(!sb_strict_applies("/oauth/token"));
    cr_assert(!sb_strict_applies("/_edge/tenant_info"));
}

Test(strict, unknown_query_parameter_is_refused_and_named)
{
    cr_assert_eq(check("GET", "/rest/servicedeskapi/organization", "serviceDeskId=2&start=0", NULL), SB_STRICT_REFUSED);
    cr_assert(strstr(msg, "'serviceDeskId' is not a parameter"), "%s", msg);
    cr_assert(strstr(msg, "accountId, limit, start"), "the message lists what the operation takes: %s", msg);
    cr_assert_str_eq(fam, "jsm");
    cr_assert_str_eq(first_key(), "GET /rest/servicedeskapi/organization query.serviceDeskId");
    cr_assert_eq(check("GET", "/rest/servicedeskapi/organization", "start=0&limit=50&accountId=abc", NULL), SB_STRICT_OK);
}

Test(strict, query_types_enums_repeats_and_required)
{
    cr_assert_eq(check("GET", "/rest/api/3/issue/ITSM-1/comment", "maxResults=ten", NULL), SB_STRICT_REFUSED);
    cr_assert(strstr(msg, "expected an integer"), "%s", msg);
    cr_assert_eq(check("GET", "/rest/api/3/issue/ITSM-1/comment", "maxResults=10&startAt=0&orderBy=created", NULL), SB_STRICT_OK);
    cr_assert_eq(check("GET", "/rest/api/3/issue/ITSM-1/transitions", "includeUnavailableTransitions=yes", NULL), SB_STRICT_REFUSED);
    cr_assert_eq(check("GET", "/rest/servicedeskapi/request", "requestStatus=OPEN&requestStatus=X", NULL), SB_STRICT_REFUSED);
    cr_assert(strstr(msg, "repeated"), "%s", msg);
    cr_assert_eq(check("GET", "/rest/servicedeskapi/request",
                       "requestOwnership=OWNED_REQUESTS&requestOwnership=PARTICIPATED_REQUESTS&expand=sla,status", NULL),
                 SB_STRICT_OK, "array parameters repeat and take commas: %s", msg);
    cr_assert_eq(check("GET", "/rest/api/3/user/groups", "", NULL), SB_STRICT_REFUSED);
    cr_assert(strstr(msg, "required query parameter 'accountId'"), "%s", msg);
    cr_assert_eq(check("GET", "/rest/api/3/search/jql", "jql=project%3DX&fields=summary,status&fields=labels", NULL),
                 SB_STRICT_OK, "%s", msg);
}

Test(strict, paths_methods_and_path_parameters)
{
    cr_assert_eq(check("GET", "/rest/api/3/issue/ITSM-1/nonsense", "", NULL), SB_STRICT_REFUSED);
    cr_assert(strstr(msg, "no operation with this path"), "%s", msg);
    cr_assert_eq(check("PATCH", "/rest/api/3/issue/ITSM-1", "", NULL), SB_STRICT_REFUSED);
    cr_assert(strstr(msg, "method PATCH") && strstr(msg, "GET"), "%s", msg);
    cr_assert_eq(check("GET", "/rest/servicedeskapi/organization/abc", "", NULL), SB_STRICT_REFUSED);
    cr_assert(strstr(msg, "path parameter organizationId"), "%s", msg);
    cr_assert_eq(check("GET", "/rest/api/3/issue/createmeta/ITSM/issuetypes/10100", "", NULL), SB_STRICT_OK,
                 "the literal template wins over /issue/{issueIdOrKey}/...: %s", msg);
}

Test(strict, bodies)
{
    cr_assert_eq(check("POST", "/rest/api/3/issue/X-1/transitions", "", "{\"transition\":{\"id\":\"5\"},\"resolution\":{}}"),
                 SB_STRICT_REFUSED);
    cr_assert(strstr(msg, "body.resolution: unknown property"), "%s", msg);
    cr_assert_str_eq(first_key(), "POST /rest/api/3/issue/{issueIdOrKey}/transitions body.resolution");
    cr_assert_eq(check("POST", "/rest/api/3/issue/X-1/transitions", "",
                       "{\"transition\":{\"id\":\"5\"},\"fields\":{\"resolution\":{\"name\":\"Done\"}},"
                       "\"update\":{\"comment\":[{\"add\":{\"body\":{\"type\":\"doc\",\"version\":1,\"content\":[]}}}]}}"),
                 SB_STRICT_OK, "%s", msg);
    cr_assert_eq(check("POST", "/rest/servicedeskapi/request/X-1/comment", "", "{\"body\":\"x\",\"public\":[1]}"),
                 SB_STRICT_REFUSED);
    cr_assert(strstr(msg, "body.public: expected a boolean, got an array"), "%s", msg);
    cr_assert_eq(check("POST", "/rest/servicedeskapi/request", "", "{\"serviceDeskId\":2,\"requestTypeId\":\"13\"}"),
                 SB_STRICT_OK, "a number for a string passes (Jackson coerces, Cloud accepts): %s", msg);
    cr_assert_eq(check("POST", "/rest/api/3/issueLink", "", "{\"inwardIssue\":{\"key\":\"A-1\"},\"outwardIssue\":{\"key\":\"A-2\"}}"),
                 SB_STRICT_REFUSED);
    cr_assert(strstr(msg, "required property 'type'"), "%s", msg);
    cr_assert_eq(check("POST", "/rest/servicedeskapi/request", "", NULL), SB_STRICT_REFUSED);
    cr_assert(strstr(msg, "a JSON request body is required"), "%s", msg);
    cr_assert_eq(sb_strict_check(s, "POST", "/rest/servicedeskapi/request", "", "text/plain", "{}", 2, msg, sizeof msg, &fam),
                 SB_STRICT_REFUSED);
    cr_assert_eq(check("DELETE", "/rest/api/3/issueLink/1", "", "{\"a\":1}"), SB_STRICT_REFUSED);
    cr_assert(strstr(msg, "takes no request body"), "%s", msg);
    cr_assert_eq(sb_strict_check(s, "POST", "/rest/api/3/issue/X-1/attachments", "", "application/json", "{}", 2, msg,
                                 sizeof msg, &fam),
                 SB_STRICT_REFUSED, "multipart operations take multipart");
    cr_assert_eq(sb_strict_check(s, "POST", "/rest/api/3/issue/X-1/attachments", "", "multipart/form-data; boundary=b",
                                 "--b--", 5, msg, sizeof msg, &fam),
                 SB_STRICT_OK);
    cr_assert_eq(check("POST", "/rest/servicedeskapi/request/X-1/comment", "", "{\"body\":\"x\""), SB_STRICT_REFUSED);
    cr_assert(strstr(msg, "not JSON"), "%s", msg);
}

Test(strict, allow_list_counts_and_lets_through)
{
    char err[200];
    cr_assert_eq(sb_strict_set_allow(s, "GET /rest/servicedeskapi/organization query.serviceDeskId, POST /x", err, sizeof err), 0);
    cr_assert_eq(check("GET", "/rest/servicedeskapi/organization", "serviceDeskId=2", NULL), SB_STRICT_ALLOWED);
    cr_assert_eq(check("GET", "/rest/servicedeskapi/organization", "bogus=2", NULL), SB_STRICT_REFUSED);
    json_t *j = sb_strict_json(s);
    cr_assert_eq(json_integer_value(json_object_get(j, "allowed")), 1);
    cr_assert_eq(json_integer_value(json_object_get(j, "refused")), 1);
    cr_assert_eq(json_array_size(json_object_get(j, "allow")), 2);
    json_decref(j);
    sb_strict_reset(s);
    cr_assert_eq(sb_strict_refused(s), 0);
    char many[4096] = "";
    for (int i = 0; i < SB_STRICT_MAX_ALLOW + 1; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "GET /p%d,", i);
    cr_assert_eq(sb_strict_set_allow(s, many, err, sizeof err), -1, "at most SB_STRICT_MAX_ALLOW entries");
}

Test(strict, hostile_input_is_bounded)
{
    char query[12000], path[3000];
    memset(query, 'a', sizeof query - 1);
    query[sizeof query - 1] = 0;
    query[0] = 'x', query[1] = '=';
    cr_assert_eq(check("GET", "/rest/api/3/myself", query, NULL), SB_STRICT_REFUSED);
    memset(path, 'b', sizeof path - 1);
    path[sizeof path - 1] = 0;
    memcpy(path, "/rest/api/3/", 12);
    cr_assert_eq(check("GET", path, "", NULL), SB_STRICT_REFUSED);
    cr_assert_eq(check("GET", "/rest/api/3/myself", "\xff\xfe=1", NULL), SB_STRICT_REFUSED);
    json_t *j = sb_strict_json(s);
    char *dump = json_dumps(j, 0);
    cr_assert_not_null(dump, "the refusals stay valid JSON whatever came in");
    free(dump);
    json_decref(j);
    for (int i = 0; i < SB_STRICT_MAX_KEYS + 20; i++) { /* distinct keys beyond the cap: totals still count */
        char q[32];
        snprintf(q, sizeof q, "p%d=1", i);
        check("GET", "/rest/api/3/myself", q, NULL);
    }
    j = sb_strict_json(s);
    cr_assert_eq(json_array_size(json_object_get(j, "refusals")), SB_STRICT_MAX_KEYS);
    cr_assert_eq(json_integer_value(json_object_get(j, "refused")), SB_STRICT_MAX_KEYS + 23);
    json_decref(j);
    char err[200];
    cr_assert_null(sb_strict_new("{\"ops\":1}", 9, err, sizeof err));
}
