/* sb_adf: see sb_adf.h. */
#include "sb_adf.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sb_data.h"
#include "sb_pack.h"

static void adf_walk(const json_t *n, buf_t *b, int depth, int in_list)
{
    if (!json_is_object(n) || depth > 32)
        return;
    const char *type = json_string_value(json_object_get(n, "type"));
    const char *text = json_string_value(json_object_get(n, "text"));
    if (type && strcmp(type, "text") == 0 && text) {
        buf_append_str(b, text);
        return;
    }
    if (type && strcmp(type, "hardBreak") == 0) {
        buf_append_str(b, "\n");
        return;
    }
    int list = type && (strcmp(type, "bulletList") == 0 || strcmp(type, "orderedList") == 0);
    json_t *content = json_object_get(n, "content");
    size_t i;
    json_t *c;
    json_array_foreach(content, i, c) adf_walk(c, b, depth + 1, in_list || list);
    int block = type && strcmp(type, "text") != 0 && strcmp(type, "doc") != 0 && strcmp(type, "listItem") != 0 &&
                strcmp(type, "mention") != 0 && strcmp(type, "emoji") != 0 && strcmp(type, "inlineCard") != 0;
    if (block && b->len && b->data[b->len - 1] != '\n')
        buf_append_str(b, "\n");
    if (block && !in_list)
        buf_append_str(b, "\n");
}

char *sb_adf_text(const json_t *doc, int *too_long)
{
    if (too_long)
        *too_long = 0;
    if (!json_is_object(doc))
        return NULL;
    const char *type = json_string_value(json_object_get(doc, "type"));
    if (!type || strcmp(type, "doc") != 0 || !json_is_array(json_object_get(doc, "content")))
        return NULL;
    buf_t b;
    /* Room for the blank lines that close nested blocks (one or two per
     * level, at most 33 levels), trimmed below. */
    buf_init(&b, SB_MAX_TEXT + 2 * 34);
    buf_append_str(&b, "");
    adf_walk(doc, &b, 0, 0);
    if (buf_ok(&b))
        while (b.len && b.data[b.len - 1] == '\n')
            b.data[--b.len] = 0;
    if (!buf_ok(&b) || b.len >= SB_MAX_TEXT) { /* too long: refused, never cut */
        if (too_long)
            *too_long = 1;
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b, NULL);
}

static json_t *adf_text_node(const char *s, size_t n)
{
    return sb_pack("{s:s, s:s%}", "type", "text", "text", s, n);
}

/* A block of lines: a list when every line starts with "- " or "N. ",
 * otherwise a paragraph with hard breaks between lines. */
static json_t *adf_block(const char *s, size_t n)
{
    int bullet = 1, ordered = 1, lines = 0;
    const char *p = s, *end = s + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        lines++;
        if (!(le - p >= 2 && p[0] == '-' && p[1] == ' '))
            bullet = 0;
        const char *q = p;
        while (q < le && isdigit((unsigned char)*q))
            q++;
        if (!(q > p && q + 1 < le && q[0] == '.' && q[1] == ' '))
            ordered = 0;
        p = nl ? nl + 1 : end;
    }
    json_t *block;
    if (lines > 0 && (bullet || ordered)) {
        json_t *items = json_array();
        block = sb_pack("{s:s, s:o}", "type", bullet ? "bulletList" : "orderedList", "content", items);
        if (ordered)
            json_object_set_new(block, "attrs", sb_pack("{s:i}", "order", 1));
        for (p = s; p < end;) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *le = nl ? nl : end;
            const char *t = bullet ? p + 2 : strstr(p, ". ") + 2;
            json_t *para = sb_pack("{s:s, s:[o]}", "type", "paragraph", "content",
                                     adf_text_node(t, (size_t)(le - t)));
            json_array_append_new(items, sb_pack("{s:s, s:[o]}", "type", "listItem", "content", para));
            p = nl ? nl + 1 : end;
        }
        return block;
    }
    json_t *content = json_array();
    for (p = s; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        if (le > p)
            json_array_append_new(content, adf_text_node(p, (size_t)(le - p)));
        if (nl && nl + 1 < end)
            json_array_append_new(content, sb_pack("{s:s}", "type", "hardBreak"));
        p = nl ? nl + 1 : end;
    }
    return sb_pack("{s:s, s:o}", "type", "paragraph", "content", content);
}

json_t *sb_adf_from_text(const char *text)
{
    json_t *content = json_array();
    const char *p = text ? text : "";
    while (*p) {
        const char *sep = strstr(p, "\n\n");
        size_t n = sep ? (size_t)(sep - p) : strlen(p);
        if (n)
            json_array_append_new(content, adf_block(p, n));
        p += n;
        while (*p == '\n')
            p++;
    }
    return sb_pack("{s:s, s:i, s:o}", "type", "doc", "version", 1, "content", content);
}
