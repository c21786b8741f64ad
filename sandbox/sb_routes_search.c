/* sb_routes_search: see sb_routes_search.h. Bodies and messages follow
 * jsm-rest-api.md §1. */
#include "sb_routes_search.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "sb_pack.h"
#include "jsontext.h"
#include "sb.h"
#include "sb_jql.h"
#include "sb_jql_order.h"
#include "sb_render.h"

#define MAX_SEARCH_RESULTS 100
#define MAX_SEARCH_IDS 5000
#define TOKEN_TTL_MS (7LL * 24 * 3600 * 1000)

/* ---- legacy search ---- */
static void h_search_legacy(sb_call_t *c)
{
    sb_err_platform(c, 410,
                    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. A full "
                    "migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046");
}

/* ---- nextPageToken: base64url("offset.jqlhash.issued.mac"), MAC keyed per run ---- */
static unsigned char token_key[crypto_generichash_KEYBYTES];
static int token_key_ready;

static void token_mac(const char *payload, char *hex, size_t hexsz)
{
    unsigned char mac[16];
    if (!token_key_ready) {
        randombytes_buf(token_key, sizeof token_key);
        token_key_ready = 1;
    }
    crypto_generichash(mac, sizeof mac, (const unsigned char *)payload, strlen(payload), token_key, sizeof token_key);
    sodium_bin2hex(hex, hexsz, mac, sizeof mac);
}

static uint64_t jql_hash(const char *jql)
{
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = jql; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h;
}

static void token_make(const char *jql, long offset, int64_t now, char *out, size_t outsz)
{
    char payload[128], mac[33], full[200];
    snprintf(payload, sizeof payload, "%ld.%016llx.%lld", offset, (unsigned long long)jql_hash(jql), (long long)now);
    token_mac(payload, mac, sizeof mac);
    snprintf(full, sizeof full, "%s.%s", payload, mac);
    sodium_bin2base64(out, outsz, (const unsigned char *)full, strlen(full), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* Returns the offset, or -1 when the token is malformed, forged, for another
 * query, or older than 7 days. */
static long token_parse(const char *jql, const char *tok, int64_t now)
{
    unsigned char raw[200];
    size_t n = 0;
    char payload[200], mac[33];
    long off;
    unsigned long long h;
    long long issued;
    if (strlen(tok) > 260 || sodium_base642bin(raw, sizeof raw - 1, tok, strlen(tok), NULL, &n, NULL,
                                               sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return -1;
    raw[n] = 0;
    char *last = strrchr((char *)raw, '.');
    if (!last || strlen(last + 1) != 32)
        return -1;
    *last = 0;
    snprintf(payload, sizeof payload, "%s", (char *)raw);
    token_mac(payload, mac, sizeof mac);
    if (sodium_memcmp(mac, last + 1, 32) != 0)
        return -1;
    if (sscanf(payload, "%ld.%llx.%lld", &off, &h, &issued) != 3 || off < 0 || h != jql_hash(jql) ||
        now - issued > TOKEN_TTL_MS)
        return -1;
    return off;
}

#define MAX_RECONCILE 50

typedef struct search_req_s {
    const char *jql;
    const char *token;
    long max;
    sb_fieldsel_t fs;
    unsigned expand;
    int legacy;           /* the removed /search contract (legacy mode only) */
    long start_at;        /* legacy paging */
    int reconcile[MAX_RECONCILE]; /* issue ids read-after-write (reconcileIssues) */
    int nreconcile;
} search_req_t;

/* Eventual consistency: a new issue is invisible to search until it is
 * indexed (JSM_SANDBOX_SEARCH_LAG_MS), unless listed in reconcileIssues. */
static size_t drop_unindexed(sb_issue_t **v, size_t n, int64_t now, const int *rec, int nrec)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int keep = v[i]->indexed_at <= now;
        for (int r = 0; !keep && r < nrec; r++)
            keep = rec[r] == v[i]->id;
        if (keep)
            v[k++] = v[i];
    }
    return k;
}

static void run_search(sb_call_t *c, search_req_t *s)
{
    char err[600];
    sb_jql_t *q = NULL;
    if (sb_jql_parse(c->sb->data, s->jql, &q, err, sizeof err) != 0) {
        sb_err_platform(c, 400, err);
        return;
    }
    if (!s->legacy && !sb_jql_bounded(q)) {
        sb_jql_free(q);
        sb_err_platform(c, 400, "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.");
        return;
    }
    int64_t now = sb_now(c->sb);
    long offset = s->legacy ? s->start_at : 0;
    if (s->token && *s->token) {
        offset = token_parse(s->jql, s->token, now);
        if (offset < 0) {
            sb_jql_free(q);
            sb_err_platform(c, 400, "The provided next page token is invalid or expired.");
            return;
        }
    }
    long cap = sb_fieldsel_ids_only(&s->fs) ? MAX_SEARCH_IDS : MAX_SEARCH_RESULTS;
    long max = s->max <= 0 ? 50 : s->max > cap ? cap : s->max;
    sb_issue_t **v;
    sb_jql_env_t env = {c->sb->data, c->user, now};
    size_t n = drop_unindexed(v, sb_jql_run(q, &env, &v), now, s->reconcile, s->nreconcile);
    if (sb_is_customer(c)) { /* a portal customer finds only their own requests */
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (sb_visible(c, v[i]))
                v[k++] = v[i];
        n = k;
    }
    json_t *issues = json_array();
    long i;
    if (s->legacy && !s->fs.given)
        sb_fieldsel_add(&s->fs, "*navigable"); /* the old default */
    for (i = offset; i < (long)n && i < offset + max; i++) {
        if (!s->fs.given) {
            char id[16];
            snprintf(id, sizeof id, "%d", v[i]->id);
            json_array_append_new(issues, sb_pack("{s:s}", "id", id));
        } else {
            json_array_append_new(issues, sb_issue_json(c, v[i], &s->fs, s->expand & ~(SB_EXP_NAMES | SB_EXP_SCHEMA), 20));
        }
    }
    int last = i >= (long)n;
    sb_quota_charge(c, (int)json_array_size(issues)); /* 1 + one point per issue */
    if (s->legacy) {
        free(v);
        sb_jql_free(q);
        sb_json(c, 200, sb_pack("{s:s, s:I, s:I, s:I, s:o}", "expand", "names,schema", "startAt", (json_int_t)offset,
                                "maxResults", (json_int_t)max, "total", (json_int_t)n, "issues", issues));
        return;
    }
    json_t *r = sb_pack("{s:o, s:b}", "issues", issues, "isLast", last);
    if (!last) {
        char tok[600];
        token_make(s->jql, i, now, tok, sizeof tok);
        json_object_set_new(r, "nextPageToken", json_string(tok));
    }
    if (s->expand & SB_EXP_NAMES)
        json_object_set_new(r, "names", sb_names_json(c, &s->fs));
    if (s->expand & SB_EXP_SCHEMA)
        json_object_set_new(r, "schema", sb_schema_json(c, &s->fs));
    free(v);
    sb_jql_free(q);
    sb_json(c, 200, r);
}

static void search_get(sb_call_t *c, int legacy)
{
    search_req_t s;
    char jql[SB_JQL_MAX_LEN + 1], tok[600], f[1024], ex[256];
    memset(&s, 0, sizeof s);
    if (httpd_query_param(c->req, "jql", jql, sizeof jql) == -2) {
        sb_err_platform(c, 400, "Error in the JQL Query: The query is too long.");
        return;
    }
    if (sb_query(c, "jql", jql, sizeof jql) < 0)
        jql[0] = 0;
    sb_query(c, "nextPageToken", tok, sizeof tok);
    s.jql = jql;
    s.token = tok;
    int bad = 0;
    s.max = sb_query_long(c, "maxResults", 50, &bad);
    if (bad) {
        sb_err_platform(c, 400, "The value for 'maxResults' is invalid.");
        return;
    }
    sb_fieldsel_init(&s.fs, 0);
    for (int k = 0; k < 16 && httpd_query_param_nth(c->req, "fields", k, f, sizeof f) >= 0; k++)
        sb_fieldsel_add(&s.fs, f);
    if (sb_query(c, "expand", ex, sizeof ex) >= 0)
        s.expand = sb_expand_parse(ex);
    s.legacy = legacy;
    s.start_at = sb_query_long(c, "startAt", 0, NULL);
    if (s.start_at < 0)
        s.start_at = 0;
    char rec[600];
    if (sb_query(c, "reconcileIssues", rec, sizeof rec) >= 0)
        for (char *p = rec; *p && s.nreconcile < MAX_RECONCILE; p++) {
            char *end;
            long id = strtol(p, &end, 10);
            if (end == p)
                break;
            s.reconcile[s.nreconcile++] = (int)id;
            p = *end ? end : end - 1;
        }
    run_search(c, &s);
}

static void h_search_get(sb_call_t *c)
{
    search_get(c, 0);
}

static void search_post(sb_call_t *c, int legacy)
{
    json_t *b = sb_body_json(c);
    if (!b)
        return;
    search_req_t s;
    memset(&s, 0, sizeof s);
    s.jql = jsontext_str(b, "jql") ? jsontext_str(b, "jql") : "";
    s.token = jsontext_str(b, "nextPageToken");
    s.max = (long)jsontext_int(b, "maxResults", 50);
    sb_fieldsel_init(&s.fs, 0);
    json_t *fields = json_object_get(b, "fields"), *f;
    size_t i;
    json_array_foreach(fields, i, f) if (json_is_string(f)) sb_fieldsel_add(&s.fs, json_string_value(f));
    json_t *ex = json_object_get(b, "expand");
    if (json_is_string(ex))
        s.expand = sb_expand_parse(json_string_value(ex));
    json_array_foreach(ex, i, f) if (json_is_string(f)) s.expand |= sb_expand_parse(json_string_value(f));
    json_array_foreach(json_object_get(b, "reconcileIssues"), i, f) if (json_is_integer(f) && s.nreconcile < MAX_RECONCILE)
        s.reconcile[s.nreconcile++] = (int)json_integer_value(f);
    s.legacy = legacy;
    s.start_at = (long)jsontext_int(b, "startAt", 0);
    if (s.start_at < 0)
        s.start_at = 0;
    run_search(c, &s);
    json_decref(b);
}

static void h_search_post(sb_call_t *c)
{
    search_post(c, 0);
}

/* Legacy mode (JSM_SANDBOX_LEGACY_SEARCH=1) serves the removed contract. */
static void h_legacy_get(sb_call_t *c)
{
    if (c->sb->cfg.legacy_search)
        search_get(c, 1);
    else
        h_search_legacy(c);
}

static void h_legacy_post(sb_call_t *c)
{
    if (c->sb->cfg.legacy_search)
        search_post(c, 1);
    else
        h_search_legacy(c);
}

static void h_approx_count(sb_call_t *c)
{
    json_t *b = sb_body_json(c);
    if (!b)
        return;
    const char *jql = jsontext_str(b, "jql") ? jsontext_str(b, "jql") : "";
    char err[600];
    sb_jql_t *q = NULL;
    if (sb_jql_parse(c->sb->data, jql, &q, err, sizeof err) != 0) {
        sb_err_platform(c, 400, err);
    } else if (!sb_jql_bounded(q)) {
        sb_err_platform(c, 400, "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.");
    } else {
        int64_t now = sb_now(c->sb);
        sb_jql_env_t env = {c->sb->data, c->user, now};
        int n = 0;
        for (int i = 0; i < c->sb->data->nissues; i++)
            n += c->sb->data->issues[i]->indexed_at <= now && sb_visible(c, c->sb->data->issues[i]) &&
                 sb_jql_match(q, &env, c->sb->data->issues[i]);
        sb_json(c, 200, sb_pack("{s:i}", "count", n));
    }
    sb_jql_free(q);
    json_decref(b);
}

static const sb_route_t ROUTES[] = {
    {"GET", "/rest/api/3/search/jql", h_search_get, SB_FAM_PLATFORM, 0, 0, 0},
    {"POST", "/rest/api/3/search/jql", h_search_post, SB_FAM_PLATFORM, 0, 0, 0},
    {"POST", "/rest/api/3/search/approximate-count", h_approx_count, SB_FAM_PLATFORM, 0, 150, 0},
    {"GET", "/rest/api/3/search", h_legacy_get, SB_FAM_PLATFORM, 0, 0, 0},
    {"POST", "/rest/api/3/search", h_legacy_post, SB_FAM_PLATFORM, 0, 0, 0},
    {"GET", "/rest/api/2/search", h_legacy_get, SB_FAM_PLATFORM, 0, 0, 0},
    {"POST", "/rest/api/2/search", h_legacy_post, SB_FAM_PLATFORM, 0, 0, 0},
};

void sb_routes_search(sb_t *sb)
{
    sb_routes_register(sb, ROUTES, (int)(sizeof ROUTES / sizeof ROUTES[0]));
}
