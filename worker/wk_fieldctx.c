/* wk_fieldctx: see wk_fieldctx.h. */
#include "wk_fieldctx.h"

#include <string.h>

#include "jsontext.h"
#include "wk_jql.h"

#define PENDING "jsmcpPending"

json_t *wk_fieldctx_field(const json_t *fields, const char *id)
{
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f)
        if (jsontext_str(f, "id") && id && strcmp(jsontext_str(f, "id"), id) == 0)
            return f;
    return NULL;
}

const char *wk_fieldctx_next(json_t *fields, const json_t *need, size_t *i)
{
    for (; *i < json_array_size(need); (*i)++) {
        const char *id = json_string_value(json_array_get(need, *i));
        json_t *f = wk_fieldctx_field(fields, id);
        const char *team = jsontext_str(json_object_get(json_object_get(f, "scope"), "project"), "id");
        if (f && team && strspn(team, "0123456789") == strlen(team) && *team) {
            json_object_set_new(f, PENDING, json_pack("{s:b,s:[s]}", "global", 0, "projectIds", team));
            continue;
        }
        if (!f || strncmp(id, "customfield_", 12) != 0 || strspn(id + 12, "0123456789") != strlen(id + 12)) {
            if (f)
                json_object_set_new(f, PENDING, json_pack("{s:b}", "failed", 1));
            continue;
        }
        return id;
    }
    return NULL;
}

void wk_fieldctx_answer(json_t *fields, const char *id, const json_t *body)
{
    json_t *f = wk_fieldctx_field(fields, id);
    /* Reading contexts needs Jira admin rights on real sites: a refusal
     * leaves the context unknown, it does not fail the call. */
    json_t *pend = json_pack("{s:b,s:[]}", "global", 0, "projectIds");
    if (!json_is_array(json_object_get(body, "values")))
        json_object_set_new(pend, "failed", json_true());
    size_t i;
    const json_t *m;
    json_array_foreach(json_object_get(body, "values"), i, m) {
        const char *pid = jsontext_str(m, "projectId");
        if (json_is_true(json_object_get(m, "isGlobalContext")))
            json_object_set_new(pend, "global", json_true());
        else if (pid && *pid && strspn(pid, "0123456789") == strlen(pid) && strlen(pid) < 19)
            json_array_append_new(json_object_get(pend, "projectIds"), json_string(pid));
    }
    if (f)
        json_object_set_new(f, PENDING, pend);
    else
        json_decref(pend);
}

json_t *wk_fieldctx_project_ids(const json_t *fields, const json_t *need)
{
    json_t *ids = json_array();
    size_t i, j;
    const json_t *id, *pid;
    json_array_foreach(need, i, id)
        json_array_foreach(json_object_get(json_object_get(wk_fieldctx_field(fields, json_string_value(id)), PENDING),
                                           "projectIds"), j, pid)
            if (json_array_size(ids) < 50)
                json_array_append(ids, (json_t *)pid);
    return ids;
}

void wk_fieldctx_write(json_t *fields, const json_t *need, const json_t *projects)
{
    size_t i, j, k;
    const json_t *id, *pid, *p;
    json_array_foreach(need, i, id) {
        json_t *f = wk_fieldctx_field(fields, json_string_value(id));
        json_t *pend = json_object_get(f, PENDING);
        if (!pend)
            continue;
        json_t *ctx;
        if (json_is_true(json_object_get(pend, "failed"))) {
            ctx = json_pack("{s:b}", "unknown", 1);
        } else if (json_is_true(json_object_get(pend, "global"))) {
            ctx = json_pack("{s:b}", "global", 1);
        } else {
            json_t *keys = json_array();
            json_array_foreach(json_object_get(pend, "projectIds"), j, pid) {
                const char *key = NULL;
                json_array_foreach(projects, k, p)
                    if (jsontext_str(p, "id") && jsontext_str(p, "key") &&
                        strcmp(jsontext_str(p, "id"), json_string_value(pid)) == 0)
                        key = jsontext_str(p, "key");
                if (key)
                    json_array_append_new(keys, json_string(key));
                else
                    json_array_append_new(keys, json_pack("s+", "id ", json_string_value(pid)));
            }
            ctx = json_pack("{s:o}", "projects", keys);
        }
        json_object_set_new(f, WK_JQL_CONTEXT, ctx);
        json_object_del(f, PENDING);
    }
}
