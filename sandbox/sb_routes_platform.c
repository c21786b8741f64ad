/* sb_routes_platform: Jira platform REST v3 endpoints the tool catalog
 * calls (issue search, issues, comments, transitions, assignee, worklogs,
 * attachments, users, fields, create metadata) and the removed legacy
 * search answering 410. Bodies and messages follow jsm-rest-api.md §1-2. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "buf.h"
#include "sb_pack.h"
#include "ju.h"
#include "sb.h"
#include "sb_jql.h"
#include "sb_render.h"
#include "tu.h"

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
    s.jql = ju_str(b, "jql") ? ju_str(b, "jql") : "";
    s.token = ju_str(b, "nextPageToken");
    s.max = (long)ju_int(b, "maxResults", 50);
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
    s.start_at = (long)ju_int(b, "startAt", 0);
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
    const char *jql = ju_str(b, "jql") ? ju_str(b, "jql") : "";
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

/* ---- issues ---- */
static void h_issue_get(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    sb_fieldsel_t fs;
    char f[1024], ex[256];
    sb_fieldsel_init(&fs, 1);
    for (int k = 0; k < 16 && httpd_query_param_nth(c->req, "fields", k, f, sizeof f) >= 0; k++)
        sb_fieldsel_add(&fs, f);
    unsigned expand = sb_query(c, "expand", ex, sizeof ex) >= 0 ? sb_expand_parse(ex) : 0;
    sb_json(c, 200, sb_issue_json(c, is, &fs, expand, 0));
}

/* Text of an ADF value (or of a plain string, which v2 accepts). */
static char *adf_or_string(const json_t *v)
{
    if (json_is_string(v))
        return mem_strdup(json_string_value(v));
    return sb_adf_text(v);
}

static const char *ref_str(const json_t *obj, char *buf, size_t bufsz)
{
    /* {"id":"3"} / {"name":"High"} / {"key":"ITSM"} / {"accountId":..} */
    const char *keys[] = {"id", "key", "name", "accountId", "value"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        json_t *v = json_object_get(obj, keys[i]);
        if (json_is_string(v))
            return json_string_value(v);
        if (json_is_integer(v)) {
            snprintf(buf, bufsz, "%lld", (long long)json_integer_value(v));
            return buf;
        }
    }
    return NULL;
}

/* Applies "fields" of create/edit. Returns 0, or -1 with a field error set. */
static int apply_fields(sb_call_t *c, sb_issue_t *is, json_t *fields, json_t *errors, int64_t now)
{
    const char *k;
    json_t *v;
    char buf[32];
    json_object_foreach(fields, k, v) {
        if (!strcmp(k, "project") || !strcmp(k, "issuetype"))
            continue; /* handled by create */
        if (!strcmp(k, "summary")) {
            if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) > 255) {
                json_object_set_new(errors, k, json_string("You must specify a summary of the issue."));
                continue;
            }
            free(is->summary);
            is->summary = mem_strdup(json_string_value(v));
        } else if (!strcmp(k, "description")) {
            char *t = json_is_null(v) ? NULL : adf_or_string(v);
            if (!json_is_null(v) && !t) {
                json_object_set_new(errors, k, json_string("Operation value must be an Atlassian Document (see the Atlassian Document Format)"));
                continue;
            }
            free(is->description);
            is->description = t;
            json_decref(is->description_adf);
            is->description_adf = json_is_object(v) ? json_deep_copy(v) : NULL;
        } else if (!strcmp(k, "priority")) {
            int p = sb_named_find(sb_priorities, sb_npriorities, ref_str(v, buf, sizeof buf));
            if (p < 0) {
                json_object_set_new(errors, k, json_string("Specify a valid priority."));
                continue;
            }
            is->priority = p;
        } else if (!strcmp(k, "labels")) {
            if (!json_is_array(v) || json_array_size(v) > 4) {
                json_object_set_new(errors, k, json_string("Labels must be an array of at most 4 strings."));
                continue;
            }
            size_t i;
            json_t *l;
            is->nlabels = 0;
            json_array_foreach(v, i, l) if (json_is_string(l))
                snprintf(is->labels[is->nlabels++], sizeof is->labels[0], "%s", json_string_value(l));
        } else if (!strcmp(k, "duedate")) {
            int64_t ms;
            char iso[40];
            if (json_is_null(v)) {
                is->due = 0;
                continue;
            }
            snprintf(iso, sizeof iso, "%.10sT00:00:00Z", json_is_string(v) ? json_string_value(v) : "");
            if (!json_is_string(v) || tu_parse_iso(iso, &ms) != 0) {
                json_object_set_new(errors, k, json_string("Error parsing date string: use yyyy-MM-dd."));
                continue;
            }
            is->due = ms;
        } else if (!strcmp(k, "assignee") || !strcmp(k, "reporter")) {
            int u = json_is_null(v) ? -1 : sb_user_find(c->sb->data, ju_str(v, "accountId"));
            if ((u < 0 && !json_is_null(v)) || (u < 0 && !strcmp(k, "reporter"))) {
                json_object_set_new(errors, k, json_string("Specify a valid user."));
                continue;
            }
            if (!strcmp(k, "assignee"))
                is->assignee = u;
            else
                is->reporter = u;
        } else {
            char msg[200];
            snprintf(msg, sizeof msg, "Field '%s' cannot be set. It is not on the appropriate screen, or unknown.", k);
            json_object_set_new(errors, k, json_string(msg));
        }
    }
    is->updated = now;
    return json_object_size(errors) ? -1 : 0;
}

/* Validates "fields" on a scratch issue so that a bad field changes nothing
 * (Jira validates the whole request first). Returns 0 or -1 with errors set. */
static int check_fields(sb_call_t *c, json_t *fields, json_t *errors, int64_t now)
{
    sb_issue_t tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.summary = mem_strdup("");
    int rc = apply_fields(c, &tmp, fields, errors, now);
    free(tmp.summary);
    free(tmp.description);
    json_decref(tmp.description_adf);
    return rc;
}

static void h_issue_create(sb_call_t *c)
{
    json_t *b = sb_body_json(c);
    if (!b)
        return;
    sb_data_t *d = c->sb->data;
    json_t *fields = json_object_get(b, "fields");
    json_t *errors = json_object();
    char buf[32];
    int p = -1, it = -1;
    if (!json_is_object(fields)) {
        json_decref(b);
        json_decref(errors);
        sb_err_platform(c, 400, "Fields are required to create an issue.");
        return;
    }
    p = sb_project_find(d, ref_str(json_object_get(fields, "project"), buf, sizeof buf));
    if (p < 0)
        json_object_set_new(errors, "project", json_string("Specify a valid project ID or key"));
    it = sb_named_find(sb_issuetypes, sb_nissuetypes, ref_str(json_object_get(fields, "issuetype"), buf, sizeof buf));
    if (it < 0)
        json_object_set_new(errors, "issuetype", json_string("Specify an issue type"));
    if (!json_is_string(json_object_get(fields, "summary")))
        json_object_set_new(errors, "summary", json_string("You must specify a summary of the issue."));
    if (!json_object_size(errors))
        check_fields(c, fields, errors, sb_now(c->sb));
    if (json_object_size(errors)) {
        json_decref(b);
        sb_json(c, 400, sb_pack("{s:[], s:o}", "errorMessages", "errors", errors));
        return;
    }
    int64_t now = sb_now(c->sb);
    sb_issue_t *is = sb_issue_create(d, p, it, -1, c->user, "", NULL, now);
    if (!is) {
        json_decref(b);
        json_decref(errors);
        sb_err_platform(c, 413, "The site has reached its issue limit.");
        return;
    }
    apply_fields(c, is, fields, errors, now); /* validated above: cannot fail */
    is->indexed_at = now + c->sb->cfg.search_lag_ms;
    json_decref(b);
    json_decref(errors);
    char self[600], id[16];
    snprintf(self, sizeof self, "%s/rest/api/3/issue/%d", c->base, is->id);
    snprintf(id, sizeof id, "%d", is->id);
    sb_json(c, 201, sb_pack("{s:s, s:s, s:s}", "id", id, "key", is->key, "self", self));
}

static int comment_internal(const json_t *props)
{
    size_t i;
    json_t *p;
    json_array_foreach(props, i, p) {
        const char *k = ju_str(p, "key");
        if (k && !strcmp(k, "sd.public.comment") && json_is_true(json_object_get(json_object_get(p, "value"), "internal")))
            return 1;
    }
    return 0;
}

static void h_issue_edit(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    json_t *b = sb_body_json(c);
    if (!b)
        return;
    json_t *errors = json_object();
    int64_t now = sb_now(c->sb);
    json_t *fields = json_object_get(b, "fields");
    if (json_is_object(fields) && check_fields(c, fields, errors, now) != 0) {
        json_decref(b);
        sb_json(c, 400, sb_pack("{s:[], s:o}", "errorMessages", "errors", errors));
        return;
    }
    if (json_is_object(fields))
        apply_fields(c, is, fields, errors, now);
    json_t *update = json_object_get(b, "update");
    json_t *labels = json_object_get(update, "labels"), *op;
    size_t i;
    json_array_foreach(labels, i, op) {
        const char *add = ju_str(op, "add"), *rm = ju_str(op, "remove");
        if (add && is->nlabels < 4)
            snprintf(is->labels[is->nlabels++], sizeof is->labels[0], "%s", add);
        for (int l = 0; rm && l < is->nlabels; l++)
            if (!strcmp(is->labels[l], rm)) {
                memmove(is->labels[l], is->labels[l + 1], (size_t)(is->nlabels - l - 1) * sizeof is->labels[0]);
                is->nlabels--;
                break;
            }
    }
    json_array_foreach(json_object_get(update, "comment"), i, op) {
        json_t *body = json_object_get(json_object_get(op, "add"), "body");
        char *t = adf_or_string(body);
        if (t)
            sb_comment_add(c->sb->data, is, c->user, t, json_is_object(body) ? body : NULL, 1, now);
        free(t);
    }
    json_decref(b);
    if (json_object_size(errors)) {
        sb_json(c, 400, sb_pack("{s:[], s:o}", "errorMessages", "errors", errors));
        return;
    }
    json_decref(errors);
    sb_no_content(c);
}

/* ---- comments ---- */
static void h_comments_list(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    long start, max;
    char order[32] = "", ex[64] = "";
    sb_platform_paging(c, 100, 5000, &start, &max);
    sb_query(c, "orderBy", order, sizeof order);
    if (order[0] && strcmp(order, "created") && strcmp(order, "-created") && strcmp(order, "+created")) {
        sb_err_platform(c, 400, "Invalid orderBy value. Valid values are: created, -created, +created.");
        return;
    }
    sb_query(c, "expand", ex, sizeof ex);
    int desc = order[0] == '-';
    json_t *arr = json_array();
    for (long i = start; i < is->ncomments && i < start + max; i++) {
        int idx = desc ? is->ncomments - 1 - (int)i : (int)i;
        json_array_append_new(arr, sb_comment_json(c, is, &is->comments[idx], strstr(ex, "renderedBody") != NULL));
    }
    sb_json(c, 200, sb_pack("{s:I, s:I, s:i, s:o}", "startAt", (json_int_t)start, "maxResults", (json_int_t)max,
                              "total", is->ncomments, "comments", arr));
}

static void h_comment_get(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    const char *id = sb_param(c, "id");
    for (int i = 0; i < is->ncomments; i++) {
        char s[16];
        snprintf(s, sizeof s, "%d", is->comments[i].id);
        if (!strcmp(s, id)) {
            sb_json(c, 200, sb_comment_json(c, is, &is->comments[i], 0));
            return;
        }
    }
    char msg[120];
    snprintf(msg, sizeof msg, "Can not find a comment for the id: %.40s.", id);
    sb_err_platform(c, 404, msg);
}

static void h_comment_add(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    json_t *b = sb_body_json(c);
    if (!b)
        return;
    json_t *body = json_object_get(b, "body");
    char *text = json_is_object(body) ? sb_adf_text(body) : NULL;
    if (!text || !*text) {
        const char *msg = body && !json_is_object(body)
                              ? "Operation value must be an Atlassian Document (see the Atlassian Document Format)"
                              : "Comment body can not be empty!";
        free(text);
        json_decref(b);
        sb_err_platform_field(c, 400, "comment", msg);
        return;
    }
    if (strlen(text) >= SB_MAX_TEXT) {
        free(text);
        json_decref(b);
        sb_err_platform_field(c, 400, "comment", "The entered text is too long. It exceeds the allowed limit of 32,767 characters.");
        return;
    }
    int internal = comment_internal(json_object_get(b, "properties"));
    sb_comment_t *cm = sb_comment_add(c->sb->data, is, c->user, text, body, !internal, sb_now(c->sb));
    free(text);
    json_decref(b);
    if (!cm) {
        sb_err_platform(c, 413, "The issue has reached the maximum number of comments.");
        return;
    }
    sb_json(c, 201, sb_comment_json(c, is, cm, 0));
}

/* ---- transitions, assignee ---- */
static void h_transitions_get(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    int t[16], n = sb_transitions_for(is, t, 16);
    char only[16] = "";
    sb_query(c, "transitionId", only, sizeof only);
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        if (!only[0] || !strcmp(only, sb_transitions[t[i]].id))
            json_array_append_new(a, sb_transition_json(c, t[i]));
    sb_json(c, 200, sb_pack("{s:s, s:o}", "expand", "transitions", "transitions", a));
}

static void h_transitions_do(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    json_t *b = sb_body_json(c);
    if (!b)
        return;
    char buf[32];
    const char *id = ref_str(json_object_get(b, "transition"), buf, sizeof buf);
    if (!id) {
        json_decref(b);
        sb_err_platform(c, 400, "Missing 'transition' identifier");
        return;
    }
    int t[16], n = sb_transitions_for(is, t, 16), found = -1;
    for (int i = 0; i < n; i++)
        if (!strcmp(sb_transitions[t[i]].id, id))
            found = t[i];
    if (found < 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "Transition id '%s' is not valid for this issue.", id);
        json_decref(b);
        sb_err_platform(c, 400, msg);
        return;
    }
    int64_t now = sb_now(c->sb);
    sb_issue_set_status(is, sb_transitions[found].to, now);
    json_t *res = json_object_get(json_object_get(b, "fields"), "resolution");
    if (res && is->resolution >= 0) {
        int r = sb_named_find(sb_resolutions, sb_nresolutions, ref_str(res, buf, sizeof buf));
        if (r >= 0)
            is->resolution = r;
    }
    size_t i;
    json_t *op;
    json_array_foreach(json_object_get(json_object_get(b, "update"), "comment"), i, op) {
        json_t *body = json_object_get(json_object_get(op, "add"), "body");
        char *txt = adf_or_string(body);
        if (txt)
            sb_comment_add(c->sb->data, is, c->user, txt, json_is_object(body) ? body : NULL, 1, now);
        free(txt);
    }
    json_decref(b);
    sb_no_content(c);
}

static void h_assignee(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    json_t *b = sb_body_json(c);
    if (!b)
        return;
    json_t *acc = json_object_get(b, "accountId");
    if (!json_is_object(b) || (!json_is_null(acc) && !json_is_string(acc))) {
        json_decref(b);
        sb_err_platform(c, 400, "accountId must be a string or null.");
        return;
    }
    if (json_is_null(acc) || !acc) {
        is->assignee = -1;
    } else if (!strcmp(json_string_value(acc), "-1")) {
        is->assignee = c->sb->data->projects[is->project].lead; /* project default */
    } else {
        int u = sb_user_find(c->sb->data, json_string_value(acc));
        if (u < 0 || c->sb->data->users[u].customer || !c->sb->data->users[u].active) {
            char msg[200];
            snprintf(msg, sizeof msg, "User '%s' cannot be assigned issues.", json_string_value(acc));
            json_decref(b);
            sb_err_platform_field(c, 400, "assignee", msg);
            return;
        }
        is->assignee = u;
    }
    is->updated = sb_now(c->sb);
    json_decref(b);
    sb_no_content(c);
}

/* ---- worklogs, attachments ---- */
static json_t *worklog_item(const sb_call_t *c, const void *ud, long i)
{
    const sb_issue_t *is = ud;
    return sb_worklog_json(c, is, &is->worklogs[i]);
}

static void h_worklogs_list(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    sb_platform_list(c, 5000, 5000, "worklogs", is->nworklogs, worklog_item, is);
}

static int parse_spent(const char *s)
{
    int total = 0;
    while (s && *s) {
        while (*s == ' ')
            s++;
        char *end;
        long n = strtol(s, &end, 10);
        if (end == s || n < 0 || n > 100000)
            return -1;
        switch (*end) {
        case 'w': total += (int)n * 5 * 8 * 3600; break;
        case 'd': total += (int)n * 8 * 3600; break;
        case 'h': total += (int)n * 3600; break;
        case 'm': total += (int)n * 60; break;
        default: return -1;
        }
        s = end + 1;
    }
    return total;
}

static void h_worklog_add(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    json_t *b = sb_body_json(c);
    if (!b)
        return;
    long long asked = ju_int(b, "timeSpentSeconds", -1);
    int secs = asked > 0 && asked <= 10LL * 365 * 86400 ? (int)asked : -1;
    if (asked < 0 && ju_str(b, "timeSpent"))
        secs = parse_spent(ju_str(b, "timeSpent"));
    if (secs <= 0) {
        json_decref(b);
        sb_err_platform_field(c, 400, "timeLogged", "You must indicate the time spent working.");
        return;
    }
    int64_t now = sb_now(c->sb), started = now;
    if (ju_str(b, "started") && tu_parse_iso(ju_str(b, "started"), &started) != 0) {
        json_decref(b);
        sb_err_platform_field(c, 400, "started", "The started date is invalid.");
        return;
    }
    char *text = json_object_get(b, "comment") ? adf_or_string(json_object_get(b, "comment")) : NULL;
    sb_worklog_t *w = sb_worklog_add(c->sb->data, is, c->user, secs, text, started, now);
    free(text);
    json_decref(b);
    if (!w) {
        sb_err_platform(c, 413, "The issue has reached the maximum number of worklogs.");
        return;
    }
    sb_json(c, 201, sb_worklog_json(c, is, w));
}

static void h_attachment(sb_call_t *c)
{
    const char *id = sb_param(c, "id");
    const sb_data_t *d = c->sb->data;
    long want = strtol(id, NULL, 10);
    for (int i = 0; i < d->nissues; i++)
        for (int a = 0; a < d->issues[i]->nattachments; a++)
            if (d->issues[i]->attachments[a].id == want) {
                sb_json(c, 200, sb_attachment_json(c, &d->issues[i]->attachments[a]));
                return;
            }
    char msg[160];
    snprintf(msg, sizeof msg, "The attachment with id '%s' does not exist", id);
    sb_err_platform(c, 404, msg);
}

/* ---- users, fields, create metadata ---- */
static void h_user(sb_call_t *c)
{
    char acc[100];
    if (sb_query(c, "accountId", acc, sizeof acc) < 0 || !acc[0]) {
        sb_err_platform_field(c, 400, "accountId", "The query parameter 'accountId' is required.");
        return;
    }
    int u = sb_user_find(c->sb->data, acc);
    if (u < 0) {
        sb_err_platform(c, 404, "Specified user does not exist or you do not have required permissions");
        return;
    }
    sb_json(c, 200, sb_user_json(c, u));
}

static void h_myself(sb_call_t *c)
{
    json_t *u = sb_user_json(c, c->user);
    json_object_set_new(u, "locale", json_string("en_US"));
    sb_json(c, 200, u);
}

static void h_user_search(sb_call_t *c)
{
    char q[200] = "", acc[100] = "", prop[100] = "";
    int hq = sb_query(c, "query", q, sizeof q) >= 0, ha = sb_query(c, "accountId", acc, sizeof acc) >= 0,
        hp = sb_query(c, "property", prop, sizeof prop) >= 0;
    if (!hq && !ha && !hp) {
        sb_err_platform(c, 400, "One of 'query' or 'accountId' or 'property' query parameters must be provided.");
        return;
    }
    if (hq && ha) {
        sb_err_platform(c, 400, "The 'query' and 'accountId' query parameters cannot be used together.");
        return;
    }
    long start, max;
    sb_platform_paging(c, 50, 1000, &start, &max);
    json_t *a = json_array();
    long seen = 0;
    const sb_data_t *d = c->sb->data;
    for (int i = 0; i < d->nusers && seen < 1000 && (long)json_array_size(a) < max; i++) {
        const sb_user_t *u = &d->users[i];
        if (!u->active)
            continue;
        if (ha && strcmp(u->account_id, acc))
            continue;
        if (hq && !sb_icontains(u->display_name, q) && !sb_icontains(u->email, q))
            continue;
        if (seen++ >= start)
            json_array_append_new(a, sb_user_json(c, i));
    }
    sb_json(c, 200, a);
}

static void h_fields(sb_call_t *c)
{
    sb_json(c, 200, sb_fields_json(c));
}

static json_t *issuetype_item(const sb_call_t *c, const void *ud, long i)
{
    (void)ud;
    return sb_issuetype_json(c, (int)i);
}

static void h_createmeta_types(sb_call_t *c)
{
    int p = sb_project_find(c->sb->data, sb_param(c, "project"));
    if (p < 0) {
        sb_err_platform(c, 404, "No project could be found with key or id.");
        return;
    }
    sb_platform_list(c, 50, 200, "issueTypes", sb_nissuetypes, issuetype_item, NULL);
}

/* The fields createmeta describes, in Jira's order. */
static const struct {
    const char *id, *name;
    int required;
} CREATEMETA_FIELDS[] = {{"summary", "Summary", 1}, {"issuetype", "Issue Type", 1}, {"project", "Project", 1},
                         {"description", "Description", 0}, {"priority", "Priority", 0}, {"labels", "Labels", 0},
                         {"duedate", "Due date", 0}, {"assignee", "Assignee", 0}, {"reporter", "Reporter", 1}};

static json_t *createmeta_field_item(const sb_call_t *c, const void *ud, long i)
{
    const char *id = CREATEMETA_FIELDS[i].id;
    (void)ud;
    json_t *ops = !strcmp(id, "labels") ? sb_pack("[s,s,s]", "add", "set", "remove") : sb_pack("[s]", "set");
    json_t *schema = sb_field_schema(c, id);
    json_t *m = sb_pack("{s:s, s:s, s:s, s:b, s:b, s:o, s:o}", "fieldId", id, "key", id, "name",
                        CREATEMETA_FIELDS[i].name, "required", CREATEMETA_FIELDS[i].required, "hasDefaultValue",
                        !strcmp(id, "priority"), "operations", ops, "schema",
                        schema ? schema : sb_pack("{s:s}", "type", "string"));
    if (!strcmp(id, "priority")) {
        json_t *av = json_array();
        for (int k = 0; k < sb_npriorities; k++)
            json_array_append_new(av, sb_pack("{s:s, s:s}", "id", sb_priorities[k].id, "name", sb_priorities[k].name));
        json_object_set_new(m, "allowedValues", av);
    }
    return m;
}

static void h_createmeta_fields(sb_call_t *c)
{
    int p = sb_project_find(c->sb->data, sb_param(c, "project"));
    int it = sb_named_find(sb_issuetypes, sb_nissuetypes, sb_param(c, "type"));
    if (p < 0 || it < 0) {
        sb_err_platform(c, 404, "Issue type with id does not exist or you do not have permission to see it.");
        return;
    }
    sb_platform_list(c, 50, 200, "fields", (long)(sizeof CREATEMETA_FIELDS / sizeof CREATEMETA_FIELDS[0]),
                     createmeta_field_item, NULL);
}

static void h_tenant_info(sb_call_t *c)
{
    sb_json(c, 200, sb_pack("{s:s}", "cloudId", c->sb->cfg.cloud_id));
}

static const sb_route_t ROUTES[] = {
    {"GET", "/rest/api/3/search/jql", h_search_get, SB_FAM_PLATFORM, 0, 0, 0},
    {"POST", "/rest/api/3/search/jql", h_search_post, SB_FAM_PLATFORM, 0, 0, 0},
    {"POST", "/rest/api/3/search/approximate-count", h_approx_count, SB_FAM_PLATFORM, 0, 150, 0},
    {"GET", "/rest/api/3/search", h_legacy_get, SB_FAM_PLATFORM, 0, 0, 0},
    {"POST", "/rest/api/3/search", h_legacy_post, SB_FAM_PLATFORM, 0, 0, 0},
    {"GET", "/rest/api/2/search", h_legacy_get, SB_FAM_PLATFORM, 0, 0, 0},
    {"POST", "/rest/api/2/search", h_legacy_post, SB_FAM_PLATFORM, 0, 0, 0},
    {"POST", "/rest/api/3/issue", h_issue_create, SB_FAM_PLATFORM, 0, 0, 0},
    {"GET", "/rest/api/3/issue/createmeta/:project/issuetypes", h_createmeta_types, SB_FAM_PLATFORM, 0, 0, 0},
    {"GET", "/rest/api/3/issue/createmeta/:project/issuetypes/:type", h_createmeta_fields, SB_FAM_PLATFORM, 0, 0, 0},
    {"GET", "/rest/api/3/issue/:key", h_issue_get, SB_FAM_PLATFORM, 0, 150, 2},
    {"PUT", "/rest/api/3/issue/:key", h_issue_edit, SB_FAM_PLATFORM, SB_R_ISSUE_WRITE, 0, 0},
    {"GET", "/rest/api/3/issue/:key/comment", h_comments_list, SB_FAM_PLATFORM, 0, 0, 0},
    {"POST", "/rest/api/3/issue/:key/comment", h_comment_add, SB_FAM_PLATFORM, SB_R_ISSUE_WRITE, 0, 0},
    {"GET", "/rest/api/3/issue/:key/comment/:id", h_comment_get, SB_FAM_PLATFORM, 0, 0, 0},
    {"GET", "/rest/api/3/issue/:key/transitions", h_transitions_get, SB_FAM_PLATFORM, 0, 0, 0},
    {"POST", "/rest/api/3/issue/:key/transitions", h_transitions_do, SB_FAM_PLATFORM, SB_R_ISSUE_WRITE, 0, 0},
    {"PUT", "/rest/api/3/issue/:key/assignee", h_assignee, SB_FAM_PLATFORM, SB_R_ISSUE_WRITE, 0, 0},
    {"GET", "/rest/api/3/issue/:key/worklog", h_worklogs_list, SB_FAM_PLATFORM, 0, 0, 0},
    {"POST", "/rest/api/3/issue/:key/worklog", h_worklog_add, SB_FAM_PLATFORM, SB_R_ISSUE_WRITE, 0, 0},
    {"GET", "/rest/api/3/attachment/:id", h_attachment, SB_FAM_PLATFORM, 0, 0, 0},
    {"GET", "/rest/api/3/user", h_user, SB_FAM_PLATFORM, 0, 150, 3},
    {"GET", "/rest/api/3/user/search", h_user_search, SB_FAM_PLATFORM, 0, 0, 3},
    {"GET", "/rest/api/3/myself", h_myself, SB_FAM_PLATFORM, 0, 0, 3},
    {"GET", "/rest/api/3/field", h_fields, SB_FAM_PLATFORM, 0, 0, 0},
    {"GET", "/_edge/tenant_info", h_tenant_info, SB_FAM_PLATFORM, SB_R_NOAUTH | SB_R_SITE_ONLY, 0, 0},
};

void sb_routes_platform(sb_t *sb)
{
    sb_routes_register(sb, ROUTES, (int)(sizeof ROUTES / sizeof ROUTES[0]));
}
