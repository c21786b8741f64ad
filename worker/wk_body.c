/* wk_body: see wk_body.h. */
#include "wk_body.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "buf.h"
#include "jsontext.h"
#include "projection.h"
#include "clock.h"

/* Text form of a scalar argument (query and path use). */
int wk_body_scalar(const json_t *v, char *out, size_t outsz, const char **s)
{
    if (json_is_string(v)) {
        *s = json_string_value(v);
        return 0;
    }
    if (json_is_integer(v))
        snprintf(out, outsz, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        snprintf(out, outsz, "%.17g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(out, outsz, "%s", json_is_true(v) ? "true" : "false");
    else
        return -1;
    *s = out;
    return 0;
}

/* "{name}" -> the argument it names (borrowed), else NULL and *is_ref = 0. */
const json_t *wk_body_arg(const char *tmpl, const json_t *args, int *is_ref)
{
    size_t n = strlen(tmpl);
    *is_ref = n > 2 && tmpl[0] == '{' && tmpl[n - 1] == '}' && !memchr(tmpl + 1, '{', n - 2);
    if (!*is_ref)
        return NULL;
    char name[128];
    if (n - 2 >= sizeof name)
        return NULL;
    memcpy(name, tmpl + 1, n - 2);
    name[n - 2] = 0;
    return json_object_get(args, name);
}

/* A copy of the body template with "{arg}" strings replaced; members whose
 * argument is absent are left out. */
static json_t *fill(const json_t *tmpl, const json_t *args, int depth)
{
    if (depth > 16)
        return NULL;
    if (json_is_string(tmpl)) {
        int is_ref;
        const json_t *v = wk_body_arg(json_string_value(tmpl), args, &is_ref);
        if (is_ref)
            return v ? json_deep_copy(v) : NULL;
        return json_deep_copy(tmpl);
    }
    if (json_is_object(tmpl)) {
        const char *adf = jsontext_str(tmpl, "$adf");
        if (adf) {
            /* {"$adf":"{arg}"}: the argument's plain text as an ADF document. */
            int is_ref;
            const json_t *v = wk_body_arg(adf, args, &is_ref);
            return json_is_string(v) ? proj_text_adf(json_string_value(v)) : NULL;
        }
        const char *dflt = jsontext_str(tmpl, "$default");
        if (dflt) {
            /* {"$default":"{arg}","value":v}: the argument, or v without it. */
            int is_ref;
            const json_t *v = wk_body_arg(dflt, args, &is_ref);
            return json_deep_copy(v ? v : json_object_get(tmpl, "value"));
        }
        const char *num = jsontext_str(tmpl, "$int");
        if (num) {
            /* {"$int":"{arg}"}: a numeric id argument (a string of digits,
             * its kind) as the JSON integer the API's schema types it as. */
            int is_ref;
            const json_t *v = wk_body_arg(num, args, &is_ref);
            const char *d = json_string_value(v);
            if (json_is_integer(v))
                return json_deep_copy(v);
            return d && *d && strlen(d) < 19 && strspn(d, "0123456789") == strlen(d)
                       ? json_integer((json_int_t)strtoll(d, NULL, 10))
                       : NULL;
        }
        const char *date = jsontext_str(tmpl, "$jiradate");
        if (date) {
            /* {"$jiradate":"{arg}"}: an ISO 8601 date-time (the schema's
             * format) in the form Jira's worklog API insists on:
             * 2021-01-17T12:34:00.000+0000 ("...Z" is a 400 there). */
            int is_ref;
            const json_t *v = wk_body_arg(date, args, &is_ref);
            int64_t ms;
            char iso[40];
            if (!json_is_string(v) || clock_parse_iso(json_string_value(v), &ms) != 0)
                return NULL;
            clock_format_iso(ms, 1, iso, sizeof iso);
            size_t n = strlen(iso);
            if (n < 2 || iso[n - 1] != 'Z')
                return NULL;
            snprintf(iso + n - 1, sizeof iso - (n - 1), "+0000");
            return json_string(iso);
        }
        json_t *r = json_object();
        const char *k;
        json_t *m;
        json_object_foreach((json_t *)tmpl, k, m) {
            if (strcmp(k, "$merge") == 0) {
                /* {"$merge":"{arg}"}: an object argument's members join this
                 * object (the template's own members win). */
                int is_ref;
                const json_t *v = json_is_string(m) ? wk_body_arg(json_string_value(m), args, &is_ref) : NULL;
                if (json_is_object(v))
                    json_object_update_missing(r, (json_t *)v);
                continue;
            }
            json_t *v = fill(m, args, depth + 1);
            if (v)
                json_object_set_new(r, k, v);
        }
        if (json_object_size(r) == 0 && json_object_size(tmpl) > 0) {
            /* Every member's argument was absent: leave the whole object out. */
            json_decref(r);
            return NULL;
        }
        return r;
    }
    if (json_is_array(tmpl)) {
        json_t *r = json_array();
        size_t i;
        const json_t *m;
        json_array_foreach(tmpl, i, m) {
            json_t *v = fill(m, args, depth + 1);
            if (v)
                json_array_append_new(r, v);
        }
        if (json_array_size(r) == 0 && json_array_size(tmpl) > 0) {
            /* Every element's argument was absent ({"comment":[{"add":..}]}
             * without a comment): leave the array out, as objects. */
            json_decref(r);
            return NULL;
        }
        return r;
    }
    return json_deep_copy(tmpl);
}

json_t *wk_body_fill(const json_t *tmpl, const json_t *args)
{
    return fill(tmpl, args, 0);
}

/* Decodes base64 text (standard alphabet, padded or not, line breaks
 * allowed) into a new buffer. -1 when it is not base64. */
static int b64_decode(const char *in, char **out, size_t *outlen)
{
    size_t n = strlen(in), room = n / 4 * 3 + 3;
    *out = mem_alloc(room + 1);
    static const int variants[] = {sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING};
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        const char *end = NULL;
        if (sodium_base642bin((unsigned char *)*out, room, in, n, " \r\n\t", outlen, &end, variants[i]) == 0 &&
            end == in + n)
            return 0;
    }
    free(*out);
    *out = NULL;
    return -1;
}

/* The uploaded file of a multipart tool: {"name", "content": "{arg}"
 * (base64), "filename": "{arg}", "type"?: "{arg}"}. */
/* 1 when the UTF-8 at p is a C1 control (U+0080-U+009F), a zero-width or
 * direction mark (U+200B-U+200F), a line or paragraph separator or a
 * direction embedding or override (U+2028-U+202E), an invisible operator or
 * direction isolate (U+2060-U+2069) or a byte order mark (U+FEFF). */
static int hidden_char(const unsigned char *p)
{
    if (p[0] == 0xC2)
        return p[1] >= 0x80 && p[1] <= 0x9F;
    if (p[0] == 0xE2 && p[1] == 0x80)
        return (p[2] >= 0x8B && p[2] <= 0x8F) || (p[2] >= 0xA8 && p[2] <= 0xAE);
    if (p[0] == 0xE2 && p[1] == 0x81)
        return p[2] >= 0xA0 && p[2] <= 0xA9;
    return p[0] == 0xEF && p[1] == 0xBB && p[2] == 0xBF;
}

int wk_body_part(const json_t *mp, const json_t *args, httpc_part_t *out, char *err, size_t errsz)
{
    int is_ref;
    const char *b64 = json_string_value(wk_body_arg(jsontext_str(mp, "content"), args, &is_ref));
    const char *fname = json_string_value(wk_body_arg(jsontext_str(mp, "filename"), args, &is_ref));
    const json_t *type = jsontext_str(mp, "type") ? wk_body_arg(jsontext_str(mp, "type"), args, &is_ref) : NULL;
    char *data = NULL;
    size_t len = 0;
    if (!b64 || !fname) {
        snprintf(err, errsz, "the file's content and name are required");
        return -1;
    }
    /* The name goes into the part's Content-Disposition header: no control
     * characters, quotes, backslashes or path separators. Nor characters
     * that change what a reader sees without being seen (C1 controls, line
     * separators, zero-width and direction-changing format characters):
     * "\u202egnp.exe" would read "exe.png" in Jira. */
    for (const unsigned char *c = (const unsigned char *)fname; *c; c++)
        if (*c < 0x20 || *c == 0x7f || *c == '"' || *c == '\\' || *c == '/' || hidden_char(c)) {
            snprintf(err, errsz, "filename: no control, invisible or direction-changing characters, quotes, "
                     "backslashes or slashes");
            return -1;
        }
    if (!*fname || strcmp(fname, ".") == 0 || strcmp(fname, "..") == 0) {
        snprintf(err, errsz, "filename: a file name, e.g. device-logs.txt");
        return -1;
    }
    if (b64_decode(b64, &data, &len) != 0) {
        const char *arg = jsontext_str(mp, "content");
        snprintf(err, errsz, "%.*s: not base64 (the standard alphabet, as base64 -w0 writes it)",
                 (int)strlen(arg) - 2, arg + 1);
        return -1;
    }
    out->name = jsontext_str(mp, "name");
    out->filename = fname;
    out->type = json_string_value(type);
    out->data = data;
    out->len = len;
    return 0;
}
