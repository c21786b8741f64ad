/* sb_strict: see sb_strict.h. The table is parsed once with jansson; the
 * operations are indexed by their path segments for matching, and schemas
 * stay jansson values that the validator walks ($r names a component). */
#include "sb_strict.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "embed.h"
#include "httpd.h"
#include "jsontext.h"
#include "sb_pack.h"
#include "url.h"

extern const embed_file_t sandbox_embedded[];

#define MAX_SEGS 16
#define MAX_DEPTH 48
#define MAX_VALUE 4096 /* a query value longer than this is checked by its first bytes only */

typedef struct op_s {
    const char *method, *tmpl, *family;
    char *segbuf;              /* tmpl split at '/', NUL-separated */
    const char *segs[MAX_SEGS];
    int nsegs, literals;
    const json_t *query, *pathp, *body; /* body: schema, "multipart", "any" or NULL */
    int body_required;
} op_t;

typedef struct refusal_s {
    char key[200];
    char problem[400];
    char method[8];
    char path[200];
    char query[200];
    long count;
    int allowed;
} refusal_t;

struct sb_strict_s {
    json_t *root;
    const json_t *schemas;
    op_t *ops;
    int nops;
    long checked, refused, allowed;
    refusal_t *keys;
    int nkeys;
    char allow[SB_STRICT_MAX_ALLOW][200];
    int nallow;
};

/* ---- table ---- */
static int split_segments(char *p, const char **segs, int max)
{
    int n = 0;
    while (*p) {
        while (*p == '/')
            *p++ = 0;
        if (!*p)
            break;
        if (n == max)
            return -1;
        segs[n++] = p;
        while (*p && *p != '/')
            p++;
    }
    return n;
}

sb_strict_t *sb_strict_new(const char *table, size_t len, char *err, size_t errsz)
{
    char perr[200];
    json_t *root = jsontext_parse(table, len, 64, perr, sizeof perr);
    const json_t *ops = json_object_get(root, "ops"), *schemas = json_object_get(root, "schemas");
    if (!root || !json_is_array(ops) || !json_is_object(schemas)) {
        snprintf(err, errsz, "strict mode: the OpenAPI table does not parse (%s)", root ? "shape" : perr);
        json_decref(root);
        return NULL;
    }
    sb_strict_t *s = mem_calloc(1, sizeof *s);
    s->root = root;
    s->schemas = schemas;
    s->ops = mem_calloc(json_array_size(ops) ? json_array_size(ops) : 1, sizeof *s->ops);
    s->keys = mem_calloc(SB_STRICT_MAX_KEYS, sizeof *s->keys);
    size_t i;
    const json_t *o;
    json_array_foreach(ops, i, o) {
        op_t *op = &s->ops[s->nops];
        op->method = jsontext_str(o, "m");
        op->tmpl = jsontext_str(o, "p");
        op->family = jsontext_str(o, "f");
        if (!op->method || !op->tmpl || !op->family)
            continue;
        op->segbuf = mem_strdup(op->tmpl);
        op->nsegs = split_segments(op->segbuf, op->segs, MAX_SEGS);
        if (op->nsegs < 0) {
            free(op->segbuf);
            continue;
        }
        for (int k = 0; k < op->nsegs; k++)
            op->literals += op->segs[k][0] != '{';
        op->query = json_object_get(o, "q");
        op->pathp = json_object_get(o, "pp");
        op->body = json_object_get(o, "b");
        op->body_required = json_is_true(json_object_get(o, "br"));
        s->nops++;
    }
    return s;
}

sb_strict_t *sb_strict_new_embedded(char *err, size_t errsz)
{
    for (const embed_file_t *f = sandbox_embedded; f->name; f++) {
        size_t n = strlen(f->name);
        if (n >= 20 && !strcmp(f->name + n - 20, "sandbox_openapi.json"))
            return sb_strict_new(f->data, f->len, err, errsz);
    }
    snprintf(err, errsz, "strict mode: no OpenAPI table is embedded in this binary");
    return NULL;
}

void sb_strict_free(sb_strict_t *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->nops; i++)
        free(s->ops[i].segbuf);
    free(s->ops);
    free(s->keys);
    json_decref(s->root);
    free(s);
}

int sb_strict_nops(const sb_strict_t *s)
{
    return s->nops;
}

int sb_strict_set_allow(sb_strict_t *s, const char *list, char *err, size_t errsz)
{
    char tmp[SB_STRICT_MAX_ALLOW][200];
    int n = 0;
    for (const char *p = list; p && *p;) {
        while (*p == ',' || *p == '\n' || *p == ' ')
            p++;
        size_t len = strcspn(p, ",\n");
        while (len && p[len - 1] == ' ')
            len--;
        if (!len)
            break;
        if (n == SB_STRICT_MAX_ALLOW || len >= sizeof tmp[0]) {
            snprintf(err, errsz, "strict allow-list: at most %d entries of at most %zu bytes", SB_STRICT_MAX_ALLOW,
                     sizeof tmp[0] - 1);
            return -1;
        }
        memcpy(tmp[n], p, len);
        tmp[n++][len] = 0;
        p += len;
    }
    memcpy(s->allow, tmp, sizeof tmp);
    s->nallow = n;
    return 0;
}

int sb_strict_applies(const char *path)
{
    return !strncmp(path, "/rest/api/", 10) || !strncmp(path, "/rest/servicedeskapi/", 21) ||
           !strcmp(path, "/rest/servicedeskapi");
}

/* ---- matching ---- */
/* The operation for method and path; *path_ok when some operation has the
 * path but not the method (its methods listed in methods). */
static const op_t *find_op(const sb_strict_t *s, const char *method, const char *path, int *path_ok, char *methods,
                           size_t msz)
{
    char buf[1024];
    const char *segs[MAX_SEGS];
    snprintf(buf, sizeof buf, "%s", path);
    int n = split_segments(buf, segs, MAX_SEGS);
    const op_t *best = NULL;
    *path_ok = 0;
    methods[0] = 0;
    for (int i = 0; n >= 0 && i < s->nops; i++) {
        const op_t *op = &s->ops[i];
        if (op->nsegs != n)
            continue;
        int k = 0;
        while (k < n && (op->segs[k][0] == '{' || !strcmp(op->segs[k], segs[k])))
            k++;
        if (k < n)
            continue;
        /* the most literal template wins: /issue/createmeta over /issue/{issueIdOrKey} */
        if (strcmp(op->method, method) != 0) {
            if (!strstr(methods, op->method) && strlen(methods) + 8 < msz)
                snprintf(methods + strlen(methods), msz - strlen(methods), "%s%s", methods[0] ? ", " : "", op->method);
            *path_ok = 1;
            continue;
        }
        if (!best || op->literals > best->literals)
            best = op;
    }
    return best;
}

/* ---- values ---- */
static const json_t *resolve(const sb_strict_t *s, const json_t *sch)
{
    for (int i = 0; i < 8 && json_is_object(sch); i++) {
        const char *r = jsontext_str(sch, "$r");
        if (!r)
            return sch;
        sch = json_object_get(s->schemas, r);
    }
    return sch;
}

static int is_int_text(const char *v)
{
    const char *p = v + (*v == '-' || *v == '+');
    if (!*p)
        return 0;
    for (; *p; p++)
        if (!isdigit((unsigned char)*p))
            return 0;
    return 1;
}

static int is_num_text(const char *v)
{
    char *end;
    errno = 0;
    if (!*v)
        return 0;
    strtod(v, &end);
    return !*end && !errno;
}

static int enum_has_string(const json_t *en, const char *v)
{
    size_t i;
    const json_t *x;
    json_array_foreach(en, i, x) if (json_is_string(x) && !strcmp(json_string_value(x), v)) return 1;
    return 0;
}

static void enum_list(const json_t *en, char *out, size_t outsz)
{
    size_t i, n = 0;
    const json_t *x;
    out[0] = 0;
    json_array_foreach(en, i, x) {
        if (!json_is_string(x) || n + strlen(json_string_value(x)) + 3 >= outsz)
            continue;
        n += (size_t)snprintf(out + n, outsz - n, "%s%s", i ? ", " : "", json_string_value(x));
    }
}

/* One text value (query or path) against a scalar schema; NULL when fine,
 * else what is wrong. */
static const char *scalar_text_problem(const json_t *sch, const char *v, char *why, size_t whysz)
{
    const char *type = jsontext_str(sch, "type");
    const json_t *en = json_object_get(sch, "enum");
    if (type && !strcmp(type, "integer") && !is_int_text(v))
        return "expected an integer";
    if (type && !strcmp(type, "number") && !is_num_text(v))
        return "expected a number";
    if (type && !strcmp(type, "boolean") && strcasecmp(v, "true") && strcasecmp(v, "false"))
        return "expected true or false";
    if (json_is_array(en) && json_array_size(en) && (!type || !strcmp(type, "string")) && !enum_has_string(en, v)) {
        char list[300];
        enum_list(en, list, sizeof list);
        snprintf(why, whysz, "expected one of %.250s", list);
        return why;
    }
    return NULL;
}

/* ---- JSON body schemas ---- */
typedef struct vctx_s {
    const sb_strict_t *s;
    char path[300];      /* where the walk is: body.a.b[2] */
    char fail_path[300]; /* where it failed */
    char *msg;
    size_t msgsz;
} vctx_t;

static int vfail(vctx_t *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int vfail(vctx_t *v, const char *fmt, ...)
{
    char what[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(v->msg, v->msgsz, "%s: %s", v->path, what);
    memcpy(v->fail_path, v->path, sizeof v->path);
    return -1;
}

static const char *json_type_name(const json_t *x)
{
    switch (json_typeof(x)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static int validate(vctx_t *v, const json_t *sch, const json_t *x, int depth);

/* Appends to the path for a child, validates, restores the path. */
static int validate_child(vctx_t *v, const json_t *sch, const json_t *x, int depth, const char *key, long index)
{
    size_t n = strlen(v->path);
    if (key)
        snprintf(v->path + n, sizeof v->path - n, ".%s", key);
    else
        snprintf(v->path + n, sizeof v->path - n, "[%ld]", index);
    int rc = validate(v, sch, x, depth + 1);
    v->path[n] = 0;
    return rc;
}

static int validate_object(vctx_t *v, const json_t *sch, const json_t *x, int depth)
{
    const json_t *props = json_object_get(sch, "properties"), *addl = json_object_get(sch, "additionalProperties");
    const char *k;
    const json_t *val;
    json_object_foreach((json_t *)x, k, val) {
        const json_t *ps = json_object_get(props, k);
        if (ps) {
            if (validate_child(v, ps, val, depth, k, 0) != 0)
                return -1;
        } else if (json_is_object(addl)) { /* a map: any key, values of the schema */
            if (validate_child(v, addl, val, depth, k, 0) != 0)
                return -1;
        } else if (json_is_object(props) && json_object_size(props)) {
            char list[300] = "";
            size_t n = 0;
            const char *pk;
            const json_t *pv;
            json_object_foreach((json_t *)props, pk, pv) {
                if (n + strlen(pk) + 3 < sizeof list)
                    n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", n ? ", " : "", pk);
            }
            size_t pn = strlen(v->path); /* the key names the property: body.resolution */
            snprintf(v->path + pn, sizeof v->path - pn, ".%s", k);
            int rc = vfail(v, "unknown property (Cloud would ignore it; the schema has: %s)", list);
            v->path[pn] = 0;
            return rc;
        }
    }
    size_t i;
    const json_t *req;
    json_array_foreach(json_object_get(sch, "required"), i, req) {
        if (json_is_string(req) && !json_object_get(x, json_string_value(req)))
            return vfail(v, "required property '%s' is missing", json_string_value(req));
    }
    return 0;
}

static int validate(vctx_t *v, const json_t *sch, const json_t *x, int depth)
{
    sch = resolve(v->s, sch);
    if (!json_is_object(sch) || depth > MAX_DEPTH || json_is_null(x))
        return 0; /* null: Jackson reads it as absent */
    size_t i;
    const json_t *sub;
    json_array_foreach(json_object_get(sch, "allOf"), i, sub) {
        if (validate(v, sub, x, depth + 1) != 0)
            return -1;
    }
    const json_t *any = json_object_get(sch, "anyOf") ? json_object_get(sch, "anyOf") : json_object_get(sch, "oneOf");
    if (json_is_array(any) && json_array_size(any)) {
        char first[600] = "", first_path[sizeof v->path] = "";
        int ok = 0;
        json_array_foreach(any, i, sub) {
            if (validate(v, sub, x, depth + 1) == 0) {
                ok = 1;
                break;
            }
            if (!first[0]) {
                snprintf(first, sizeof first, "%s", v->msg);
                memcpy(first_path, v->fail_path, sizeof first_path);
            }
        }
        if (!ok) { /* none fits: report the first alternative's complaint */
            snprintf(v->msg, v->msgsz, "%s", first);
            memcpy(v->fail_path, first_path, sizeof first_path);
            return -1;
        }
    }
    const char *type = jsontext_str(sch, "type");
    if (!type && json_is_object(json_object_get(sch, "properties")))
        type = "object";
    if (!type)
        return 0;
    if (!strcmp(type, "object")) {
        if (!json_is_object(x))
            return vfail(v, "expected an object, got %s", json_type_name(x));
        return validate_object(v, sch, x, depth);
    }
    if (!strcmp(type, "array")) {
        if (!json_is_array(x))
            return vfail(v, "expected an array, got %s", json_type_name(x));
        long max = (long)jsontext_int(sch, "maxItems", -1), min = (long)jsontext_int(sch, "minItems", -1);
        if (max >= 0 && (long)json_array_size(x) > max)
            return vfail(v, "at most %ld items, got %zu", max, json_array_size(x));
        if (min >= 0 && (long)json_array_size(x) < min)
            return vfail(v, "at least %ld items, got %zu", min, json_array_size(x));
        const json_t *items = json_object_get(sch, "items"), *el;
        json_array_foreach(x, i, el) {
            if (items && validate_child(v, items, el, depth, NULL, (long)i) != 0)
                return -1;
        }
        return 0;
    }
    if (!strcmp(type, "string")) {
        if (json_is_number(x))
            return 0; /* Jackson writes the number as text */
        if (!json_is_string(x))
            return vfail(v, "expected a string, got %s", json_type_name(x));
        const json_t *en = json_object_get(sch, "enum");
        if (json_is_array(en) && json_array_size(en) && !enum_has_string(en, json_string_value(x))) {
            char list[300];
            enum_list(en, list, sizeof list);
            return vfail(v, "'%.60s' is not one of %s", json_string_value(x), list);
        }
        long max = (long)jsontext_int(sch, "maxLength", -1), min = (long)jsontext_int(sch, "minLength", -1);
        size_t n = utf8_chars(json_string_value(x));
        if (max >= 0 && (long)n > max)
            return vfail(v, "at most %ld characters, got %zu", max, n);
        if (min >= 0 && (long)n < min)
            return vfail(v, "at least %ld characters, got %zu", min, n);
        return 0;
    }
    if (!strcmp(type, "integer") || !strcmp(type, "number")) {
        int integer = !strcmp(type, "integer");
        double d;
        if (json_is_integer(x) || (!integer && json_is_real(x)))
            d = json_number_value(x);
        else if (json_is_string(x) && (integer ? is_int_text(json_string_value(x)) : is_num_text(json_string_value(x))))
            d = strtod(json_string_value(x), NULL); /* Jackson parses numeric text */
        else
            return vfail(v, "expected %s, got %s", integer ? "an integer" : "a number", json_type_name(x));
        const json_t *mn = json_object_get(sch, "minimum"), *mx = json_object_get(sch, "maximum");
        if (json_is_number(mn) && d < json_number_value(mn))
            return vfail(v, "at least %g, got %g", json_number_value(mn), d);
        if (json_is_number(mx) && d > json_number_value(mx))
            return vfail(v, "at most %g, got %g", json_number_value(mx), d);
        return 0;
    }
    if (!strcmp(type, "boolean")) {
        if (json_is_boolean(x) ||
            (json_is_string(x) && (!strcasecmp(json_string_value(x), "true") || !strcasecmp(json_string_value(x), "false"))))
            return 0;
        return vfail(v, "expected a boolean, got %s", json_type_name(x));
    }
    return 0;
}

/* ---- the check ---- */
typedef struct check_s {
    char where[120];
    char problem[400];
} check_t;

static int problem(check_t *ck, const char *where, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int problem(check_t *ck, const char *where, const char *fmt, ...)
{
    va_list ap;
    snprintf(ck->where, sizeof ck->where, "%s", where);
    va_start(ap, fmt);
    vsnprintf(ck->problem, sizeof ck->problem, fmt, ap);
    va_end(ap);
    return -1;
}

static int check_path_params(const op_t *op, const char *path, check_t *ck)
{
    char buf[1024], why[300], where[120];
    const char *segs[MAX_SEGS];
    snprintf(buf, sizeof buf, "%s", path);
    int n = split_segments(buf, segs, MAX_SEGS);
    for (int k = 0; k < n && k < op->nsegs; k++) {
        if (op->segs[k][0] != '{')
            continue;
        char name[80];
        snprintf(name, sizeof name, "%.*s", (int)strlen(op->segs[k]) - 2, op->segs[k] + 1);
        char val[256];
        if (url_decode(segs[k], strlen(segs[k]), val, sizeof val, 0) < 0)
            snprintf(val, sizeof val, "%s", segs[k]);
        const char *p = scalar_text_problem(json_object_get(op->pathp, name), val, why, sizeof why);
        if (p) {
            snprintf(where, sizeof where, "path.%s", name);
            return problem(ck, where, "path parameter %s = '%.60s': %s", name, val, p);
        }
    }
    return 0;
}

static int check_query(const sb_strict_t *s, const op_t *op, const char *query, check_t *ck)
{
    char seen[64][64];
    int nseen = 0;
    char where[120], why[300];
    for (const char *p = query; p && *p;) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        size_t kn = eq ? (size_t)(eq - p) : n;
        char name[128], val[MAX_VALUE + 1];
        if (kn == 0) {
            p += n + (amp != NULL);
            continue;
        }
        if (url_decode(p, kn, name, sizeof name, URL_DECODE_PLUS) < 0)
            snprintf(name, sizeof name, "%.*s", (int)(kn < 100 ? kn : 100), p);
        size_t vn = eq ? n - kn - 1 : 0;
        if (vn > MAX_VALUE)
            vn = MAX_VALUE;
        if (!eq || url_decode(eq + 1, vn, val, sizeof val, URL_DECODE_PLUS) < 0)
            val[0] = 0;
        p += n + (amp != NULL);
        const json_t *ps = resolve(s, json_object_get(op->query, name));
        snprintf(where, sizeof where, "query.%.100s", name);
        if (!ps) {
            char list[300] = "";
            size_t ln = 0;
            const char *k;
            const json_t *x;
            json_object_foreach((json_t *)op->query, k, x) {
                if (ln + strlen(k) + 3 < sizeof list)
                    ln += (size_t)snprintf(list + ln, sizeof list - ln, "%s%s", ln ? ", " : "", k);
            }
            return problem(ck, where, "query parameter '%.100s' is not a parameter of this operation (Cloud would "
                                      "ignore it; it has: %s)", name, ln ? list : "none");
        }
        const char *type = jsontext_str(ps, "type");
        int array = type && !strcmp(type, "array");
        int dup = 0;
        for (int i = 0; i < nseen; i++)
            dup |= !strcmp(seen[i], name);
        if (dup && !array)
            return problem(ck, where, "query parameter '%.100s' is repeated but takes one value", name);
        if (!dup && nseen < 64)
            snprintf(seen[nseen++], sizeof seen[0], "%.63s", name);
        if (!array) {
            const char *pr = scalar_text_problem(ps, val, why, sizeof why);
            if (pr)
                return problem(ck, where, "query parameter %.100s = '%.60s': %s", name, val, pr);
            continue;
        }
        const json_t *items = resolve(s, json_object_get(ps, "items"));
        for (char *it = val; it;) { /* repeated or comma-separated items */
            char *comma = strchr(it, ',');
            if (comma)
                *comma = 0;
            const char *pr = *it ? scalar_text_problem(items, it, why, sizeof why) : NULL;
            if (pr)
                return problem(ck, where, "query parameter %.100s item '%.60s': %s", name, it, pr);
            it = comma ? comma + 1 : NULL;
        }
    }
    const char *k;
    const json_t *x;
    json_object_foreach((json_t *)op->query, k, x) {
        if (!json_is_true(json_object_get(x, "req")))
            continue;
        int found = 0;
        for (int i = 0; i < nseen; i++)
            found |= !strcmp(seen[i], k);
        if (!found) {
            snprintf(where, sizeof where, "query.%.100s", k);
            return problem(ck, where, "required query parameter '%s' is missing", k);
        }
    }
    return 0;
}

static int media_is(const char *ctype, const char *want)
{
    size_t n = strlen(want);
    return ctype && !strncasecmp(ctype, want, n) && (!ctype[n] || ctype[n] == ';' || ctype[n] == ' ');
}

static int check_body(const sb_strict_t *s, const op_t *op, const char *ctype, const char *body, size_t len,
                      check_t *ck)
{
    if (!op->body) {
        if (len)
            return problem(ck, "body", "this operation takes no request body (Cloud would ignore it)");
        return 0;
    }
    if (json_is_string(op->body)) {
        const char *kind = json_string_value(op->body);
        if (!strcmp(kind, "multipart") && (!ctype || strncasecmp(ctype, "multipart/form-data", 19) != 0))
            return problem(ck, "body", "this operation takes multipart/form-data, got Content-Type %.60s",
                           ctype ? ctype : "(none)");
        return 0;
    }
    if (!len) {
        if (op->body_required)
            return problem(ck, "body", "a JSON request body is required");
        return 0;
    }
    if (!media_is(ctype, "application/json"))
        return problem(ck, "body", "the JSON body needs Content-Type application/json, got %.60s",
                       ctype ? ctype : "(none)");
    char perr[200];
    json_t *x = jsontext_parse(body, len, 64, perr, sizeof perr);
    if (!x)
        return problem(ck, "body", "the body is not JSON: %s", perr);
    char msg[600];
    vctx_t v = {s, "body", "body", msg, sizeof msg};
    int rc = validate(&v, op->body, x, 0);
    json_decref(x);
    if (rc != 0) {
        char where[120];
        snprintf(where, sizeof where, "%.119s", v.fail_path);
        /* array indexes out of the key: body.a[3].b counts with body.a[0].b */
        char *w = where, *r = where;
        while (*r) {
            if (*r == '[') {
                while (*r && *r != ']')
                    r++;
                if (*r)
                    r++;
                *w++ = '[', *w++ = ']';
                continue;
            }
            *w++ = *r++;
        }
        *w = 0;
        return problem(ck, where, "%s", msg);
    }
    return 0;
}

/* Recorded text is client input: printable ASCII only, so the control
 * API's JSON always serialises. */
static void ascii_copy(char *dst, size_t dstsz, const char *src)
{
    size_t n = 0;
    for (; src && *src && n + 1 < dstsz; src++)
        dst[n++] = (*src >= 0x20 && *src < 0x7f) ? *src : '?';
    dst[n] = 0;
}

static refusal_t *key_slot(sb_strict_t *s, const char *key)
{
    char clean[sizeof s->keys[0].key];
    ascii_copy(clean, sizeof clean, key);
    for (int i = 0; i < s->nkeys; i++)
        if (!strcmp(s->keys[i].key, clean))
            return &s->keys[i];
    if (s->nkeys == SB_STRICT_MAX_KEYS)
        return NULL; /* counted in the totals only */
    refusal_t *r = &s->keys[s->nkeys++];
    ascii_copy(r->key, sizeof r->key, key);
    return r;
}

int sb_strict_check(sb_strict_t *s, const char *method, const char *path, const char *query, const char *ctype,
                    const char *body, size_t len, char *msg, size_t msgsz, const char **family)
{
    s->checked++;
    *family = !strncmp(path, "/rest/servicedeskapi", 20) ? "jsm" : "platform";
    int path_ok;
    char methods[64];
    check_t ck;
    memset(&ck, 0, sizeof ck);
    const op_t *op = find_op(s, method, path, &path_ok, methods, sizeof methods);
    const char *tmpl = op ? op->tmpl : path;
    if (!op && path_ok)
        problem(&ck, "method", "method %s is not an operation of this path (it has: %s)", method, methods);
    else if (!op)
        problem(&ck, "operation", "no operation with this path in Atlassian's OpenAPI documents");
    else if (check_path_params(op, path, &ck) == 0 && check_query(s, op, query, &ck) == 0 &&
             check_body(s, op, ctype, body, len, &ck) == 0)
        return SB_STRICT_OK;
    if (op)
        *family = op->family;
    char key[300];
    snprintf(key, sizeof key, "%.8s %.120s %s", method, tmpl, ck.where);
    int allowed = 0;
    for (int i = 0; i < s->nallow && !allowed; i++)
        allowed = !strncmp(key, s->allow[i], strlen(s->allow[i]));
    refusal_t *r = key_slot(s, key);
    if (r) {
        if (!r->count) {
            ascii_copy(r->problem, sizeof r->problem, ck.problem);
            ascii_copy(r->method, sizeof r->method, method);
            ascii_copy(r->path, sizeof r->path, path);
            ascii_copy(r->query, sizeof r->query, query);
        }
        r->count++;
        r->allowed = allowed;
    }
    snprintf(msg, msgsz, "Sandbox strict mode refused %s %s: %s", method, tmpl, ck.problem);
    if (allowed) {
        s->allowed++;
        return SB_STRICT_ALLOWED;
    }
    s->refused++;
    return SB_STRICT_REFUSED;
}

json_t *sb_strict_json(const sb_strict_t *s)
{
    json_t *allow = json_array(), *keys = json_array();
    for (int i = 0; i < s->nallow; i++)
        json_array_append_new(allow, json_string(s->allow[i]));
    for (int i = 0; i < s->nkeys; i++) {
        const refusal_t *r = &s->keys[i];
        json_array_append_new(keys, sb_pack("{s:s, s:s, s:I, s:b, s:s, s:s, s:s}", "key", r->key, "problem",
                                            r->problem, "count", (json_int_t)r->count, "allowed", r->allowed,
                                            "method", r->method, "path", r->path, "query", r->query));
    }
    return sb_pack("{s:b, s:i, s:I, s:I, s:I, s:o, s:o}", "enabled", 1, "operations", s->nops, "checked",
                   (json_int_t)s->checked, "refused", (json_int_t)s->refused, "allowed", (json_int_t)s->allowed,
                   "allow", allow, "refusals", keys);
}

void sb_strict_reset(sb_strict_t *s)
{
    s->checked = s->refused = s->allowed = 0;
    s->nkeys = 0;
}

long sb_strict_refused(const sb_strict_t *s)
{
    return s->refused;
}
