/* toolfilter: see toolfilter.h. */
#include "toolfilter.h"

#include <stdio.h>
#include <string.h>

#include "jsontext.h"

#define TF_LIST_MAX 100   /* entries in methods/tags/projects */
#define TF_NAME_MAX 64    /* chars of one tag or project key */

unsigned toolfilter_kind_bits(const char *name)
{
    static const struct { const char *name; unsigned bits; } kinds[] = {
        {"list", TF_LIST}, {"get", TF_GET}, {"create", TF_CREATE}, {"update", TF_UPDATE},
        {"delete", TF_DELETE}, {"read", TF_LIST | TF_GET},
        {"write", TF_CREATE | TF_UPDATE | TF_DELETE}};
    if (!name)
        return 0;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(name, kinds[i].name) == 0)
            return kinds[i].bits;
    return 0;
}

int toolfilter_allowed(unsigned kind, const json_t *tool_tags, int unscoped, const json_t *cfg)
{
    const json_t *methods = json_object_get(cfg, "methods");
    const json_t *tags = json_object_get(cfg, "tags");
    size_t i, j;
    const json_t *v, *m;
    if (unscoped && json_array_size(json_object_get(cfg, "projects")) > 0)
        return 0;
    if (json_array_size(methods) > 0) {
        unsigned mask = 0;
        json_array_foreach(methods, i, v)
            mask |= toolfilter_kind_bits(json_string_value(v));
        if (!(mask & kind))
            return 0;
    }
    if (json_array_size(tags) > 0) {
        json_array_foreach(tags, i, v)
            json_array_foreach(tool_tags, j, m)
                if (json_is_string(v) && json_equal(v, m))
                    return 1;
        return 0;
    }
    return 1;
}

int toolfilter_row_allowed(const json_t *row, const json_t *cfg)
{
    unsigned kind = toolfilter_kind_bits(json_string_value(json_object_get(row, "kind")));
    return kind && toolfilter_allowed(kind, json_object_get(row, "tags"),
                                      json_is_true(json_object_get(row, "unscoped")), cfg);
}

static int check_list(const json_t *cfg, const char *member, int methods, char *err, size_t errsz)
{
    const json_t *a = json_object_get(cfg, member);
    if (!a || json_is_null(a))
        return 0;
    if (!json_is_array(a) || json_array_size(a) > TF_LIST_MAX) {
        snprintf(err, errsz, "config.%s must be an array of at most %d strings", member, TF_LIST_MAX);
        return -1;
    }
    size_t i;
    const json_t *v;
    json_array_foreach(a, i, v) {
        const char *s = json_string_value(v);
        if (!s || !*s || json_string_length(v) > TF_NAME_MAX) {
            snprintf(err, errsz, "config.%s[%zu] must be a non-empty string of at most %d characters",
                     member, i, TF_NAME_MAX);
            return -1;
        }
        if (methods && !toolfilter_kind_bits(s)) {
            snprintf(err, errsz, "config.methods[%zu] must be one of read, write, list, get, create, "
                     "update, delete", i);
            return -1;
        }
    }
    return 0;
}

int toolfilter_check_config(const json_t *cfg, char *err, size_t errsz)
{
    if (!cfg || json_is_null(cfg))
        return 0;
    if (!json_is_object(cfg)) {
        snprintf(err, errsz, "config must be an object");
        return -1;
    }
    if (check_list(cfg, "methods", 1, err, errsz) || check_list(cfg, "tags", 0, err, errsz) ||
        check_list(cfg, "projects", 0, err, errsz))
        return -1;
    const json_t *te = json_object_get(cfg, "tool_exposure");
    const char *s = json_string_value(te);
    if (te && !json_is_null(te) && (!s || (strcmp(s, "all") != 0 && strcmp(s, "discovery") != 0))) {
        snprintf(err, errsz, "config.tool_exposure must be \"all\" or \"discovery\"");
        return -1;
    }
    return 0;
}

int toolfilter_count(const char *catalog_json, size_t len, const json_t *cfg, char *err,
                     size_t errsz)
{
    if (toolfilter_check_config(cfg, err, errsz) != 0)
        return -1;
    json_t *root = catalog_json ? jsontext_parse(catalog_json, len, 64, err, errsz) : NULL;
    if (!root) {
        if (!catalog_json)
            snprintf(err, errsz, "the tool catalog is not available");
        return -1;
    }
    int n = 0;
    size_t i;
    const json_t *row;
    json_array_foreach(json_object_get(root, "tools"), i, row) {
        if (toolfilter_row_allowed(row, cfg))
            n++;
    }
    json_decref(root);
    return n;
}
