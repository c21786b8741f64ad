/* ap_tools: the tool catalog as the admin API sees it. The catalog is the
 * worker's (worker/catalog.json, embedded in both binaries) and the
 * filter rules are common/toolfilter's, so the API and the workers always
 * agree on which tools a server's config leaves. Parsed once, read-only. */
#include "ap_tools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ap_input.h"
#include "embed.h"
#include "jsontext.h"
#include "toolfilter.h"

extern const embed_file_t api_embedded[];

static json_t *catalog; /* the parsed catalog document, for the process' life */

static const json_t *tools(void)
{
    if (!catalog) {
        char err[256];
        const embed_file_t *f = embed_find(api_embedded, "worker/catalog.json");
        catalog = f ? jsontext_parse(f->data, f->len, 64, err, sizeof err) : NULL;
        if (!catalog)
            catalog = json_pack("{s[]}", "tools");
    }
    return json_object_get(catalog, "tools");
}

/* Discovery exposure lists three meta tools, whatever the filters leave. */
static int discovery(const json_t *cfg)
{
    const char *te = json_string_value(json_object_get(cfg, "tool_exposure"));
    return te && strcmp(te, "discovery") == 0;
}

int ap_tools_count(const json_t *cfg)
{
    size_t i;
    const json_t *row;
    int n = 0;
    json_array_foreach(tools(), i, row) {
        if (toolfilter_row_allowed(row, cfg))
            n++;
    }
    return n;
}

void ap_tools_free(void)
{
    json_decref(catalog);
    catalog = NULL;
}

/* Splits "a,b" from a query parameter into a JSON array under name in cfg
 * (nothing when absent); -1 when r was answered 400. Every entry is kept,
 * empty ones too ("read," has one), and "methods=" is an empty list: the
 * config's rules refuse them, as they would in a server's config. */
static int csv_param(ap_req_t *r, const char *name, json_t *cfg)
{
    char v[1024];
    int rc = ap_qread(r, name, v, sizeof v);
    if (rc == AP_Q_ABSENT)
        return 0;
    if (rc != AP_Q_PRESENT && rc != AP_Q_EMPTY)
        return ap_qfail(r, name, rc, rc == AP_Q_TOO_LONG ? "the list is longer than 1023 bytes" : NULL);
    json_t *a = json_array();
    for (char *p = v; rc == AP_Q_PRESENT; p++) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = 0;
        json_array_append_new(a, json_string(p)); /* UTF-8: ap_qread checked it */
        if (!comma)
            break;
        p = comma;
    }
    json_object_set_new(cfg, name, a);
    return 0;
}

/* GET /tools?methods=read,write&tags=itsm&projects=ITSM&tool_exposure=all:
 * what a server with that config would offer, for the dashboard's create
 * form (projects leave out the unscoped tools). The parameters are the
 * config's members, checked by the code that checks a server's config
 * (ap_in_server_config): what a server would refuse is a 400 naming the
 * parameter. */
static void tools_list(ap_req_t *r)
{
    char te[32];
    json_t *given = json_object(), *cfg = NULL;
    int n = 0;
    if (csv_param(r, "methods", given) || csv_param(r, "tags", given) || csv_param(r, "projects", given) ||
        (n = ap_qparam(r, "tool_exposure", te, sizeof te, "all or discovery")) < 0) {
        json_decref(given); /* answered */
        return;
    }
    if (n > 0)
        json_object_set_new(given, "tool_exposure", json_string(te));
    ap_in_err_t e;
    int bad = ap_in_server_config(given, &cfg, &e);
    json_decref(given);
    if (bad) {
        /* "/config/methods/1" and "config.methods[1] ..." name the member,
         * which is the parameter here. */
        char name[32] = "";
        if (strncmp(e.field, "/config/", 8) == 0)
            snprintf(name, sizeof name, "%.*s", (int)strcspn(e.field + 8, "/"), e.field + 8);
        ap_fail(r, 400, strncmp(e.detail, "config.", 7) == 0 ? e.detail + 7 : e.detail, name[0] ? name : NULL);
        return;
    }
    json_t *list = json_array();
    size_t i;
    const json_t *row;
    json_array_foreach(tools(), i, row) {
        if (!toolfilter_row_allowed(row, cfg))
            continue;
        json_t *tags = json_object_get(row, "tags");
        json_array_append_new(list, json_pack("{s:s, s:s?, s:s?, s:O}", "name", jsontext_str(row, "name"), "title",
                                              jsontext_str(row, "title"), "method", jsontext_str(row, "kind"), "tags",
                                              tags ? tags : json_array()));
    }
    json_t *out = json_pack("{s:o, s:I, s:b}", "result", list, "count", (json_int_t)json_array_size(list),
                            "discovery", discovery(cfg));
    json_decref(cfg);
    ap_ok(r, 200, out);
}

const ap_route_t ap_tools_routes[] = {
    {"GET", "/tools", AP_ROLE_WORKSPACE, tools_list, "tools_list"},
    {NULL, NULL, AP_ROLE_NONE, NULL, NULL},
};
