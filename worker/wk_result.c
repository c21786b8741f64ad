/* wk_result: see wk_result.h. */
#include "wk_result.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "buf.h"
#include "clock.h"
#include "jsontext.h"
#include "log.h"
#include "projection.h"
#include "wk_request.h"
#include "wk_rpc.h"
#include "wk_scope.h"

#define WK_ERRBODY_MAX 1000      /* non-JSON upstream error text kept in a result */

/* ---- results ---- */


wk_tool_result_t *wk_result_new(json_t *structured, const char *text, int is_error)
{
    wk_tool_result_t *r = mem_alloc(sizeof *r);
    r->structured = structured;
    /* Lossy: a text may quote upstream bytes or a value cut by bytes. */
    r->text = text ? jsontext_string_lossy(text, strlen(text)) : NULL;
    r->is_error = is_error;
    r->raw = NULL;
    r->raw_len = 0;
    if (!r->structured && !r->text)
        r->structured = json_object();
    return r;
}

void wk_result_free(wk_tool_result_t *r)
{
    if (!r)
        return;
    json_decref(r->structured);
    json_decref(r->text);
    free(r->raw);
    free(r);
}

wk_tool_result_t *wk_result_structured(json_t *structured)
{
    return wk_result_new(structured ? structured : json_object(), NULL, 0);
}

#define WK_RESPONSE_MAX (64u << 20)

/* The one place a result becomes JSON text, with its members in this order:
 * {"content":[{"type":"text","text":T}],"structuredContent":S,"isError":true}
 * where T is the text, or else S serialised (written once, used twice). */
static int dump_result(buf_t *b, const wk_tool_result_t *r)
{
    int bad = buf_append_str(b, "{\"content\":[{\"type\":\"text\",\"text\":");
    if (!bad && r->text) {
        bad = jsontext_dump_buf(b, r->text) || buf_append_str(b, "}]");
        if (!bad && r->structured)
            bad = buf_append_str(b, ",\"structuredContent\":") || jsontext_dump_buf(b, r->structured);
    } else if (!bad && r->raw) {
        bad = jsontext_dump_string(b, r->raw, r->raw_len) || buf_append_str(b, "}],\"structuredContent\":") ||
              buf_append(b, r->raw, r->raw_len);
    } else if (!bad) {
        buf_t sb;
        buf_init(&sb, WK_RESPONSE_MAX);
        bad = jsontext_dump_buf(&sb, r->structured) || jsontext_dump_string(b, sb.data, sb.len) ||
              buf_append_str(b, "}],\"structuredContent\":") || buf_append(b, sb.data, sb.len);
        buf_free(&sb);
    }
    if (!bad && r->is_error)
        bad = buf_append_str(b, ",\"isError\":true");
    return bad || buf_append_str(b, "}");
}

int wk_result_render(wk_tool_result_t *r)
{
    if (r->text || r->raw)
        return 0;
    buf_t sb;
    buf_init(&sb, WK_RESPONSE_MAX);
    if (jsontext_dump_buf(&sb, r->structured) != 0) {
        buf_free(&sb);
        return -1;
    }
    r->raw = buf_steal(&sb, &r->raw_len);
    return r->raw ? 0 : -1;
}

size_t wk_result_text_bytes(const wk_tool_result_t *r)
{
    if (!r)
        return 0;
    return r->text ? json_string_length(r->text) : r->raw_len;
}

char *wk_result_dump(const json_t *response, const wk_tool_result_t *r, size_t *len)
{
    if (!r)
        return wk_rpc_dump(response, len);
    buf_t b;
    buf_init(&b, WK_RESPONSE_MAX);
    int bad = buf_append_str(&b, "{\"jsonrpc\":\"2.0\",\"id\":") ||
              jsontext_dump_buf(&b, json_object_get(response, "id")) || buf_append_str(&b, ",\"result\":") ||
              dump_result(&b, r) || buf_append_str(&b, "}");
    if (bad) {
        buf_free(&b);
        *len = 0;
        return NULL;
    }
    return buf_steal(&b, len);
}

json_t *wk_result_json(const wk_tool_result_t *r)
{
    json_t *j = json_object(), *content = json_array(), *block = json_object();
    char *dump = r->text ? NULL : jsontext_dump(r->structured);
    json_object_set_new(block, "type", json_string("text"));
    json_object_set_new(block, "text", r->text ? json_incref(r->text) : json_string(dump ? dump : "{}"));
    free(dump);
    json_array_append_new(content, block);
    json_object_set_new(j, "content", content);
    if (r->structured)
        json_object_set(j, "structuredContent", r->structured);
    if (r->is_error)
        json_object_set_new(j, "isError", json_true());
    return j;
}

static const char *hint_for(int status)
{
    switch (status) {
    case 400: return "The request was rejected as invalid: fix the arguments named in the error (for JQL, check field names, quoting and that the query is bounded, e.g. by project) and call again.";
    case 401: return "The JSM credentials of this MCP server were rejected. Do not retry; ask the user to reconnect the Jira Service Management account.";
    case 403: return "The connected JSM user lacks permission for this. Do not retry; ask the user for access or use another issue/desk.";
    case 404: return "Not found, or not visible to the connected user. Check the id or key (use a search or list tool to find valid ones).";
    case 409: return "The request conflicts with the current state (e.g. already decided). Re-read the item before trying again.";
    case 410: return "This JSM API was removed upstream. Use another tool.";
    case 412: return "JSM refused a precondition for this call. Use another tool.";
    case 413: return "The item reached a JSM size limit. Do not retry with the same content.";
    case 429: return "JSM rate limit reached. Do not retry before retry_after_s seconds have passed.";
    default: break;
    }
    if (status >= 500)
        return "The JSM site failed temporarily. Try again in a few seconds.";
    return "The JSM site rejected the call. Check the arguments.";
}

/* Seconds from now until at (ms), rounded up, at most WK_RETRY_MAX_S. */
static long wait_until(int64_t at)
{
    int64_t d = at - clock_now_ms();
    if (d <= 0)
        return 0;
    return d >= (int64_t)WK_RETRY_MAX_S * 1000 ? WK_RETRY_MAX_S : (long)((d + 999) / 1000);
}

/* Seconds until an ISO-8601 instant (Jira's X-RateLimit-Reset), rounded up. */
static long delta_to_iso(const char *iso)
{
    int64_t at;
    if (clock_parse_iso(iso, &at) != 0)
        return -1;
    return wait_until(at);
}

/* An HTTP-date in its one current form (RFC 9110 IMF-fixdate,
 * "Sun, 06 Nov 1994 08:49:37 GMT") as ms since 1970; -1 otherwise. */
static int64_t http_date_ms(const char *v)
{
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    char wd[4], mon[4], zone[4];
    int d, y, hh, mm, ss, n = 0;
    if (strlen(v) != 29 ||
        sscanf(v, "%3[A-Za-z], %2d %3[A-Za-z] %4d %2d:%2d:%2d %3[A-Z]%n", wd, &d, mon, &y, &hh, &mm, &ss, zone, &n) != 8 ||
        n != 29 || strcmp(zone, "GMT") != 0)
        return -1;
    const char *m = strstr(months, mon);
    if (!m || (m - months) % 3 || d < 1 || d > 31 || y < 1970 || y > 9999 || hh > 23 || mm > 59 || ss > 60)
        return -1;
    int64_t days = clock_days_from_civil(y, (int)((m - months) / 3) + 1, d);
    return ((days * 24 + hh) * 60 + mm) * 60000 + (int64_t)ss * 1000;
}

/* Retry-After as seconds to wait: delta seconds, or an HTTP-date (RFC
 * 9110: Jira sends seconds, a proxy in front of a site may send a date).
 * At most WK_RETRY_MAX_S: one 429 whose value is absurd (99999999, or more
 * digits than a long holds) must not stop an account's calls for years.
 * -1 when absent or neither form. */
static long retry_after(const httpc_response_t *r)
{
    char v[64];
    if (httpc_resp_header(r, "Retry-After", v, sizeof v) <= 0)
        return -1;
    size_t n = strlen(v);
    if (n > 0 && strspn(v, "0123456789") == n) {
        if (n > 9)
            return WK_RETRY_MAX_S;
        long s = strtol(v, NULL, 10);
        return s > WK_RETRY_MAX_S ? WK_RETRY_MAX_S : s;
    }
    int64_t at = http_date_ms(v);
    return at < 0 ? -1 : wait_until(at);
}

static void fill_ratelimit(const httpc_response_t *r, wk_upstream_meta_t *rl)
{
    char v[128];
    memset(rl, 0, sizeof *rl);
    rl->limited = 1;
    rl->reset_s = -1;
    rl->retry_after_s = retry_after(r);
    if (httpc_resp_header(r, "X-RateLimit-Reset", v, sizeof v) > 0)
        rl->reset_s = delta_to_iso(v);
    /* Values that do not fit are dropped (httpc_resp_header answers -2). */
    if (httpc_resp_header(r, "X-RateLimit-Limit", rl->limit, sizeof rl->limit) < 0)
        rl->limit[0] = 0;
    if (httpc_resp_header(r, "X-RateLimit-Remaining", rl->remaining, sizeof rl->remaining) < 0)
        rl->remaining[0] = 0;
    if (httpc_resp_header(r, "RateLimit-Reason", rl->reason, sizeof rl->reason) < 0)
        rl->reason[0] = 0;
    if (rl->retry_after_s < 0)
        rl->retry_after_s = rl->reset_s >= 0 ? rl->reset_s : WK_RETRY_DEFAULT_S;
    if (rl->reset_s < 0)
        rl->reset_s = rl->retry_after_s;
}

void wk_result_quota(const httpc_response_t *r, wk_upstream_meta_t *rl)
{
    char v[512];
    rl->quota_remaining = rl->quota_reset_s = -1;
    rl->near_limit = httpc_resp_header(r, "X-RateLimit-NearLimit", v, sizeof v) > 0 && strcasecmp(v, "true") == 0;
    if (httpc_resp_header(r, "RateLimit", v, sizeof v) <= 0)
        return;
    for (char *e = v; e && *e;) {
        char *next = strchr(e, ',');
        if (next)
            *next++ = 0;
        const char *rp = strstr(e, ";r="), *tp = strstr(e, ";t=");
        if (rp && tp) {
            long rr = strtol(rp + 3, NULL, 10), tt = strtol(tp + 3, NULL, 10);
            if (tt > WK_RETRY_MAX_S) /* a window longer than Jira's hour: paced for an hour at most */
                tt = WK_RETRY_MAX_S;
            if (rr >= 0 && tt > 0 && (rl->quota_remaining < 0 || rr < rl->quota_remaining)) {
                rl->quota_remaining = rr;
                rl->quota_reset_s = tt;
            }
        }
        e = next;
    }
}

/* An isError result: the text is the sentence in text (freed here)
 * followed by the error object e (stolen), which is also structuredContent.error. */
static wk_tool_result_t *error_text_result(buf_t *text, json_t *e)
{
    char *dump = jsontext_dump(e);
    buf_printf(text, "%s", dump ? dump : "");
    free(dump);
    /* A text over its limit is dropped whole (buf.h), never cut: the
     * structured error still carries every detail. */
    wk_tool_result_t *res =
        wk_result_new(json_pack("{s:o}", "error", e), buf_ok(text) && text->data ? text->data : "error", 1);
    buf_free(text);
    return res;
}

/* args: the arguments as sent (the call's rewritten ones: a JQL with field
 * ids and the server's projects). */
static wk_tool_result_t *error_result(const wk_tool_t *t, const json_t *args, const httpc_response_t *r,
                                      wk_upstream_meta_t *rl)
{
    json_t *e = json_object();
    json_object_set_new(e, "status", json_integer(r->status));
    char errbuf[64], ctype[128] = "";
    if (httpc_resp_header(r, "Content-Type", ctype, sizeof ctype) < 0)
        ctype[0] = 0;
    json_t *body = r->body_len ? jsontext_parse(r->body, r->body_len, WK_UPSTREAM_DEPTH, errbuf, sizeof errbuf) : NULL;
    static const char *const keep[] = {"errorMessages", "errors", "errorMessage", "i18nErrorMessage",
                                       "message", "code", "warningMessages", NULL};
    for (int i = 0; json_is_object(body) && keep[i]; i++) {
        json_t *v = json_object_get(body, keep[i]);
        if (v)
            json_object_set(e, keep[i], v);
    }
    if (!json_is_object(body) && r->body_len && strcasestr(ctype, "html")) {
        /* An HTML error page (the old 429 page, a proxy's 503): markup
         * helps no agent. */
        json_object_set_new(e, "body", json_string("(an HTML error page, not shown)"));
    } else if (!json_is_object(body) && r->body_len) {
        /* Not JSON (Atlassian's 401 is text/plain): keep a bounded copy. */
        size_t n = r->body_len > WK_ERRBODY_MAX ? WK_ERRBODY_MAX : r->body_len;
        json_t *s = json_stringn(r->body, n); /* NULL unless valid UTF-8 */
        if (s)
            json_object_set_new(e, "body", s);
    }
    json_decref(body);
    long ra = retry_after(r);
    const char *hint = hint_for(r->status);
    if (r->status == 429) {
        fill_ratelimit(r, rl);
        json_object_set_new(e, "retry_after_s", json_integer(rl->retry_after_s));
        if (*rl->reason)
            json_object_set_new(e, "rate_limit_reason", json_string(rl->reason));
        if (ra < 0) {
            /* The API gateway's 429 and the old HTML page carry no
             * Retry-After (nor, mostly, X-RateLimit-Reset). */
            json_object_set_new(e, "retry_after_known", json_false());
            hint = "JSM rate limit reached, without a Retry-After: wait retry_after_s seconds, then double the "
                   "wait (4, 8, 16 s) while it repeats.";
        }
    } else if (r->status >= 500 && ra >= 0) {
        json_object_set_new(e, "retry_after_s", json_integer(ra));
        hint = "The JSM site is temporarily unavailable. Do not retry before retry_after_s seconds have passed.";
    } else if (r->status == 400 && jsontext_str(args, "jql")) {
        /* Jira's "line 1, character N" counts in the query it got, which
         * jsmcp rewrote (field names as ids, the server's projects around
         * it): give that query, or the positions point nowhere. */
        const char *jql = jsontext_str(args, "jql");
        json_object_set_new(e, "jql_sent", jsontext_string_lossy(jql, strlen(jql)));
        hint = "The request was rejected as invalid: fix the JQL and call again. Jira's positions (line 1, character "
               "N) count in jql_sent, the query as jsmcp sent it (custom field names as their ids, this server's "
               "projects around it).";
    }
    json_object_set_new(e, "hint", json_string(hint));

    buf_t text;
    buf_init(&text, 64 * 1024);
    if (r->status == 429 && ra < 0)
        buf_printf(&text, "%s: rate limited by Jira (%s; no Retry-After given); retry after about %ld s, doubling "
                   "the wait while it repeats. ", t->name, *rl->reason ? rl->reason : "no reason given",
                   rl->retry_after_s);
    else if (r->status == 429)
        buf_printf(&text, "%s: rate limited by Jira (%s); retry after %ld s. ", t->name,
                   *rl->reason ? rl->reason : "no reason given", rl->retry_after_s);
    else if (r->status >= 500 && ra >= 0)
        buf_printf(&text, "%s: Jira answered HTTP %d (temporarily unavailable); retry after %ld s. ", t->name,
                   r->status, ra);
    else
        buf_printf(&text, "%s: Jira answered HTTP %d. ", t->name, r->status);
    return error_text_result(&text, e);
}

wk_tool_result_t *wk_result_paced(const wk_tool_t *t, const wk_upstream_meta_t *rl)
{
    int near = strcmp(rl->reason, "jsmcp-pacing") != 0;
    json_t *e = json_pack("{s:i,s:s,s:I,s:s,s:s}", "status", 429, "message",
                          near ? "Jira said this site's rate-limit quota is nearly spent (X-RateLimit-NearLimit, "
                                 "RateLimit); jsmcp spreads what is left until it resets; this call was not sent"
                               : "jsmcp paces the calls to this Jira site to keep it under Jira's rate limits; "
                                 "this call was not sent",
                          "retry_after_s", (json_int_t)rl->retry_after_s, "rate_limit_reason", rl->reason, "hint",
                          hint_for(429));
    buf_t text;
    buf_init(&text, 64 * 1024);
    buf_printf(&text, "%s: rate limited (%s); retry after %ld s. ", t->name, rl->reason, rl->retry_after_s);
    return error_text_result(&text, e);
}

static wk_tool_result_t *named_error(const char *tool, const char *reason, const char *msg, const char *dflt_hint)
{
    const char *h = strstr(msg, " Hint: ");
    size_t n = h ? (size_t)(h - msg) : strlen(msg);
    json_t *e = json_object();
    json_object_set_new(e, "reason", json_string(reason));
    json_object_set_new(e, "message", jsontext_string_lossy(msg, n));
    json_object_set_new(e, "hint", jsontext_string_lossy(h ? h + 7 : dflt_hint, strlen(h ? h + 7 : dflt_hint)));
    buf_t text;
    buf_init(&text, 64 * 1024);
    buf_printf(&text, "%s: %s ", tool, msg);
    return error_text_result(&text, e);
}

wk_tool_result_t *wk_result_tool_error(const wk_tool_t *t, const char *reason, const char *msg)
{
    return named_error(t->name, reason, msg,
                       "Try again in a few seconds; if it keeps failing, ask the user to check the account in jsmcp.");
}

wk_tool_result_t *wk_result_invalid_args(const char *tool, const char *msg)
{
    return named_error(tool, "invalid_arguments", msg,
                       "Fix the arguments as the message says (the tool's inputSchema in tools/list describes "
                       "each one) and call again.");
}

int wk_result_reason_is(const wk_tool_result_t *result, const char *reason)
{
    const json_t *e = result ? json_object_get(result->structured, "error") : NULL;
    const char *r = jsontext_str(e, "reason");
    return r && strcmp(r, reason) == 0;
}

static json_t *page_cursor(const wk_tool_t *t, const json_t *args, const json_t *body, size_t got)
{
    char num[32];
    if (t->paging == WK_PAGE_TOKEN) {
        const char *tok = jsontext_str(body, "nextPageToken");
        if (!tok || json_is_true(json_object_get(body, "isLast")))
            return NULL;
        return wk_request_cursor_encode('t', tok);
    }
    long long start = 0;
    char kind;
    char val[WK_PAGE_TOKEN_MAX + 1];
    const char *cur = jsontext_str(args, "next_cursor");
    if (cur && wk_request_cursor_decode(cur, &kind, val, sizeof val) == 0)
        start = strtoll(val, NULL, 10);
    if (t->paging == WK_PAGE_OFFSET) {
        /* A bare array: a full page may have a next one. */
        long limit = (long)jsontext_int(args, "limit", t->default_limit);
        if (limit > t->max_limit)
            limit = t->max_limit;
        if (got == 0 || (long)got < limit)
            return NULL;
    } else if (t->paging == WK_PAGE_STARTAT) {
        start = jsontext_int(body, "startAt", start);
        long long total = jsontext_int(body, "total", -1);
        if (got == 0 || total < 0 || start + (long long)got >= total)
            return NULL;
    } else {
        start = jsontext_int(body, "start", start);
        if (got == 0 || !json_is_false(json_object_get(body, "isLastPage")))
            return NULL;
        got = (size_t)jsontext_int(body, "size", (long long)got);
    }
    snprintf(num, sizeof num, "%lld", start + (long long)got);
    return wk_request_cursor_encode('s', num);
}



static json_t *project(const wk_tool_t *t, const json_t *args, const json_t *projects, json_t *body, int raw)
{
    json_t *structured;
    if (raw) {
        /* The full payload, for the rare question the projection cannot
         * answer; items of other projects are taken out of it as from the
         * compact list (the body is this call's own parse). */
        json_t *items = (json_t *)proj_path(body, t->paging ? t->items : t->out_from);
        size_t got = json_array_size(items);
        for (size_t i = json_array_size(items); projects && t->scope_items.path && i-- > 0;)
            if (wk_scope_out(&t->scope_items, projects, json_array_get(items, i)))
                json_array_remove(items, i);
        structured = json_pack("{s:O}", "raw", body);
        json_t *next = t->paging ? page_cursor(t, args, body, got) : NULL;
        if (next)
            json_object_set_new(structured, "next_cursor", next);
    } else if (t->paging || t->out_from) {
        const json_t *items = proj_path(body, t->paging ? t->items : t->out_from);
        json_t *list = json_array();
        size_t i;
        const json_t *it;
        const json_t *inc = json_object_get(args, "include");
        json_array_foreach(items, i, it) {
            if (wk_scope_out(&t->scope_items, projects, it))
                continue; /* the page's cursor still counts it: paging is upstream's */
            json_t *m = proj_apply(t->out_item, it);
            if (!m)
                m = json_object();
            size_t j;
            const json_t *name;
            json_array_foreach(inc, j, name) {
                /* What the include argument asked for (description, latest comments). */
                const char *nm = json_string_value(name);
                json_t *x = proj_apply(json_object_get(json_object_get(t->includes, nm ? nm : ""), "item"), it);
                if (json_is_object(x))
                    json_object_update(m, x);
                json_decref(x);
            }
            json_array_append_new(list, m);
        }
        structured = json_object();
        json_object_set_new(structured, t->out_key, list);
        json_t *next = t->paging ? page_cursor(t, args, body, json_array_size(items)) : NULL;
        if (next)
            json_object_set_new(structured, "next_cursor", next);
    } else {
        structured = proj_apply(t->out_object, body);
        if (!json_is_object(structured)) {
            json_decref(structured);
            structured = json_object();
        }
    }
    return structured;
}

/* What the tool says about arguments the agent left out (its "notes":
 * "started was not given: Jira logged the work as starting now"). */
static void add_notes(const wk_tool_t *t, const json_t *args, json_t *structured)
{
    json_t *notes = NULL;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)t->notes, k, v) {
        if (json_object_get(args, k))
            continue;
        if (!notes)
            notes = json_array();
        json_array_append(notes, v);
    }
    if (notes)
        json_object_set_new(structured, "notes", notes);
}

/* A file's bytes (output.binary): base64 up to the tool's size cap, with
 * its size and MIME type, through the tool's object template. */
static wk_tool_result_t *binary_result(const wk_tool_t *t, const httpc_response_t *r)
{
    char type[128] = "";
    if (httpc_resp_header(r, "Content-Type", type, sizeof type) < 0)
        type[0] = 0;
    if ((long)r->body_len > t->binary_max) {
        char msg[300];
        snprintf(msg, sizeof msg, "the file is %zu bytes; this tool returns files of at most %ld bytes", r->body_len,
                 t->binary_max);
        return wk_result_step_error(t, 413, msg, "Read the file's metadata (its size and content URL) instead; it is too "
                                       "large to return through this tool.");
    }
    size_t n = sodium_base64_ENCODED_LEN(r->body_len, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = mem_alloc(n);
    sodium_bin2base64(b64, n, (const unsigned char *)r->body, r->body_len, sodium_base64_VARIANT_ORIGINAL);
    json_t *src = json_pack("{s:s,s:I}", "contentBase64", b64, "size", (json_int_t)r->body_len);
    free(b64);
    if (type[0])
        json_object_set_new(src, "mimeType", json_string(type));
    json_t *structured = proj_apply(t->out_object, src);
    json_decref(src);
    return wk_result_structured(json_is_object(structured) ? structured : json_object());
}

/* The members of a page that page_cursor reads. */
static const char *const PAGE_MEMBERS[] = {"nextPageToken", "isLast", "startAt", "total", "start",
                                           "isLastPage", "size", NULL};

jsontext_keep_t *wk_result_keep_new(const wk_tool_t *t)
{
    jsontext_keep_t *k = jsontext_keep_new();
    if (t->paging || t->out_from) {
        jsontext_keep_t *items = jsontext_keep_path(k, t->paging ? t->items : t->out_from);
        proj_keep(items, t->out_item);
        const char *ik;
        json_t *iv;
        json_object_foreach((json_t *)t->includes, ik, iv)
            proj_keep(items, json_object_get(iv, "item"));
        if (t->scope_items.path)
            jsontext_keep_all(items, t->scope_items.path);
        if (t->scope_items.path2)
            jsontext_keep_all(items, t->scope_items.path2);
        for (int i = 0; t->paging && PAGE_MEMBERS[i]; i++)
            jsontext_keep_all(k, PAGE_MEMBERS[i]);
    } else {
        proj_keep(k, t->out_object);
    }
    if (t->scope_object.path)
        jsontext_keep_all(k, t->scope_object.path);
    if (t->scope_object.path2)
        jsontext_keep_all(k, t->scope_object.path2);
    return k;
}

static int check_keep;

void wk_result_check_keep(int on)
{
    check_keep = on;
}

static const char *json_kind_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "a JSON object";
    case JSON_ARRAY: return "a JSON array";
    case JSON_STRING: return "a JSON string";
    case JSON_INTEGER:
    case JSON_REAL: return "a JSON number";
    case JSON_TRUE:
    case JSON_FALSE: return "a JSON boolean";
    default: return "JSON null";
    }
}

/* NULL when a 2xx payload has the shape the tool reads, else what came
 * instead (into buf). Shaped as it is, a payload of the wrong shape reads
 * as an empty answer: a get would say the item exists and has nothing in
 * it ({}), a list that there are no items; neither is what JSM said. A get
 * reads one object; a list its items array (the payload itself for a bare
 * array). Write tools are not checked: a 204 without a body is their usual
 * answer (their results are constants), and an error would invite the
 * agent to repeat a write that was made. */
static const char *shape_problem(const wk_tool_t *t, const httpc_response_t *r, const json_t *body, char *buf,
                                 size_t n)
{
    if (t->kind & WK_KIND_WRITE)
        return NULL;
    if (t->paging || t->out_from) {
        const char *path = t->paging ? t->items : t->out_from;
        if (json_is_array(proj_path(body, path)))
            return NULL;
        if (!r->body_len)
            snprintf(buf, n, "an empty body where a list was expected");
        else if (strcmp(path, ".") == 0)
            snprintf(buf, n, "%s where a JSON array was expected", json_kind_name(body));
        else if (!json_is_object(body))
            snprintf(buf, n, "%s where a JSON object with the array %s was expected", json_kind_name(body), path);
        else
            snprintf(buf, n, "a JSON object without the array %s", path);
        return buf;
    }
    if (json_is_object(body) && r->body_len)
        return NULL;
    if (!r->body_len)
        snprintf(buf, n, "an empty body where a JSON object was expected");
    else
        snprintf(buf, n, "%s where a JSON object was expected", json_kind_name(body));
    return buf;
}

static wk_tool_result_t *shape_error(const wk_tool_t *t, const httpc_response_t *r, const char *what)
{
    json_t *e = json_object();
    json_object_set_new(e, "status", json_integer(r->status));
    json_object_set_new(e, "reason", json_string("unexpected_answer"));
    json_object_set_new(e, "message", json_string(what));
    json_object_set_new(e, "hint", json_string("This says nothing about the item or list asked for: do not take it "
                                               "as empty or missing. Try again in a few seconds; if it repeats, the "
                                               "JSM site (or a proxy before it) answers oddly: tell the user."));
    buf_t text;
    buf_init(&text, 64 * 1024);
    buf_printf(&text, "%s: JSM answered HTTP %d with an unexpected shape (%s). ", t->name, r->status, what);
    return error_text_result(&text, e);
}

/* wk_result_upstream; the parsed payload, which the result shares values
 * with, goes to *payload (when not NULL) for the caller to release once
 * the answer is out: freeing a few hundred nodes is work the answer need
 * not wait for. */
wk_tool_result_t *wk_result_upstream_payload(const wk_tool_t *t, const json_t *args, const json_t *config,
                                   const httpc_response_t *r, wk_upstream_meta_t *rl, json_t **payload)
{
    memset(rl, 0, sizeof *rl);
    if (r->err || r->status == 0) {
        int big = r->err && strcmp(r->err, "response too large") == 0;
        json_t *e = json_pack("{s:i,s:s,s:s}", "status", 0, "message", r->err ? r->err : "no response", "hint",
                              big ? "The JSM answer is larger than jsmcp takes (JSMCP_UPSTREAM_MAX_BYTES, counted "
                                    "after decompression). Ask for less: a smaller limit, or without raw."
                                  : "No full answer came from the JSM site. Try again in a few seconds.");
        char text[512];
        snprintf(text, sizeof text, "%s: no full answer from the JSM site (%s). %s", t->name,
                 r->err ? r->err : "no response", big ? "Ask for less (a smaller limit, or without raw)."
                                                      : "Try again in a few seconds.");
        return wk_result_new(json_pack("{s:o}", "error", e), text, 1);
    }
    if (r->status < 200 || r->status >= 300)
        return error_result(t, args, r, rl);
    if (t->binary_max)
        return binary_result(t, r);

    char perr[256];
    int raw = json_is_true(json_object_get(args, "raw"));
    json_t *body = r->body_len ? jsontext_parse_keep(r->body, r->body_len, WK_UPSTREAM_DEPTH, raw ? NULL : t->keep,
                                               perr, sizeof perr)
                               : json_object();
    if (!body) {
        char text[400];
        snprintf(text, sizeof text, "%s: the JSM site answered %d with a body that is not JSON (%s).",
                 t->name, r->status, perr);
        return wk_result_new(json_pack("{s:{s:i,s:s}}", "error", "status", r->status, "hint",
                                     "Unexpected upstream answer; try again later."),
                           text, 1);
    }
    char what[200];
    if (shape_problem(t, r, body, what, sizeof what)) {
        json_decref(body);
        return shape_error(t, r, what);
    }
    const json_t *projects = json_object_get(config, "projects");
    if (json_array_size(projects) == 0)
        projects = NULL;
    if (wk_scope_out(&t->scope_object, projects, body)) {
        /* A key of an allowed project can name an issue that moved to
         * another project (Jira follows the old key): nothing of it is shown. */
        json_decref(body);
        char text[400];
        snprintf(text, sizeof text, "%s: the answer belongs to a project outside this MCP server's "
                 "config.projects; it is not shown.", t->name);
        return wk_result_new(json_pack("{s:{s:i,s:s,s:s}}", "error", "status", 403, "message",
                                     "the item belongs to a project this MCP server is not limited to", "hint",
                                     "Use an issue, request or service desk of an allowed project."),
                           text, 1);
    }
    json_t *structured = project(t, args, projects, body, raw);
    if (check_keep && !raw && r->body_len) {
        json_t *full = jsontext_parse(r->body, r->body_len, WK_UPSTREAM_DEPTH, perr, sizeof perr);
        json_t *want = full ? project(t, args, projects, full, 0) : NULL;
        if (!json_equal(want, structured))
            LOG_ERROR("exec", "the result differs when the payload is parsed with the tool's keep paths",
                      "tool", t->name, NULL);
        json_decref(want);
        json_decref(full);
    }
    add_notes(t, args, structured);
    if (payload)
        *payload = body;
    else
        json_decref(body);
    return wk_result_structured(structured);
}

wk_tool_result_t *wk_result_upstream(const wk_tool_t *t, const json_t *args, const json_t *config, const httpc_response_t *r,
                       wk_upstream_meta_t *rl)
{
    return wk_result_upstream_payload(t, args, config, r, rl, NULL);
}

wk_tool_result_t *wk_result_step_error(const wk_tool_t *t, int status, const char *msg, const char *hint)
{
    /* Lossy: msg may quote an argument cut by bytes (a JQL field name). */
    json_t *e = json_object();
    json_object_set_new(e, "status", json_integer(status));
    json_object_set_new(e, "message", jsontext_string_lossy(msg, strlen(msg)));
    json_object_set_new(e, "hint", jsontext_string_lossy(hint, strlen(hint)));
    buf_t text;
    buf_init(&text, 16 * 1024);
    buf_printf(&text, "%s: %s", t->name, msg);
    wk_tool_result_t *r = wk_result_new(json_pack("{s:o}", "error", e), text.data ? text.data : msg, 1);
    buf_free(&text);
    return r;
}

void wk_result_note_upstream(const httpc_response_t *r, wk_upstream_meta_t *rl)
{
    char v[128];
    if (!rl->limit[0] && httpc_resp_header(r, "X-RateLimit-Limit", rl->limit, sizeof rl->limit) < 0)
        rl->limit[0] = 0;
    if (!rl->remaining[0] &&
        httpc_resp_header(r, "X-RateLimit-Remaining", rl->remaining, sizeof rl->remaining) < 0)
        rl->remaining[0] = 0;
    if (!rl->limited) {
        rl->reset_s = rl->retry_after_s = -1;
        if (httpc_resp_header(r, "X-RateLimit-Reset", v, sizeof v) > 0)
            rl->reset_s = delta_to_iso(v);
    }
    if (httpc_resp_header(r, "X-ARequestId", rl->request_id, sizeof rl->request_id) <= 0 &&
        httpc_resp_header(r, "X-Request-Id", rl->request_id, sizeof rl->request_id) <= 0)
        rl->request_id[0] = 0;
    wk_result_quota(r, rl);
}
