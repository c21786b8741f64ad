/* wk_exec: see wk_exec.h. */
#include "wk_exec.h"
#include "wk_pace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "buf.h"
#include "jsontext.h"
#include "log.h"
#include "projection.h"
#include "secret.h"
#include "clock.h"
#include "url.h"
#include "wk_body.h"
#include "wk_jql.h"
#include "wk_steps.h"

#define WK_URL_MAX (16 * 1024)
#define WK_BODY_MAX (64 * 1024)
#define WK_TOKEN_MAX 1600        /* decoded upstream page token */
#define WK_UPSTREAM_DEPTH 64
#define WK_ERRBODY_MAX 1000      /* non-JSON upstream error text kept in a result */

/* ---- account ---- */

static void wipe(char *s)
{
    if (s)
        sodium_memzero(s, strlen(s));
}

void wk_account_clear(wk_account_t *a)
{
    free(a->base_url);
    free(a->user);
    wipe(a->auth_header);
    free(a->auth_header);
    memset(a, 0, sizeof *a);
}

/* 1 when s (may be NULL) holds a control character: such a credential
 * would break out of the Authorization header it goes into. */
static int has_ctl(const char *s)
{
    for (; s && *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

int wk_account_parse(wk_account_t *a, const json_t *acct, const char *allowlist, const char *oauth_api_url,
                     char *err, size_t errsz)
{
    memset(a, 0, sizeof *a);
    if (has_ctl(jsontext_str(acct, "access_token")) || has_ctl(jsontext_str(acct, "email")) ||
        has_ctl(jsontext_str(acct, "api_token")) || has_ctl(jsontext_str(acct, "cloud_id"))) {
        snprintf(err, errsz, "the account record is malformed (a credential with control characters); "
                 "reconnect the account");
        return -1;
    }
    /* The API's rule again (url.h): a record is only sent where the API
     * would have stored it, whatever wrote it. */
    const char *type = jsontext_str(acct, "auth_type"), *given = jsontext_str(acct, "site_url"), *bad;
    char site[URL_SITE_MAX];
    if (!given || url_site(given, allowlist, site, sizeof site, &bad) != 0) {
        snprintf(err, errsz, "the account's JSM site is not an allowed https://<site>.atlassian.net URL");
        return -1;
    }
    size_t sl = strlen(site);
    const char *token = jsontext_str(acct, "access_token");
    const char *cloud = jsontext_str(acct, "cloud_id");
    const char *status = jsontext_str(acct, "status");
    int oauth = type ? strncmp(type, "oauth", 5) == 0 : token && !jsontext_str(acct, "api_token");
    if (status && strcmp(status, "active") != 0) {
        /* An agent cannot fix this and retrying will not help: say who must act. */
        snprintf(err, errsz, "the customer must reconnect this Jira site: its %s %s (account status %.32s). "
                 "Hint: do not retry; ask the user to reconnect the Jira Service Management account "
                 "in jsmcp, then call again.",
                 oauth ? "OAuth authorization" : "API token credentials",
                 strcmp(status, "needs_reauth") == 0 ? "is no longer valid" : "are not active", status);
        return -1;
    }
    if (oauth) {
        if (!token) {
            snprintf(err, errsz, "the OAuth account has no access token; reconnect it");
            return -1;
        }
        buf_t b;
        buf_init(&b, 8192);
        /* The sandbox (an allowlisted site) serves the gateway paths itself;
         * real sites go through api.atlassian.com with the cloud id. */
        size_t gl = oauth_api_url ? strlen(oauth_api_url) : 0;
        while (gl && oauth_api_url[gl - 1] == '/')
            gl--;
        if (cloud && gl)
            buf_printf(&b, "%.*s/ex/jira/%s", (int)gl, oauth_api_url, cloud);
        else if (cloud && strstr(site, ".atlassian.net"))
            buf_printf(&b, "https://api.atlassian.com/ex/jira/%s", cloud);
        else if (cloud)
            buf_printf(&b, "%.*s/ex/jira/%s", (int)sl, site, cloud);
        else
            buf_append(&b, site, sl);
        size_t n;
        a->base_url = buf_steal(&b, &n);
        buf_init(&b, 8192);
        buf_printf(&b, "Authorization: Bearer %s", token);
        a->auth_header = buf_steal(&b, &n);
        a->oauth = 1;
        a->expires_at_ms = jsontext_int(acct, "expires_at_ms", 0);
        a->cred_version = jsontext_int(acct, "cred_version", 0);
    } else {
        const char *email = jsontext_str(acct, "email");
        const char *tok = jsontext_str(acct, "api_token");
        if (!email || !tok) {
            snprintf(err, errsz, "the account has no email/api_token credentials");
            return -1;
        }
        a->base_url = mem_strndup(site, sl);
        a->user = mem_strdup(email);
        /* The Basic credentials are encoded once here, not by libcurl on
         * every request. */
        size_t el = strlen(email), tl = strlen(tok);
        char *plain = mem_alloc(el + 1 + tl + 1);
        memcpy(plain, email, el);
        plain[el] = ':';
        memcpy(plain + el + 1, tok, tl + 1);
        size_t b64 = sodium_base64_ENCODED_LEN(el + 1 + tl, sodium_base64_VARIANT_ORIGINAL);
        static const char pre[] = "Authorization: Basic ";
        a->auth_header = mem_alloc(sizeof pre - 1 + b64);
        memcpy(a->auth_header, pre, sizeof pre - 1);
        sodium_bin2base64(a->auth_header + sizeof pre - 1, b64, (const unsigned char *)plain, el + 1 + tl,
                          sodium_base64_VARIANT_ORIGINAL);
        wipe(plain);
        free(plain);
    }
    const char *pace = jsontext_str(acct, "pace");
    pace_rule_t rule;
    char why[200];
    if (pace && pace_rule_parse(pace, &rule, why, sizeof why) != 0) {
        wk_account_clear(a);
        snprintf(err, errsz, "the account's own %s", why);
        return -1;
    }
    if (pace) {
        a->pace_set = 1;
        a->pace_per_s = rule.per_s;
        a->pace_burst = rule.burst;
    }
    if (!a->base_url || !a->auth_header) {
        wk_account_clear(a);
        snprintf(err, errsz, "the account record is malformed");
        return -1;
    }
    return 0;
}

/* ---- request building ---- */

/* Page cursors are base64url("t:<upstream token>") or ("s:<start>"). */
static int cursor_decode(const char *cur, char *kind, char *val, size_t valsz)
{
    char raw[WK_TOKEN_MAX + 3];
    size_t n = 0;
    if (strlen(cur) > (WK_TOKEN_MAX + 2) * 4 / 3 + 4 ||
        secret_b64_decode_any(cur, raw, sizeof raw - 1, &n) != 0 || n < 3 || raw[1] != ':' ||
        (raw[0] != 't' && raw[0] != 's') || n - 2 >= valsz)
        return -1;
    raw[n] = 0;
    if (strlen(raw) != n)
        return -1;
    *kind = raw[0];
    memcpy(val, raw + 2, n - 1);
    return 0;
}

static json_t *cursor_encode(char kind, const char *val)
{
    size_t n = strlen(val);
    if (n > WK_TOKEN_MAX)
        return NULL;
    char raw[WK_TOKEN_MAX + 3];
    raw[0] = kind;
    raw[1] = ':';
    memcpy(raw + 2, val, n);
    char enc[(WK_TOKEN_MAX + 3) * 4 / 3 + 8];
    if (secret_b64url_encode(raw, n + 2, enc, sizeof enc) < 0)
        return NULL;
    return json_string(enc);
}

void wk_call_clear(wk_call_t *c)
{
    free(c->url);
    free(c->body);
    free((char *)c->part.data);
    memset(c, 0, sizeof *c);
}

/* A failed append leaves url in error (buf.h): wk_exec_build's one
 * buf_steal() check catches it. */
static void add_query(buf_t *url, int *first, const char *name, const char *val)
{
    buf_append_str(url, *first ? "?" : "&");
    *first = 0;
    url_encode(url, name, strlen(name));
    buf_append_str(url, "=");
    url_encode(url, val, strlen(val));
}

/* The fields an include argument adds to a search's body ("include":
 * ["comments"] asks Jira for the comment field too). */
static void add_includes(const wk_tool_t *t, const json_t *args, json_t *body)
{
    json_t *fields = json_object_get(body, "fields");
    size_t i, j;
    const json_t *name, *f;
    json_array_foreach(fields, i, f)
        if (json_is_string(f) && strcmp(json_string_value(f), "*all") == 0)
            return; /* raw: true asks for everything already */
    json_array_foreach(json_object_get(args, "include"), i, name) {
        const json_t *inc = json_object_get(t->includes, json_string_value(name) ? json_string_value(name) : "");
        json_array_foreach(json_object_get(inc, "fields"), j, f)
            if (json_is_array(fields))
                json_array_append(fields, (json_t *)f);
    }
}

int wk_exec_build(const wk_tool_t *t, const json_t *args, const char *base_url, wk_call_t *out,
                  char *err, size_t errsz)
{
    memset(out, 0, sizeof *out);
    out->method = jsontext_str(t->http, "method");
    int is_post = strcmp(out->method, "GET") != 0 && strcmp(out->method, "DELETE") != 0;
    buf_t url;
    buf_init(&url, WK_URL_MAX);
    buf_append_str(&url, base_url);

    /* Path: {name} segments become the percent-encoded argument. An
     * argument given in http.path_with picks that path instead. */
    const char *path = jsontext_str(t->http, "path");
    const char *wk;
    json_t *wp;
    json_object_foreach((json_t *)json_object_get(t->http, "path_with"), wk, wp)
        if (json_object_get(args, wk) && json_is_string(wp)) {
            path = json_string_value(wp);
            break;
        }
    for (const char *p = path; *p;) {
        const char *open = strchr(p, '{');
        if (!open) {
            buf_append_str(&url, p);
            break;
        }
        buf_append(&url, p, (size_t)(open - p));
        const char *close = strchr(open, '}');
        char name[128], num[64];
        size_t n = close ? (size_t)(close - open - 1) : 0;
        const char *s = NULL;
        if (!close || n == 0 || n >= sizeof name)
            goto bad_tool;
        memcpy(name, open + 1, n);
        name[n] = 0;
        if (wk_body_scalar(json_object_get(args, name), num, sizeof num, &s) != 0) {
            snprintf(err, errsz, "missing required argument '%s'", name);
            buf_free(&url);
            return -1;
        }
        /* The argument kinds refuse these already (schema patterns); a path
         * segment that is empty, "." or ".." would move the request to
         * another resource, so it never reaches a URL whatever the schema. */
        if (!*s || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
            snprintf(err, errsz, "%s: '%s' is not a valid id", name, s);
            buf_free(&url);
            return -1;
        }
        url_encode(&url, s, strlen(s));
        p = close + 1;
    }

    int first = 1;
    const char *k;
    json_t *v;
    /* raw: true may ask JSM for more (http.raw_query / http.raw_body
     * replace members of query / body): the full payload, not a subset. */
    int raw = json_is_true(json_object_get(args, "raw"));
    const json_t *rawq = raw ? json_object_get(t->http, "raw_query") : NULL;
    json_t *query = json_deep_copy(json_object_get(t->http, "query"));
    if (json_is_object(rawq)) {
        if (!query)
            query = json_object();
        json_object_update(query, (json_t *)rawq);
    }
    json_object_foreach(query, k, v) {
        char num[64];
        const char *s = NULL;
        int is_ref;
        const json_t *a = json_is_string(v) ? wk_body_arg(json_string_value(v), args, &is_ref) : NULL;
        if (!json_is_string(v))
            continue;
        if (is_ref && json_is_array(a)) {
            /* An array argument: the parameter once per element
             * (requestOwnership=A&requestOwnership=B), as the API's array
             * parameters take it. */
            size_t i;
            const json_t *e;
            json_array_foreach(a, i, e)
                if (wk_body_scalar(e, num, sizeof num, &s) == 0)
                    add_query(&url, &first, k, s);
            continue;
        }
        if (!is_ref)
            s = json_string_value(v);
        else if (!a || wk_body_scalar(a, num, sizeof num, &s) != 0)
            continue;
        add_query(&url, &first, k, s);
    }
    json_decref(query);

    json_t *btmpl = json_deep_copy(json_object_get(t->http, "body"));
    const json_t *rawb = raw ? json_object_get(t->http, "raw_body") : NULL;
    if (json_is_object(btmpl) && json_is_object(rawb))
        json_object_update(btmpl, (json_t *)rawb);
    json_t *body = btmpl ? wk_body_fill(btmpl, args) : is_post && t->paging ? json_object() : NULL;
    json_decref(btmpl);
    if (t->paging) {
        long limit = (long)jsontext_int(args, "limit", t->default_limit);
        if (limit < 1)
            limit = 1;
        if (limit > t->max_limit)
            limit = t->max_limit;
        char kind = 0, val[WK_TOKEN_MAX + 1] = "";
        const char *cur = jsontext_str(args, "next_cursor");
        if (cur && (cursor_decode(cur, &kind, val, sizeof val) != 0 ||
                    kind != (t->paging == WK_PAGE_TOKEN ? 't' : 's') ||
                    (kind == 's' && strspn(val, "0123456789") != strlen(val)))) {
            snprintf(err, errsz, "next_cursor: not a cursor returned by %s; start over without it",
                     t->name);
            json_decref(body);
            buf_free(&url);
            return -1;
        }
        char lim[32];
        snprintf(lim, sizeof lim, "%ld", limit);
        const char *pname = t->paging == WK_PAGE_TOKEN ? t->token_param : t->start_param;
        if (body && is_post) {
            json_object_set_new(body, t->limit_param, json_integer(limit));
            if (cur)
                json_object_set_new(body, pname, kind == 's' ? json_integer(strtoll(val, NULL, 10))
                                                            : json_string(val));
        } else {
            add_query(&url, &first, t->limit_param, lim);
            if (cur)
                add_query(&url, &first, pname, val);
        }
    }
    add_includes(t, args, body);
    if (body) {
        out->body = jsontext_dump(body);
        out->body_len = out->body ? strlen(out->body) : 0;
        json_decref(body);
    }
    if (t->multipart) {
        if (wk_body_part(t->multipart, args, &out->part, err, errsz) != 0) {
            buf_free(&url);
            wk_call_clear(out);
            return -1;
        }
        out->nparts = 1;
    }
    size_t n;
    out->url = buf_steal(&url, &n);
    if (!out->url || (body && !out->body) || out->body_len > WK_BODY_MAX) {
        snprintf(err, errsz, "arguments too large for one request");
        wk_call_clear(out);
        return -1;
    }
    return 0;

bad_tool:
    buf_free(&url);
    snprintf(err, errsz, "catalog row %s has a malformed path", t->name);
    return -1;
}

/* ---- results ---- */

static json_t *step_error(const wk_tool_t *t, int status, const char *msg, const char *hint);

/* {"content":[{"type":"text"(,"text":text)}](,"structuredContent":..)(,"isError":true)},
 * built member by member: json_pack parses its format on every call. */
static json_t *text_result(json_t *structured, const char *text, int is_error)
{
    json_t *r = json_object(), *content = json_array(), *block = json_object();
    json_object_set_new(block, "type", json_string("text"));
    if (text)
        json_object_set_new(block, "text", json_string(text));
    json_array_append_new(content, block);
    json_object_set_new(r, "content", content);
    if (structured)
        json_object_set_new(r, "structuredContent", structured);
    if (is_error)
        json_object_set_new(r, "isError", json_true());
    return r;
}

json_t *wk_exec_structured_result(json_t *structured)
{
    return text_result(structured ? structured : json_object(), NULL, 0);
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

/* Seconds until an ISO-8601 instant (Jira's X-RateLimit-Reset), rounded up. */
static long delta_to_iso(const char *iso)
{
    int64_t at;
    if (clock_parse_iso(iso, &at) != 0)
        return -1;
    int64_t d = at - clock_now_ms();
    return d <= 0 ? 0 : (long)((d + 999) / 1000);
}

static void fill_ratelimit(const httpc_response_t *r, wk_ratelimit_t *rl)
{
    char v[128];
    memset(rl, 0, sizeof *rl);
    rl->limited = 1;
    rl->retry_after_s = rl->reset_s = -1;
    if (httpc_resp_header(r, "Retry-After", v, sizeof v) > 0 && strspn(v, "0123456789") == strlen(v))
        rl->retry_after_s = strtol(v, NULL, 10);
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

/* Retry-After as delta seconds, or -1 (absent, or an HTTP date: Jira sends seconds). */
static long retry_after(const httpc_response_t *r)
{
    char v[64];
    if (httpc_resp_header(r, "Retry-After", v, sizeof v) > 0 && strspn(v, "0123456789") == strlen(v) && strlen(v) < 9)
        return strtol(v, NULL, 10);
    return -1;
}

void wk_exec_quota(const httpc_response_t *r, wk_ratelimit_t *rl)
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
static json_t *error_text_result(buf_t *text, json_t *e)
{
    char *dump = jsontext_dump(e);
    buf_printf(text, "%s", dump ? dump : "");
    free(dump);
    /* A text over its limit is dropped whole (buf.h), never cut: the
     * structured error still carries every detail. */
    json_t *res = text_result(json_pack("{s:o}", "error", e), buf_ok(text) && text->data ? text->data : "error", 1);
    buf_free(text);
    return res;
}

static json_t *error_result(const wk_tool_t *t, const httpc_response_t *r, wk_ratelimit_t *rl)
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

json_t *wk_exec_paced_result(const wk_tool_t *t, const wk_ratelimit_t *rl)
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

json_t *wk_exec_tool_error(const wk_tool_t *t, const char *reason, const char *msg)
{
    const char *h = strstr(msg, " Hint: ");
    size_t n = h ? (size_t)(h - msg) : strlen(msg);
    json_t *e = json_object();
    json_object_set_new(e, "reason", json_string(reason));
    json_object_set_new(e, "message", json_stringn(msg, n));
    json_object_set_new(e, "hint", json_string(h ? h + 7 : "Try again in a few seconds; if it keeps failing, "
                                                           "ask the user to check the account in jsmcp."));
    buf_t text;
    buf_init(&text, 64 * 1024);
    buf_printf(&text, "%s: %s ", t->name, msg);
    return error_text_result(&text, e);
}

static json_t *page_cursor(const wk_tool_t *t, const json_t *args, const json_t *body, size_t got)
{
    char num[32];
    if (t->paging == WK_PAGE_TOKEN) {
        const char *tok = jsontext_str(body, "nextPageToken");
        if (!tok || json_is_true(json_object_get(body, "isLast")))
            return NULL;
        return cursor_encode('t', tok);
    }
    long long start = 0;
    char kind;
    char val[WK_TOKEN_MAX + 1];
    const char *cur = jsontext_str(args, "next_cursor");
    if (cur && cursor_decode(cur, &kind, val, sizeof val) == 0)
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
    return cursor_encode('s', num);
}

/* The structured content of a 2xx payload. */
static int project_allowed(const json_t *projects, const char *key, size_t n)
{
    size_t i;
    const json_t *v;
    json_array_foreach(projects, i, v)
        if (json_string_length(v) == n && strncasecmp(json_string_value(v), key, n) == 0)
            return 1;
    return 0;
}

/* An upstream item (or payload) of another project than config.projects
 * allows, by the scope sc declares; an item that does not say is out. */
static int out_of_scope(const wk_scope_t *sc, const json_t *projects, const json_t *item)
{
    if (!projects || !sc->path)
        return 0;
    const char *v = json_string_value(proj_path(item, sc->path));
    if (!v && sc->path2)
        v = json_string_value(proj_path(item, sc->path2));
    if (!v)
        return 1;
    size_t n = strlen(v);
    if (sc->issue_key) {
        const char *dash = strrchr(v, '-');
        if (!dash)
            return 1;
        n = (size_t)(dash - v);
    }
    return !project_allowed(projects, v, n);
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
            if (out_of_scope(&t->scope_items, projects, json_array_get(items, i)))
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
            if (out_of_scope(&t->scope_items, projects, it))
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
static json_t *binary_result(const wk_tool_t *t, const httpc_response_t *r)
{
    char type[128] = "";
    if (httpc_resp_header(r, "Content-Type", type, sizeof type) < 0)
        type[0] = 0;
    if ((long)r->body_len > t->binary_max) {
        char msg[300];
        snprintf(msg, sizeof msg, "the file is %zu bytes; this tool returns files of at most %ld bytes", r->body_len,
                 t->binary_max);
        return step_error(t, 413, msg, "Read the file's metadata (its size and content URL) instead; it is too "
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
    return wk_exec_structured_result(json_is_object(structured) ? structured : json_object());
}

/* The members of a page that page_cursor reads. */
static const char *const PAGE_MEMBERS[] = {"nextPageToken", "isLast", "startAt", "total", "start",
                                           "isLastPage", "size", NULL};

jsontext_keep_t *wk_exec_keep_new(const wk_tool_t *t)
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

void wk_exec_check_keep(int on)
{
    check_keep = on;
}

/* wk_exec_result; the parsed payload, which the result shares values
 * with, goes to *payload (when not NULL) for the caller to release once
 * the answer is out: freeing a few hundred nodes is work the answer need
 * not wait for. */
static json_t *exec_result(const wk_tool_t *t, const json_t *args, const json_t *config, const httpc_response_t *r,
                           wk_ratelimit_t *rl, json_t **payload)
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
        return text_result(json_pack("{s:o}", "error", e), text, 1);
    }
    if (r->status < 200 || r->status >= 300)
        return error_result(t, r, rl);
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
        return text_result(json_pack("{s:{s:i,s:s}}", "error", "status", r->status, "hint",
                                     "Unexpected upstream answer; try again later."),
                           text, 1);
    }
    const json_t *projects = json_object_get(config, "projects");
    if (json_array_size(projects) == 0)
        projects = NULL;
    if (out_of_scope(&t->scope_object, projects, body)) {
        /* A key of an allowed project can name an issue that moved to
         * another project (Jira follows the old key): nothing of it is shown. */
        json_decref(body);
        char text[400];
        snprintf(text, sizeof text, "%s: the answer belongs to a project outside this MCP server's "
                 "config.projects; it is not shown.", t->name);
        return text_result(json_pack("{s:{s:i,s:s,s:s}}", "error", "status", 403, "message",
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
    return wk_exec_structured_result(structured);
}

json_t *wk_exec_result(const wk_tool_t *t, const json_t *args, const json_t *config, const httpc_response_t *r,
                       wk_ratelimit_t *rl)
{
    return exec_result(t, args, config, r, rl, NULL);
}

/* ---- field cache ---- */

#define WK_FIELDCACHE_N 64

struct wk_fieldcache_s {
    struct {
        char *account_id;
        json_t *fields;
        uint64_t at_ms;
    } e[WK_FIELDCACHE_N];
    unsigned next;
    long ttl_ms;
};

wk_fieldcache_t *wk_fieldcache_new(long ttl_ms)
{
    wk_fieldcache_t *fc = mem_calloc(1, sizeof *fc);
    fc->ttl_ms = ttl_ms;
    return fc;
}

void wk_fieldcache_free(wk_fieldcache_t *fc)
{
    if (!fc)
        return;
    for (int i = 0; i < WK_FIELDCACHE_N; i++) {
        free(fc->e[i].account_id);
        json_decref(fc->e[i].fields);
    }
    free(fc);
}

static const json_t *fieldcache_get(wk_fieldcache_t *fc, const char *account_id, uint64_t now)
{
    for (int i = 0; fc && i < WK_FIELDCACHE_N; i++)
        if (fc->e[i].account_id && strcmp(fc->e[i].account_id, account_id) == 0)
            return now - fc->e[i].at_ms < (uint64_t)fc->ttl_ms ? fc->e[i].fields : NULL;
    return NULL;
}

static void fieldcache_put(wk_fieldcache_t *fc, const char *account_id, json_t *fields, uint64_t now)
{
    if (!fc)
        return;
    int slot = -1;
    for (int i = 0; i < WK_FIELDCACHE_N && slot < 0; i++)
        if (fc->e[i].account_id && strcmp(fc->e[i].account_id, account_id) == 0)
            slot = i;
    if (slot < 0) {
        slot = (int)fc->next;
        fc->next = (fc->next + 1) % WK_FIELDCACHE_N;
    }
    free(fc->e[slot].account_id);
    json_decref(fc->e[slot].fields);
    fc->e[slot].account_id = mem_strdup(account_id);
    fc->e[slot].fields = json_incref(fields);
    fc->e[slot].at_ms = now;
}

/* ---- pure pre-step ---- */

/* The projects a write's field names are looked up for (a name several
 * fields share may be settled by their project contexts): the project_key
 * argument, else the issue key's project, else config.projects. A new
 * reference or NULL (anywhere). */
static json_t *fields_where(const wk_tool_t *t, const json_t *args, const json_t *projects)
{
    const char *pkey = t->scope_project ? jsontext_str(args, t->scope_project) : NULL;
    const char *key = t->scope_issue ? jsontext_str(args, t->scope_issue) : NULL;
    const char *dash = key && strspn(key, "0123456789") != strlen(key) ? strrchr(key, '-') : NULL;
    if (pkey)
        return json_pack("[s]", pkey);
    if (dash)
        return json_pack("[s#]", key, (int)(dash - key));
    return projects ? json_incref((json_t *)projects) : NULL;
}

/* An issue key argument must be of an allowed project (a numeric id says
 * nothing about its project: the issue pre-check, or the check of a get's
 * answer, looks it up). */
static int key_allowed(const char *arg, const char *key, const json_t *projects, char *err, size_t errsz)
{
    if (!projects || !key || strspn(key, "0123456789") == strlen(key))
        return 1;
    const char *dash = strrchr(key, '-');
    if (dash && project_allowed(projects, key, (size_t)(dash - key)))
        return 1;
    snprintf(err, errsz, "%s: this MCP server is limited to the projects %s; use an issue key "
             "of one of them (e.g. %s-1)", arg, "in its config.projects", json_string_value(json_array_get(projects, 0)));
    return 0;
}

/* wk_exec_prepare; need (may be NULL) gets the ids of fields sharing a
 * name the arguments use whose project context is not known yet. */
static json_t *prepare(const wk_tool_t *t, const json_t *args, const json_t *fields, const json_t *config,
                       json_t *need, char *err, size_t errsz)
{
    const json_t *projects = json_object_get(config, "projects");
    if (json_array_size(projects) == 0)
        projects = NULL;
    json_t *a = json_deep_copy(args);
    const char *jql = t->jql_arg ? jsontext_str(a, t->jql_arg) : NULL;
    if (t->jql_arg && (jql || projects)) {
        char *q = wk_jql_rewrite_need(jql ? jql : "", fields, projects, need, err, errsz);
        if (!q) {
            json_decref(a);
            return NULL;
        }
        json_object_set_new(a, t->jql_arg, json_string(q));
        free(q);
    }
    const json_t *fobj = t->fields_arg ? json_object_get(a, t->fields_arg) : NULL;
    if (json_is_object(fobj) && fields) {
        json_t *tr = json_object(), *where = fields_where(t, a, projects);
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)fobj, k, v) {
            const char *id = NULL;
            char why[1500];
            int r = wk_jql_field_resolve(fields, k, where, &id, need, why, sizeof why);
            if ((id && strcmp(id, "project") == 0) || strcasecmp(k, "project") == 0) {
                /* The project comes from project_key (checked against
                 * config.projects) or stays the issue's own. */
                snprintf(err, errsz, "%s: the project cannot be set through %s%s", t->fields_arg, t->fields_arg,
                         t->scope_project ? "; use project_key" : "");
                r = -2;
            } else if (r < 0) {
                snprintf(err, errsz, "%s: %s", t->fields_arg, why);
            } else if (r == 0) {
                char close[400];
                wk_jql_closest(fields, k, 5, close, sizeof close);
                snprintf(err, errsz, "%s: unknown field \"%.80s\"; closest fields: %s (list them with "
                         "list_all_jira_service_management_fields)", t->fields_arg, k, close);
                r = -2;
            }
            if (r <= 0) {
                json_decref(where);
                json_decref(tr);
                json_decref(a);
                return NULL;
            }
            json_object_set(tr, id, v);
        }
        json_decref(where);
        json_object_set_new(a, t->fields_arg, tr);
    }
    const char *pkey = t->scope_project ? jsontext_str(a, t->scope_project) : NULL;
    if (projects && pkey && !project_allowed(projects, pkey, strlen(pkey))) {
        snprintf(err, errsz, "%s: this MCP server is limited to the projects in its config.projects; "
                 "\"%.40s\" is not one of them (e.g. %s)", t->scope_project, pkey,
                 json_string_value(json_array_get(projects, 0)));
        json_decref(a);
        return NULL;
    }
    if (projects && t->scope_desk && !jsontext_str(a, t->scope_desk)) {
        /* Without a desk the list spans every project of the site. */
        snprintf(err, errsz, "%s is required: this MCP server is limited to the projects in its config.projects; "
                 "pass the id of one of their service desks (list_all_jira_service_management_service_desks)",
                 t->scope_desk);
        json_decref(a);
        return NULL;
    }
    if (!key_allowed(t->scope_issue, t->scope_issue ? jsontext_str(a, t->scope_issue) : NULL, projects, err, errsz) ||
        !key_allowed(t->scope_issue2, t->scope_issue2 ? jsontext_str(a, t->scope_issue2) : NULL, projects, err, errsz)) {
        json_decref(a);
        return NULL;
    }
    return a;
}

json_t *wk_exec_prepare(const wk_tool_t *t, const json_t *args, const json_t *fields,
                        const json_t *config, char *err, size_t errsz)
{
    return prepare(t, args, fields, config, NULL, err, errsz);
}

/* ---- the call over httpc ---- */

typedef struct exec_op_s {
    httpc_t *hc;
    const wk_tool_t *tool;
    json_t *args;             /* own copy: pre-steps write into it */
    json_t *config;
    char *account_id;
    char rid_header[96];      /* "X-Request-Id: ..." or "" */
    char trace_header[80];    /* "traceparent: ..." or "" */
    wk_fieldcache_t *fields;
    json_t *fieldlist;        /* the site's fields while contexts are looked up (own reference) */
    json_t *need;             /* ids of same-name fields whose project context is looked up */
    size_t need_i;            /* the next of them */
    uint64_t now_ms;
    wk_account_t acct;        /* copy: the cache entry may change between requests */
    size_t step;              /* next resolve step */
    int desk_checked;         /* config.projects: the desk's project was checked */
    int issue_checked;        /* config.projects: bit 1 scope_issue, bit 2 scope_issue2 checked */
    int checking;             /* the pre-check in flight (enum scope_check) */
    const char *checking_arg; /* and the argument it checks */
    wk_exec_cb cb;
    void *ud;
} exec_op_t;

/* The one place an exec_op ends. */
static void op_finish(exec_op_t *op, json_t *res, const wk_ratelimit_t *rl, int status)
{
    wk_ratelimit_t none;
    if (!rl) {
        memset(&none, 0, sizeof none);
        rl = &none;
    }
    op->cb(res, rl, status, op->ud);
    json_decref(op->args);
    json_decref(op->config);
    json_decref(op->fieldlist);
    json_decref(op->need);
    free(op->account_id);
    wk_account_clear(&op->acct);
    free(op);
}

static json_t *step_error(const wk_tool_t *t, int status, const char *msg, const char *hint)
{
    json_t *e = json_pack("{s:i,s:s,s:s}", "status", status, "message", msg, "hint", hint);
    buf_t text;
    buf_init(&text, 16 * 1024);
    buf_printf(&text, "%s: %s", t->name, msg);
    json_t *r = text_result(json_pack("{s:o}", "error", e), text.data ? text.data : msg, 1);
    buf_free(&text);
    return r;
}

static void note_upstream(const httpc_response_t *r, wk_ratelimit_t *rl)
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
    wk_exec_quota(r, rl);
}

static int send_req(exec_op_t *op, const wk_tool_t *t, httpc_cb cb, char *err, size_t errsz);
static void run_next(exec_op_t *op);

static void on_main(const httpc_response_t *resp, void *ud)
{
    exec_op_t *op = ud;
    wk_ratelimit_t rl;
    json_t *payload = NULL;
    json_t *res = exec_result(op->tool, op->args, op->config, resp, &rl, &payload);
    note_upstream(resp, &rl);
    op_finish(op, res, &rl, resp->status);
    json_decref(payload);
}

/* A pre-step's failure: the upstream error as the tool's result. */
static int step_failed(exec_op_t *op, const httpc_response_t *resp)
{
    if (!resp->err && resp->status >= 200 && resp->status < 300)
        return 0;
    wk_ratelimit_t rl;
    json_t *res = wk_exec_result(op->tool, op->args, op->config, resp, &rl);
    note_upstream(resp, &rl);
    op_finish(op, res, &rl, resp->status);
    return 1;
}

/* A pre-step's answer: -1 when it failed (the op has ended), else 0 with
 * its parsed body (NULL when unreadable). */
static int step_parse(exec_op_t *op, const httpc_response_t *resp, json_t **body)
{
    char perr[128];
    *body = NULL;
    if (step_failed(op, resp))
        return -1;
    *body = jsontext_parse(resp->body, resp->body_len, WK_UPSTREAM_DEPTH, perr, sizeof perr);
    return 0;
}

/* A pre-step GET of path (with {arg} placeholders) and the query members
 * in query (may be NULL). */
static int send_get(exec_op_t *op, const char *path, const json_t *query, httpc_cb cb, char *err, size_t errsz)
{
    wk_tool_t gt;
    memset(&gt, 0, sizeof gt);
    gt.name = op->tool->name;
    json_t *http = json_pack("{s:s,s:s}", "method", "GET", "path", path);
    if (query)
        json_object_set(http, "query", (json_t *)query);
    gt.http = http;
    int rc = send_req(op, &gt, cb, err, errsz);
    json_decref(http);
    return rc;
}

/* ---- field names: the site's field list, and the contexts of fields that share a name ---- */

static void next_context(exec_op_t *op);

/* The arguments prepared with the site's field list: the call goes on; or
 * a name several fields share makes their project contexts worth a look
 * (once per call; the answers stay on the cached list); or the call ends
 * with the agent-facing error. */
static void got_fields(exec_op_t *op, json_t *fields)
{
    char err[2048];
    json_t *need = json_array();
    json_t *a = prepare(op->tool, op->args, fields, op->config, op->need ? NULL : need, err, sizeof err);
    if (a) {
        json_decref(need);
        json_decref(op->args);
        op->args = a;
        run_next(op);
        return;
    }
    if (json_array_size(need) > 0) {
        op->need = need;
        op->fieldlist = json_incref(fields);
        next_context(op);
        return;
    }
    json_decref(need);
    op_finish(op, step_error(op->tool, 400, err, "Fix the argument and call again."), NULL, 0);
}

static void on_fields(const httpc_response_t *resp, void *ud)
{
    exec_op_t *op = ud;
    json_t *fields;
    if (step_parse(op, resp, &fields) != 0)
        return;
    if (!json_is_array(fields)) {
        json_decref(fields);
        op_finish(op, step_error(op->tool, 502, "the site's field list (/rest/api/3/field) is unreadable",
                                 "Try again later."), NULL, resp->status);
        return;
    }
    fieldcache_put(op->fields, op->account_id, fields, op->now_ms);
    got_fields(op, fields);
    json_decref(fields);
}

static json_t *field_by_id(const json_t *fields, const char *id)
{
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f)
        if (jsontext_str(f, "id") && strcmp(jsontext_str(f, "id"), id) == 0)
            return f;
    return NULL;
}

/* While a field's context is looked up it carries "jsmcpPending":
 * {"global": bool, "projectIds": [...]} or {"failed": true}; the context
 * (WK_JQL_CONTEXT) is written once the project keys are known, so a call
 * reading the cached list meanwhile sees "not looked up" or the result. */
#define PENDING "jsmcpPending"

static void on_context(const httpc_response_t *resp, void *ud)
{
    exec_op_t *op = ud;
    json_t *f = field_by_id(op->fieldlist, json_string_value(json_array_get(op->need, op->need_i)));
    char perr[128];
    json_t *body = !resp->err && resp->status >= 200 && resp->status < 300
                       ? jsontext_parse(resp->body, resp->body_len, WK_UPSTREAM_DEPTH, perr, sizeof perr)
                       : NULL;
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
    json_decref(body);
    if (f)
        json_object_set_new(f, PENDING, pend);
    else
        json_decref(pend);
    op->need_i++;
    next_context(op);
}

static void finish_contexts(exec_op_t *op, const json_t *projects);

static void on_context_projects(const httpc_response_t *resp, void *ud)
{
    exec_op_t *op = ud;
    char perr[128];
    json_t *body = !resp->err && resp->status >= 200 && resp->status < 300
                       ? jsontext_parse(resp->body, resp->body_len, WK_UPSTREAM_DEPTH, perr, sizeof perr)
                       : NULL;
    finish_contexts(op, json_object_get(body, "values"));
    json_decref(body);
}

/* Writes each looked-up field's context with project keys (projects: the
 * project search's items; a project id it does not list stays "id N"),
 * then prepares the arguments again. */
static void finish_contexts(exec_op_t *op, const json_t *projects)
{
    size_t i, j, k;
    const json_t *id, *pid, *p;
    json_array_foreach(op->need, i, id) {
        json_t *f = field_by_id(op->fieldlist, json_string_value(id));
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
                    if (jsontext_str(p, "id") && jsontext_str(p, "key") && strcmp(jsontext_str(p, "id"), json_string_value(pid)) == 0)
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
    json_t *fields = json_incref(op->fieldlist);
    got_fields(op, fields);
    json_decref(fields);
}

/* Looks up the next field's context (GET /field/{id}/context/projectmapping;
 * a team-managed field's /field item names its project already), then the
 * keys of the projects found (GET /project/search?id=..). */
static void next_context(exec_op_t *op)
{
    char err[400];
    while (op->need_i < json_array_size(op->need)) {
        const char *id = json_string_value(json_array_get(op->need, op->need_i));
        json_t *f = field_by_id(op->fieldlist, id);
        const char *team = jsontext_str(json_object_get(json_object_get(f, "scope"), "project"), "id");
        if (f && team && strspn(team, "0123456789") == strlen(team) && *team) {
            json_object_set_new(f, PENDING, json_pack("{s:b,s:[s]}", "global", 0, "projectIds", team));
            op->need_i++;
            continue;
        }
        if (!f || strncmp(id, "customfield_", 12) != 0 || strspn(id + 12, "0123456789") != strlen(id + 12)) {
            if (f)
                json_object_set_new(f, PENDING, json_pack("{s:b}", "failed", 1));
            op->need_i++;
            continue;
        }
        char path[128];
        snprintf(path, sizeof path, "/rest/api/3/field/%s/context/projectmapping", id);
        if (send_get(op, path, NULL, on_context, err, sizeof err) != 0)
            op_finish(op, step_error(op->tool, 0, err, "Try again in a few seconds."), NULL, 0);
        return;
    }
    /* The project ids found, for one project search. */
    json_t *ids = json_array();
    size_t i, j;
    const json_t *id, *pid;
    json_array_foreach(op->need, i, id)
        json_array_foreach(json_object_get(json_object_get(field_by_id(op->fieldlist, json_string_value(id)), PENDING),
                                           "projectIds"), j, pid)
            if (json_array_size(ids) < 50)
                json_array_append(ids, (json_t *)pid);
    if (json_array_size(ids) == 0) {
        json_decref(ids);
        finish_contexts(op, NULL);
        return;
    }
    json_object_set_new(op->args, "_project_ids", ids);
    json_t *query = json_pack("{s:s,s:s}", "id", "{_project_ids}", "maxResults", "50");
    int rc = send_get(op, "/rest/api/3/project/search", query, on_context_projects, err, sizeof err);
    json_decref(query);
    json_object_del(op->args, "_project_ids");
    if (rc != 0)
        op_finish(op, step_error(op->tool, 0, err, "Try again in a few seconds."), NULL, 0);
}

/* ---- pre-steps (catalog "resolve") ---- */

/* A step without "match": one value of the answer (a request's service
 * desk id, an uploaded file's temporary id) becomes an argument. */
static void step_pick(exec_op_t *op, const json_t *step, const json_t *body, int status)
{
    const json_t *v = proj_path(body, jsontext_str(step, "value"));
    char num[64];
    const char *s;
    if (wk_body_scalar(v, num, sizeof num, &s) != 0 || !*s || json_is_boolean(v)) {
        char msg[400];
        snprintf(msg, sizeof msg, "the site's answer to %.200s has no %.80s", jsontext_str(step, "path"),
                 jsontext_str(step, "value"));
        op_finish(op, step_error(op->tool, 502, msg, "Try again later; if it keeps failing the site answers "
                                                     "differently than Jira Cloud documents."), NULL, status);
        return;
    }
    json_object_set_new(op->args, jsontext_str(step, "set"), json_string(s));
    run_next(op);
}

static void on_resolve(const httpc_response_t *resp, void *ud)
{
    exec_op_t *op = ud;
    json_t *body;
    if (step_parse(op, resp, &body) != 0)
        return;
    const json_t *step = json_array_get(op->tool->resolve, op->step - 1);
    const json_t *match = json_object_get(step, "match");
    if (!match) {
        step_pick(op, step, body, resp->status);
        json_decref(body);
        return;
    }
    char msg[3000];
    const char *hint;
    const json_t *hit;
    if (wk_steps_match(step, op->args, body, &hit, msg, sizeof msg, &hint)) {
        json_object_set(op->args, jsontext_str(step, "set"), json_object_get(hit, jsontext_str(step, "value")));
        json_decref(body);
        run_next(op);
        return;
    }
    json_decref(body);
    op_finish(op, step_error(op->tool, 400, msg, hint), NULL, resp->status);
}

/* The pre-checks of config.projects: the service desk or the issue an
 * argument names is looked up and its project checked before the tool
 * runs. The issue check covers the tools whose answer does not say its
 * project (comments, transitions, SLAs, writes ...): a key of an allowed
 * project may name an issue that moved to another one (Jira follows the
 * old key), and a numeric id names any issue. */
enum scope_check { CHECK_DESK, CHECK_ISSUE };
static const struct {
    const char *path;   /* GET, with the argument as {arg} */
    wk_scope_t scope;   /* where the answer says its project */
    const char *what, *hint;
} CHECKS[] = {
    {"/rest/servicedeskapi/servicedesk/{%s}", {"projectKey", NULL, 0}, "service desk",
     "Use a service desk of an allowed project (list_all_jira_service_management_service_desks)."},
    {"/rest/api/3/issue/{%s}", {"fields.project.key", NULL, 0}, "issue",
     "Use an issue of an allowed project (list_all_jira_service_management_search_issues)."},
};

static void on_scope_check(const httpc_response_t *resp, void *ud)
{
    exec_op_t *op = ud;
    json_t *item;
    if (step_parse(op, resp, &item) != 0)
        return;
    enum scope_check k = op->checking;
    int out = out_of_scope(&CHECKS[k].scope, json_object_get(op->config, "projects"), item);
    json_decref(item);
    if (out) {
        const char *arg = op->checking_arg;
        char msg[300];
        snprintf(msg, sizeof msg, "%s: this MCP server is limited to the projects in its config.projects; "
                 "%s %.40s belongs to another project", arg, CHECKS[k].what,
                 jsontext_str(op->args, arg) ? jsontext_str(op->args, arg) : "?");
        op_finish(op, step_error(op->tool, 403, msg, CHECKS[k].hint), NULL, resp->status);
        return;
    }
    run_next(op);
}

/* Sends the pre-check k for argument arg. */
static void scope_check(exec_op_t *op, enum scope_check k, const char *arg)
{
    char path[160], err[400];
    op->checking = k;
    op->checking_arg = arg;
    snprintf(path, sizeof path, CHECKS[k].path, arg);
    json_t *query = k == CHECK_ISSUE ? json_pack("{s:s}", "fields", "project") : NULL;
    int rc = send_get(op, path, query, on_scope_check, err, sizeof err);
    json_decref(query);
    if (rc != 0)
        op_finish(op, step_error(op->tool, 0, err, "Try again in a few seconds."), NULL, 0);
}

/* 1 when the tool needs the issue pre-check with this config. */
static int needs_issue_check(const wk_tool_t *t, const json_t *config)
{
    return t->scope_issue && !t->scope_object.path && json_array_size(json_object_get(config, "projects")) > 0;
}

/* Runs the next pending request: the scope pre-checks, resolve steps in
 * order, then the tool. */
static void run_next(exec_op_t *op)
{
    char err[400];
    const wk_tool_t *t = op->tool;
    int limited = json_array_size(json_object_get(op->config, "projects")) > 0;
    if (!op->desk_checked && limited && t->scope_desk && jsontext_str(op->args, t->scope_desk)) {
        op->desk_checked = 1;
        scope_check(op, CHECK_DESK, t->scope_desk);
        return;
    }
    const char *issue_args[2] = {t->scope_issue, t->scope_issue2};
    for (int i = 0; i < 2; i++) {
        if (!(op->issue_checked & (1 << i)) && needs_issue_check(t, op->config) && issue_args[i] &&
            jsontext_str(op->args, issue_args[i])) {
            op->issue_checked |= 1 << i;
            scope_check(op, CHECK_ISSUE, issue_args[i]);
            return;
        }
    }
    while (op->step < json_array_size(t->resolve)) {
        const json_t *step = json_array_get(t->resolve, op->step++);
        const char *when = jsontext_str(step, "when"), *set = jsontext_str(step, "set");
        int always = json_is_true(json_object_get(step, "always"));
        if (!jsontext_str(op->args, when) && !(always && json_object_get(op->args, set)))
            continue;
        if (json_object_get(op->args, set) && !always)
            continue;
        /* The step is a catalog http row of its own: same builder, no paging. */
        wk_tool_t st;
        memset(&st, 0, sizeof st);
        st.name = t->name;
        st.http = step;
        if (json_is_true(json_object_get(step, "multipart")))
            st.multipart = t->multipart;
        int rc = send_req(op, &st, on_resolve, err, sizeof err);
        if (rc != 0)
            op_finish(op, step_error(t, rc == -1 ? 400 : 0, err, "Try again in a few seconds."), NULL, 0);
        return;
    }
    /* The main request of a tool whose file went up in a step is JSON. */
    wk_tool_t last = *t;
    if (json_array_size(t->resolve) && t->multipart) {
        size_t i;
        const json_t *st;
        json_array_foreach(t->resolve, i, st)
            if (json_is_true(json_object_get(st, "multipart")))
                last.multipart = NULL;
    }
    int rc = send_req(op, &last, on_main, err, sizeof err);
    if (rc != 0)
        op_finish(op, step_error(t, rc == -1 ? 400 : 0, err, "Try again in a few seconds."), NULL, 0);
}

static int send_req(exec_op_t *op, const wk_tool_t *t, httpc_cb cb, char *err, size_t errsz)
{
    wk_call_t call;
    if (wk_exec_build(t, op->args, op->acct.base_url, &call, err, errsz) != 0)
        return -1;
    const char *headers[11];
    int nh = 0;
    headers[nh++] = t->binary_max ? "Accept: */*" : "Accept: application/json";
    size_t hi;
    const json_t *hv;
    json_array_foreach(json_object_get(t->http, "headers"), hi, hv)
        if (json_is_string(hv) && nh < 5)
            headers[nh++] = json_string_value(hv); /* e.g. X-ExperimentalApi: opt-in */
    if (call.body)
        headers[nh++] = "Content-Type: application/json";
    if (op->acct.auth_header)
        headers[nh++] = op->acct.auth_header;
    if (op->rid_header[0])
        headers[nh++] = op->rid_header;
    if (op->trace_header[0])
        headers[nh++] = op->trace_header;
    headers[nh] = NULL;
    httpc_request_t rq = {.method = call.method, .url = call.url, .headers = headers,
                          .body = call.body, .body_len = call.body_len,
                          .parts = call.nparts ? &call.part : NULL, .nparts = call.nparts};
    int rc = httpc_request(op->hc, &rq, cb, op);
    wk_call_clear(&call);
    if (rc != 0) {
        snprintf(err, errsz, "the worker is overloaded (upstream requests), try again");
        return -2;
    }
    return 0;
}

static char *dup_opt(const char *s)
{
    return s ? mem_strdup(s) : NULL;
}

int wk_exec_start(httpc_t *hc, const wk_tool_t *t, const json_t *args, const wk_account_t *acct,
                  const wk_exec_ctx_t *ctx, wk_exec_cb cb, void *ud, char *err, size_t errsz)
{
    /* Check the arguments the schema cannot (a forged cursor, content that
     * is not base64) before any request. */
    wk_call_t probe;
    if ((t->paging || t->multipart) && wk_exec_build(t, args, acct->base_url, &probe, err, errsz) != 0)
        return -1;
    if (t->paging || t->multipart)
        wk_call_clear(&probe);

    int needs_fields = (t->jql_arg && json_object_get(args, t->jql_arg)) ||
                       (t->fields_arg && json_object_size(json_object_get(args, t->fields_arg)) > 0);
    json_t *fields = needs_fields ? (json_t *)fieldcache_get(ctx->fields, ctx->account_id, ctx->now_ms) : NULL;
    json_t *a = NULL;
    char why[2048] = "";
    if (!needs_fields) {
        a = prepare(t, args, NULL, ctx->config, NULL, why, sizeof why);
    } else if (!fields) {
        /* Before the field list is fetched: a query that does not parse,
         * or another argument the pre-step refuses, makes no request. */
        json_t *syntax = prepare(t, args, NULL, ctx->config, NULL, why, sizeof why);
        json_decref(syntax);
    }
    exec_op_t *op = mem_calloc(1, sizeof *op);
    op->hc = hc;
    op->tool = t;
    op->args = a ? a : json_deep_copy(args);
    op->config = ctx->config ? json_incref((json_t *)ctx->config) : NULL;
    op->account_id = mem_strdup(ctx->account_id ? ctx->account_id : "");
    if (ctx->request_id)
        str_join(op->rid_header, sizeof op->rid_header, "X-Request-Id: ", ctx->request_id, NULL);
    if (ctx->traceparent)
        str_join(op->trace_header, sizeof op->trace_header, "traceparent: ", ctx->traceparent, NULL);
    op->fields = ctx->fields;
    op->now_ms = ctx->now_ms;
    op->acct.base_url = dup_opt(acct->base_url);
    op->acct.auth_header = dup_opt(acct->auth_header);
    op->cb = cb;
    op->ud = ud;
    if (*why) {
        /* Same answer as after a fetched field list (got_fields): a tool
         * error the agent can act on, whether the list was cached or not. */
        op_finish(op, step_error(t, 400, why, "Fix the argument and call again."), NULL, 0);
        return 0;
    }
    if (fields) {
        got_fields(op, fields); /* ends the op or sends its next request */
        return 0;
    }
    int rc;
    if (!needs_fields) {
        /* Only the first request can fail synchronously: later ones end the op. */
        if (json_array_size(t->resolve) == 0 && !t->scope_desk && !needs_issue_check(t, ctx->config)) {
            rc = send_req(op, t, on_main, err, errsz);
        } else {
            run_next(op);
            return 0;
        }
    } else {
        rc = send_get(op, "/rest/api/3/field", NULL, on_fields, err, errsz);
    }
    if (rc != 0) {
        json_decref(op->args);
        json_decref(op->config);
        free(op->account_id);
        wk_account_clear(&op->acct);
        free(op);
        return -2;
    }
    return 0;
}
