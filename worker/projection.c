/* projection: see projection.h. Templates come from the catalog (trusted,
 * checked at start with proj_check), sources from JSM (untrusted, but
 * already parsed with a depth limit), so recursion is bounded by both. */
#include "projection.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "clock.h"

#define PROJ_ADF_MAX 16384   /* characters of plain text rendered from one ADF value */
#define PROJ_PATH_MAX 256

const json_t *proj_path(const json_t *src, const char *path)
{
    if (!src || !path)
        return NULL;
    if (strcmp(path, ".") == 0)
        return src;
    const json_t *cur = src;
    const char *p = path;
    char seg[PROJ_PATH_MAX];
    while (*p && cur) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n == 0 || n >= sizeof seg)
            return NULL;
        memcpy(seg, p, n);
        seg[n] = 0;
        if (json_is_array(cur)) {
            char *end;
            long idx = strtol(seg, &end, 10);
            if (*end || end == seg)
                return NULL;
            /* "-1" is the last element ("completedCycles.-1": the latest). */
            if (idx < 0 && (size_t)-idx > json_array_size(cur))
                return NULL;
            cur = json_array_get(cur, idx < 0 ? json_array_size(cur) - (size_t)-idx : (size_t)idx);
        } else if (json_is_object(cur)) {
            cur = json_object_get(cur, seg);
        } else {
            return NULL;
        }
        p = dot ? dot + 1 : p + n;
    }
    return cur;
}

/* ---- ADF -> text ---- */

typedef struct adf_out_s {
    buf_t b;
    size_t maxlen; /* characters */
    size_t chars;  /* characters in b */
    int truncated;
} adf_out_t;

/* How many bytes of s[0..n) hold at most room characters, whole UTF-8
 * sequences (the text stays valid however it is cut); *used: how many
 * characters those are. The bounds the catalog promises ("the first 2,000
 * characters") are characters, whatever the script. */
static size_t utf8_fit(const char *s, size_t n, size_t room, size_t *used)
{
    size_t i = 0, c = 0;
    for (; i < n; i++) {
        if (((unsigned char)s[i] & 0xC0) == 0x80)
            continue; /* inside the character counted at its first byte */
        if (c == room)
            break;
        c++;
    }
    *used = c;
    return i;
}

static void adf_put(adf_out_t *o, const char *s, size_t n)
{
    if (o->truncated)
        return;
    size_t used, keep = utf8_fit(s, n, o->maxlen - o->chars, &used);
    if (keep < n)
        o->truncated = 1;
    buf_append(&o->b, s, keep);
    o->chars += used;
}

static int adf_is_block(const char *type)
{
    static const char *const blocks[] = {"paragraph", "heading", "blockquote", "codeBlock",
                                         "listItem", "rule", "panel", "table", "tableRow",
                                         "mediaSingle", "expand", "taskItem", "decisionItem", NULL};
    for (int i = 0; blocks[i]; i++)
        if (strcmp(type, blocks[i]) == 0)
            return 1;
    return 0;
}

static void adf_walk(adf_out_t *o, const json_t *node, int depth)
{
    if (!json_is_object(node) || depth > 64 || o->truncated)
        return;
    const char *type = json_string_value(json_object_get(node, "type"));
    if (!type)
        type = "";
    if (strcmp(type, "text") == 0) {
        const char *t = json_string_value(json_object_get(node, "text"));
        if (t)
            adf_put(o, t, strlen(t));
        return;
    }
    if (strcmp(type, "hardBreak") == 0) {
        adf_put(o, "\n", 1);
        return;
    }
    if (strcmp(type, "mention") == 0 || strcmp(type, "emoji") == 0 ||
        strcmp(type, "status") == 0 || strcmp(type, "inlineCard") == 0) {
        const json_t *a = json_object_get(node, "attrs");
        const char *t = json_string_value(json_object_get(a, "text"));
        if (!t)
            t = json_string_value(json_object_get(a, "shortName"));
        if (!t)
            t = json_string_value(json_object_get(a, "url"));
        if (t)
            adf_put(o, t, strlen(t));
        return;
    }
    if (strcmp(type, "listItem") == 0)
        adf_put(o, "- ", 2);
    const json_t *content = json_object_get(node, "content");
    size_t i;
    const json_t *child;
    json_array_foreach(content, i, child) {
        adf_walk(o, child, depth + 1);
        if (strcmp(type, "tableRow") == 0 && i + 1 < json_array_size(content))
            adf_put(o, " | ", 3);
    }
    if (adf_is_block(type) && o->b.len && o->b.data[o->b.len - 1] != '\n')
        adf_put(o, "\n", 1);
}

char *proj_adf_text(const json_t *v, size_t maxlen)
{
    if (!maxlen)
        maxlen = PROJ_ADF_MAX;
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = strlen(s), used, keep = utf8_fit(s, n, maxlen, &used);
        if (keep == n)
            return mem_strdup(s);
        char *r = mem_alloc(keep + 4);
        memcpy(r, s, keep);
        memcpy(r + keep, "...", 4);
        return r;
    }
    if (!json_is_object(v))
        return NULL;
    adf_out_t o = {.maxlen = maxlen};
    buf_init(&o.b, 4 * maxlen + 8); /* up to 4 bytes a character */
    adf_walk(&o, v, 0);
    while (o.b.len && o.b.data[o.b.len - 1] == '\n')
        o.b.data[--o.b.len] = 0; /* o.chars is not read from here on */
    if (o.truncated)
        buf_append(&o.b, "...", 3);
    size_t n;
    char *r = buf_steal(&o.b, &n);
    return r ? r : mem_strdup("");
}

int proj_date(const json_t *v, char *out, size_t outsz)
{
    int64_t ms;
    if (json_is_object(v)) {
        const json_t *em = json_object_get(v, "epochMillis");
        if (json_is_integer(em)) {
            clock_format_iso(json_integer_value(em), 0, out, outsz);
            return 0;
        }
        v = json_object_get(v, "iso8601");
    }
    if (json_is_integer(v)) {
        clock_format_iso(json_integer_value(v), 0, out, outsz);
        return 0;
    }
    if (!json_is_string(v))
        return -1;
    if (clock_parse_iso(json_string_value(v), &ms) != 0) {
        /* A plain date ("2026-01-31", Jira's duedate) stays as it is. */
        const char *s = json_string_value(v);
        if (strlen(s) == 10 && s[4] == '-' && s[7] == '-') {
            snprintf(out, outsz, "%s", s);
            return 0;
        }
        return -1;
    }
    clock_format_iso(ms, 0, out, outsz);
    return 0;
}

static json_t *proj_user(const json_t *u)
{
    if (!json_is_object(u))
        return NULL;
    /* The source's strings are shared, not copied (see proj_apply). */
    json_t *r = json_object();
    json_t *name = json_object_get(u, "displayName");
    if (json_is_string(name))
        json_object_set(r, "name", name);
    json_t *id = json_object_get(u, "accountId");
    if (json_is_string(id))
        json_object_set(r, "accountId", id);
    json_t *tz = json_object_get(u, "timeZone");
    if (json_is_string(tz))
        json_object_set(r, "timeZone", tz);
    if (json_is_false(json_object_get(u, "active")))
        json_object_set_new(r, "active", json_false());
    if (json_object_size(r) == 0) {
        json_decref(r);
        return NULL;
    }
    return r;
}

/* The operator of a template object ("$adf", ...) or NULL for a plain object. */
static const char *op_of(const json_t *tmpl)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)tmpl, k, v) {
        if (k[0] == '$')
            return k;
    }
    return NULL;
}

static json_t *apply(const json_t *tmpl, const json_t *src, int depth);

static json_t *apply_op(const char *op, const json_t *tmpl, const json_t *src, int depth)
{
    const json_t *arg = json_object_get(tmpl, op);
    if (strcmp(op, "$const") == 0)
        return json_is_null(arg) ? NULL : json_deep_copy(arg);
    if (strcmp(op, "$first") == 0) {
        size_t i;
        const json_t *t;
        json_array_foreach(arg, i, t) {
            json_t *r = apply(t, src, depth + 1);
            if (r)
                return r;
        }
        return NULL;
    }
    const json_t *v = proj_path(src, json_string_value(arg));
    if (!v || json_is_null(v))
        return NULL;
    if (strcmp(op, "$adf") == 0) {
        /* Valid UTF-8: pieces of the source's strings (which the parser
         * checked), cut at character boundaries, and ASCII of our own.
         * "max": a smaller bound than PROJ_ADF_MAX (a cap of the template). */
        json_int_t max = json_integer_value(json_object_get(tmpl, "max"));
        char *s = proj_adf_text(v, max > 0 ? (size_t)max : 0);
        json_t *r = s ? json_stringn_nocheck(s, strlen(s)) : NULL;
        free(s);
        return r;
    }
    if (strcmp(op, "$date") == 0) {
        char d[40];
        return proj_date(v, d, sizeof d) == 0 ? json_stringn_nocheck(d, strlen(d)) : NULL;
    }
    if (strcmp(op, "$user") == 0)
        return proj_user(v);
    if (strcmp(op, "$count") == 0)
        return json_is_array(v) ? json_integer((json_int_t)json_array_size(v)) : NULL;
    if (strcmp(op, "$each") == 0) {
        if (!json_is_array(v))
            return NULL;
        const json_t *map = json_object_get(tmpl, "map");
        /* "last": N keeps only the last N elements (the latest comments). */
        json_int_t last = json_integer_value(json_object_get(tmpl, "last"));
        size_t from = last > 0 && (size_t)last < json_array_size(v) ? json_array_size(v) - (size_t)last : 0;
        json_t *r = json_array();
        for (size_t i = from; i < json_array_size(v); i++) {
            const json_t *item = json_array_get(v, i);
            json_t *m = map ? apply(map, item, depth + 1) : json_incref((json_t *)item);
            if (m)
                json_array_append_new(r, m);
        }
        return r;
    }
    if (strcmp(op, "$values") == 0) {
        /* An object's member values, in the source's order, as an array
         * (a transition screen's fields are keyed by field id). */
        if (!json_is_object(v))
            return NULL;
        const json_t *map = json_object_get(tmpl, "map");
        json_t *r = json_array();
        const char *k;
        json_t *item;
        json_object_foreach((json_t *)v, k, item) {
            json_t *m = map ? apply(map, item, depth + 1) : json_incref(item);
            if (m)
                json_array_append_new(r, m);
        }
        return r;
    }
    if (strcmp(op, "$find") == 0) {
        /* The first element of an array whose members equal those of
         * "where" (strings): requestFieldValues by fieldId, not by position. */
        const json_t *where = json_object_get(tmpl, "where"), *map = json_object_get(tmpl, "map");
        size_t i;
        const json_t *item;
        json_array_foreach(v, i, item) {
            const char *wk;
            json_t *wv;
            int all = 1;
            json_object_foreach((json_t *)where, wk, wv) {
                const char *have = json_string_value(proj_path(item, wk));
                all &= have && strcmp(have, json_string_value(wv)) == 0;
            }
            if (all)
                return map ? apply(map, item, depth + 1) : json_incref((json_t *)item);
        }
        return NULL;
    }
    return NULL;
}

static json_t *apply(const json_t *tmpl, const json_t *src, int depth)
{
    if (depth > 32)
        return NULL;
    if (json_is_string(tmpl)) {
        const json_t *v = proj_path(src, json_string_value(tmpl));
        return v && !json_is_null(v) ? json_incref((json_t *)v) : NULL;
    }
    if (!json_is_object(tmpl))
        return NULL;
    const char *op = op_of(tmpl);
    if (op)
        return apply_op(op, tmpl, src, depth);
    json_t *r = json_object();
    const char *k;
    json_t *t;
    json_object_foreach((json_t *)tmpl, k, t) {
        json_t *m = apply(t, src, depth + 1);
        if (m)
            json_object_set_new(r, k, m);
    }
    if (json_object_size(r) == 0) {
        json_decref(r);
        return NULL;
    }
    return r;
}

json_t *proj_apply(const json_t *tmpl, const json_t *src)
{
    return apply(tmpl, src, 0);
}

/* The keep node of a projection path. A negative index ("cycles.-1.x")
 * cannot be known before the array is read: the members after it are kept
 * in every element (arrays pass through keep nodes). */
static jsontext_keep_t *keep_node(jsontext_keep_t *keep, const char *path)
{
    char head[PROJ_PATH_MAX];
    for (const char *p = path; p && *p;) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n > 1 && p[0] == '-' && strspn(p + 1, "0123456789") >= n - 1) {
            size_t hl = (size_t)(p - path);
            if (hl > sizeof head)
                return NULL;
            jsontext_keep_t *k = keep;
            if (hl > 0) {
                memcpy(head, path, hl - 1);
                head[hl - 1] = 0;
                k = jsontext_keep_path(keep, head);
            }
            return dot ? keep_node(k, dot + 1) : k;
        }
        p = dot ? dot + 1 : p + n;
    }
    return jsontext_keep_path(keep, path);
}

static void keep_all(jsontext_keep_t *keep, const char *path)
{
    jsontext_keep_t *n = keep_node(keep, path);
    if (n)
        jsontext_keep_all(n, ".");
}

void proj_keep(jsontext_keep_t *keep, const json_t *tmpl)
{
    if (!keep || !tmpl)
        return;
    if (json_is_string(tmpl)) {
        keep_all(keep, json_string_value(tmpl)); /* copied as it is, whatever its shape */
        return;
    }
    const char *op = op_of(tmpl);
    const char *k;
    const json_t *t;
    if (!op) {
        json_object_foreach((json_t *)tmpl, k, t)
            proj_keep(keep, t);
        return;
    }
    const json_t *arg = json_object_get(tmpl, op);
    if (strcmp(op, "$const") == 0)
        return;
    if (strcmp(op, "$first") == 0) {
        size_t i;
        json_array_foreach(arg, i, t)
            proj_keep(keep, t);
        return;
    }
    if (strcmp(op, "$user") == 0) {
        /* The members proj_user reads (a user's avatarUrls and self are not). */
        static const char *const user_members[] = {"displayName", "accountId", "timeZone", "active", NULL};
        jsontext_keep_t *u = keep_node(keep, json_string_value(arg));
        for (int i = 0; u && user_members[i]; i++)
            jsontext_keep_all(u, user_members[i]);
        return;
    }
    if ((strcmp(op, "$each") == 0 || strcmp(op, "$find") == 0) && json_object_get(tmpl, "map")) {
        /* The map reads each element: arrays pass through keep's nodes. */
        jsontext_keep_t *n = keep_node(keep, json_string_value(arg));
        proj_keep(n, json_object_get(tmpl, "map"));
        const char *wk;
        json_t *wv;
        json_object_foreach(json_object_get(tmpl, "where"), wk, wv)
            keep_all(n, wk);
        return;
    }
    /* $adf, $date, $count, $values (an object's members have no names to
     * keep by), $each and $find without map */
    keep_all(keep, json_string_value(arg));
}

static int check(const json_t *tmpl, int depth, char *err, size_t errsz)
{
    static const char *const ops[] = {"$adf", "$date", "$user", "$each", "$count", "$const",
                                      "$first", "$values", "$find", NULL};
    if (depth > 32) {
        snprintf(err, errsz, "template nested too deeply");
        return -1;
    }
    if (json_is_string(tmpl))
        return 0;
    if (!json_is_object(tmpl)) {
        snprintf(err, errsz, "template must be a path string or an object, got %s",
                 json_is_array(tmpl) ? "array" : "scalar");
        return -1;
    }
    const char *op = op_of(tmpl);
    if (!op) {
        const char *k;
        json_t *t;
        json_object_foreach((json_t *)tmpl, k, t) {
            if (check(t, depth + 1, err, errsz) != 0)
                return -1;
        }
        return 0;
    }
    int known = 0;
    for (int i = 0; ops[i]; i++)
        known |= strcmp(op, ops[i]) == 0;
    if (!known) {
        snprintf(err, errsz, "unknown template operator '%s'", op);
        return -1;
    }
    const json_t *arg = json_object_get(tmpl, op);
    if (strcmp(op, "$const") == 0)
        return 0;
    if (strcmp(op, "$first") == 0) {
        if (!json_is_array(arg)) {
            snprintf(err, errsz, "$first takes an array of templates");
            return -1;
        }
        size_t i;
        const json_t *t;
        json_array_foreach(arg, i, t) {
            if (check(t, depth + 1, err, errsz) != 0)
                return -1;
        }
        return 0;
    }
    if (!json_is_string(arg)) {
        snprintf(err, errsz, "%s takes a path string", op);
        return -1;
    }
    /* The members each operator takes beside its path. */
    static const struct {
        const char *op, *members[3];
    } extra[] = {{"$each", {"map", "last", NULL}}, {"$values", {"map", NULL}}, {"$find", {"map", "where", NULL}},
                 {"$adf", {"max", NULL}}};
    const char *k;
    json_t *m;
    json_object_foreach((json_t *)tmpl, k, m) {
        int ok = strcmp(k, op) == 0;
        for (size_t i = 0; !ok && i < sizeof extra / sizeof extra[0]; i++)
            for (int j = 0; strcmp(extra[i].op, op) == 0 && extra[i].members[j]; j++)
                ok |= strcmp(extra[i].members[j], k) == 0;
        if (!ok) {
            snprintf(err, errsz, "%s has unexpected members ('%s')", op, k);
            return -1;
        }
    }
    const json_t *n;
    if (((n = json_object_get(tmpl, "last")) || (n = json_object_get(tmpl, "max"))) &&
        (!json_is_integer(n) || json_integer_value(n) < 1)) {
        snprintf(err, errsz, "%s: last and max take a positive integer", op);
        return -1;
    }
    if (strcmp(op, "$find") == 0) {
        const json_t *where = json_object_get(tmpl, "where");
        json_object_foreach((json_t *)where, k, m)
            if (!json_is_string(m))
                where = NULL;
        if (!json_is_object(where) || json_object_size(where) == 0) {
            snprintf(err, errsz, "$find takes where: {member: string, ...}");
            return -1;
        }
    }
    const json_t *map = json_object_get(tmpl, "map");
    return map ? check(map, depth + 1, err, errsz) : 0;
}

int proj_check(const json_t *tmpl, char *err, size_t errsz)
{
    return check(tmpl, 0, err, errsz);
}

/* ---- output schemas ---- */

static json_t *schema_of(const json_t *tmpl, int depth)
{
    if (depth > 32 || !json_is_object(tmpl))
        return json_object(); /* a path: whatever JSM has there */
    const char *op = op_of(tmpl);
    if (!op) {
        json_t *props = json_object();
        const char *k;
        json_t *t;
        json_object_foreach((json_t *)tmpl, k, t)
            json_object_set_new(props, k, schema_of(t, depth + 1));
        return json_pack("{s:s,s:o}", "type", "object", "properties", props);
    }
    if (strcmp(op, "$adf") == 0)
        return json_pack("{s:s,s:s}", "type", "string", "description", "plain text");
    if (strcmp(op, "$date") == 0)
        return json_pack("{s:s,s:s}", "type", "string", "description", "ISO 8601 UTC date-time");
    if (strcmp(op, "$count") == 0)
        return json_pack("{s:s}", "type", "integer");
    if (strcmp(op, "$user") == 0)
        return json_pack("{s:s,s:{s:{s:s},s:{s:s},s:{s:s},s:{s:s}}}", "type", "object", "properties",
                         "name", "type", "string", "accountId", "type", "string", "timeZone",
                         "type", "string", "active", "type", "boolean");
    if (strcmp(op, "$each") == 0 || strcmp(op, "$values") == 0) {
        const json_t *map = json_object_get(tmpl, "map");
        return json_pack("{s:s,s:o}", "type", "array", "items", map ? schema_of(map, depth + 1) : json_object());
    }
    if (strcmp(op, "$find") == 0 && json_object_get(tmpl, "map"))
        return schema_of(json_object_get(tmpl, "map"), depth + 1);
    return json_object();
}

json_t *proj_schema(const json_t *tmpl)
{
    return schema_of(tmpl, 0);
}

json_t *proj_text_adf(const char *text)
{
    /* One paragraph per line; empty lines become empty paragraphs. */
    json_t *content = json_array();
    const char *p = text ? text : "";
    for (;;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        json_t *para = json_pack("{s:s}", "type", "paragraph");
        if (n) {
            json_t *s = json_stringn(p, n);
            if (s)
                json_object_set_new(para, "content", json_pack("[{s:s,s:o}]", "type", "text", "text", s));
        }
        json_array_append_new(content, para);
        if (!nl)
            break;
        p = nl + 1;
    }
    return json_pack("{s:s,s:i,s:o}", "type", "doc", "version", 1, "content", content);
}
