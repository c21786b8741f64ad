/* sb_routes_platform: Jira platform REST v3 endpoints the tool catalog
 * calls (issue search, issues, comments, transitions, assignee, worklogs,
 * attachments, users, fields, create metadata) and the removed legacy
 * search answering 410. Bodies and messages follow jsm-rest-api.md §1-2. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "sb_adf.h"
#include "buf.h"
#include "sb_pack.h"
#include "jsontext.h"
#include "sb.h"
#include "sb_jql.h"
#include "sb_render.h"
#include "clock.h"

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

/* Cloud's label rules for a "labels" array: strings without spaces, at most
 * 255 characters each; no small count cap (SB_MAX_LABELS bounds memory). */
static int labels_check(const json_t *v, char *msg, size_t msgsz)
{
    size_t i;
    json_t *l;
    if (!json_is_array(v)) {
        snprintf(msg, msgsz, "Labels must be an array of strings.");
        return -1;
    }
    if (json_array_size(v) > SB_MAX_LABELS) {
        snprintf(msg, msgsz, "An issue can have at most %d labels here.", SB_MAX_LABELS);
        return -1;
    }
    json_array_foreach(v, i, l) {
        if (!json_is_string(l)) {
            snprintf(msg, msgsz, "Labels must be an array of strings.");
            return -1;
        }
        if (sb_label_check(json_string_value(l), msg, msgsz) != 0)
            return -1;
    }
    return 0;
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
            int p = sb_named_find(sb_priorities, sb_npriorities, sb_ref_str(v, buf, sizeof buf));
            if (p < 0) {
                json_object_set_new(errors, k, json_string("Specify a valid priority."));
                continue;
            }
            is->priority = p;
        } else if (!strcmp(k, "labels")) {
            char msg[400];
            if (labels_check(v, msg, sizeof msg) != 0) {
                json_object_set_new(errors, k, json_string(msg));
                continue;
            }
            size_t i;
            json_t *l;
            sb_labels_clear(is);
            json_array_foreach(v, i, l) sb_label_add(is, json_string_value(l));
        } else if (!strcmp(k, "duedate")) {
            int64_t ms;
            char iso[40];
            if (json_is_null(v)) {
                is->due = 0;
                continue;
            }
            snprintf(iso, sizeof iso, "%.10sT00:00:00Z", json_is_string(v) ? json_string_value(v) : "");
            if (!json_is_string(v) || clock_parse_iso(iso, &ms) != 0) {
                json_object_set_new(errors, k, json_string("Error parsing date string: use yyyy-MM-dd."));
                continue;
            }
            is->due = ms;
        } else if (!strcmp(k, "assignee") || !strcmp(k, "reporter")) {
            int u = json_is_null(v) ? -1 : sb_user_find(c->sb->data, jsontext_str(v, "accountId"));
            if ((u < 0 && !json_is_null(v)) || (u < 0 && !strcmp(k, "reporter"))) {
                json_object_set_new(errors, k, json_string("Specify a valid user."));
                continue;
            }
            if (!strcmp(k, "assignee"))
                is->assignee = u;
            else
                is->reporter = u;
        } else if (sb_xfield_find(c->sb->data, k) >= 0 &&
                   sb_xfield_in_project(&c->sb->data->xfields[sb_xfield_find(c->sb->data, k)], is->project)) {
            int xf = sb_xfield_find(c->sb->data, k);
            char msg[300];
            sb_xval_t nv;
            if (sb_xvalue_parse(c, xf, v, &nv, msg, sizeof msg) != 0) {
                json_object_set_new(errors, k, json_string(msg));
                continue;
            }
            free(is->xv[xf].s);
            is->xv[xf] = nv;
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
static int check_fields(sb_call_t *c, int project, json_t *fields, json_t *errors, int64_t now)
{
    sb_issue_t tmp;
    memset(&tmp, 0, sizeof tmp);
    tmp.summary = mem_strdup("");
    tmp.project = project;
    int rc = apply_fields(c, &tmp, fields, errors, now);
    free(tmp.summary);
    free(tmp.description);
    json_decref(tmp.description_adf);
    sb_labels_clear(&tmp);
    free(tmp.labels);
    for (int i = 0; i < SB_MAX_XFIELDS; i++)
        free(tmp.xv[i].s);
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
    p = sb_project_find(d, sb_ref_str(json_object_get(fields, "project"), buf, sizeof buf));
    if (p < 0)
        json_object_set_new(errors, "project", json_string("Specify a valid project ID or key"));
    it = sb_named_find(sb_issuetypes, sb_nissuetypes, sb_ref_str(json_object_get(fields, "issuetype"), buf, sizeof buf));
    if (it < 0)
        json_object_set_new(errors, "issuetype", json_string("Specify an issue type"));
    if (!json_is_string(json_object_get(fields, "summary")))
        json_object_set_new(errors, "summary", json_string("You must specify a summary of the issue."));
    if (!json_object_size(errors))
        check_fields(c, p, fields, errors, sb_now(c->sb));
    for (int x = 0; !json_object_size(errors) && x < d->nxfields; x++) { /* required on this create screen */
        const sb_xfield_t *f = &d->xfields[x];
        json_t *given = json_object_get(fields, f->id);
        if (f->required_for == it && f->project == p && (!given || json_is_null(given))) {
            char msg[120];
            snprintf(msg, sizeof msg, "%s is required.", f->name);
            json_object_set_new(errors, f->id, json_string(msg));
        }
    }
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
        const char *k = jsontext_str(p, "key");
        if (k && !strcmp(k, "sd.public.comment") && json_is_true(json_object_get(json_object_get(p, "value"), "internal")))
            return 1;
    }
    return 0;
}

/* Validates the "update" operations Jira takes on edit: labels
 * add/remove/set (Cloud's label rules) and comment add (an ADF body). */
static int check_update(const json_t *update, json_t *errors)
{
    size_t i;
    json_t *op;
    char msg[400];
    json_array_foreach(json_object_get(update, "labels"), i, op) {
        json_t *add = json_object_get(op, "add"), *set = json_object_get(op, "set");
        if ((add && (!json_is_string(add) || sb_label_check(json_string_value(add), msg, sizeof msg) != 0)) ||
            (set && labels_check(set, msg, sizeof msg) != 0)) {
            if (add && !json_is_string(add))
                snprintf(msg, sizeof msg, "Labels must be strings.");
            json_object_set_new(errors, "labels", json_string(msg));
            return -1;
        }
    }
    json_array_foreach(json_object_get(update, "comment"), i, op) {
        json_t *body = json_object_get(json_object_get(op, "add"), "body");
        char *t = json_is_object(body) ? sb_adf_text(body) : NULL;
        int ok = t && *t && strlen(t) < SB_MAX_TEXT;
        free(t);
        if (!ok) {
            json_object_set_new(errors, "comment",
                                json_string(json_is_object(body) ? "Comment body can not be empty!"
                                                                 : "Operation value must be an Atlassian Document (see the Atlassian Document Format)"));
            return -1;
        }
    }
    return 0;
}

/* Applies checked "update" operations. */
static void apply_update(sb_call_t *c, sb_issue_t *is, const json_t *update, int64_t now)
{
    size_t i, k;
    json_t *op, *l;
    json_array_foreach(json_object_get(update, "labels"), i, op) {
        const char *add = jsontext_str(op, "add"), *rm = jsontext_str(op, "remove");
        json_t *set = json_object_get(op, "set");
        if (set) {
            sb_labels_clear(is);
            json_array_foreach(set, k, l) sb_label_add(is, json_string_value(l));
        }
        if (add)
            sb_label_add(is, add);
        if (rm)
            sb_label_remove(is, rm);
    }
    json_array_foreach(json_object_get(update, "comment"), i, op) {
        json_t *body = json_object_get(json_object_get(op, "add"), "body");
        char *t = sb_adf_text(body);
        if (t)
            sb_comment_add(c->sb->data, is, c->user, t, body, 1, now);
        free(t);
    }
}

/* Labels as one space-separated string, for history items. */
static char *labels_string(const sb_issue_t *is)
{
    buf_t b;
    buf_init(&b, SB_MAX_LABELS * (SB_LABEL_MAX * 4 + 1));
    buf_append_str(&b, "");
    for (int i = 0; i < is->nlabels; i++)
        buf_printf(&b, "%s%s", i ? " " : "", is->labels[i]);
    return buf_steal(&b, NULL);
}

/* History of an edit: what changed between before and is. */
static void record_edit(sb_call_t *c, sb_issue_t *is, const char *summary0, int priority0, const char *labels0,
                        int64_t now)
{
    char *labels1 = labels_string(is);
    int sum = strcmp(summary0, is->summary) != 0, pri = priority0 != is->priority, lab = strcmp(labels0, labels1) != 0;
    sb_change_t *ch = sum || pri || lab ? sb_history_begin(c->sb->data, is, c->user, now) : NULL;
    if (ch && sum)
        sb_history_item(ch, "summary", "summary", 0, NULL, summary0, NULL, is->summary);
    if (ch && pri)
        sb_history_item(ch, "priority", "priority", 0, sb_priorities[priority0].id, sb_priorities[priority0].name,
                        sb_priorities[is->priority].id, sb_priorities[is->priority].name);
    if (ch && lab)
        sb_history_item(ch, "labels", "labels", 0, NULL, labels0, NULL, labels1);
    free(labels1);
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
    json_t *fields = json_object_get(b, "fields"), *update = json_object_get(b, "update");
    if ((json_is_object(fields) && check_fields(c, is->project, fields, errors, now) != 0) ||
        check_update(update, errors) != 0) {
        json_decref(b);
        sb_json(c, 400, sb_pack("{s:[], s:o}", "errorMessages", "errors", errors));
        return;
    }
    char *summary0 = mem_strdup(is->summary), *labels0 = labels_string(is);
    int priority0 = is->priority;
    if (json_is_object(fields))
        apply_fields(c, is, fields, errors, now); /* checked above: cannot fail */
    apply_update(c, is, update, now);
    record_edit(c, is, summary0, priority0, labels0, now);
    free(summary0);
    free(labels0);
    is->updated = now;
    json_decref(b);
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
    char only[16] = "", ex[128] = "";
    sb_query(c, "transitionId", only, sizeof only);
    sb_query(c, "expand", ex, sizeof ex);
    int with_fields = strstr(ex, "transitions.fields") != NULL;
    json_t *a = json_array();
    for (int i = 0; i < n; i++)
        if (!only[0] || !strcmp(only, sb_transitions[t[i]].id))
            json_array_append_new(a, sb_transition_json(c, t[i], with_fields));
    sb_json(c, 200, sb_pack("{s:s, s:o}", "expand", "transitions", "transitions", a));
}

/* Cloud's checks before a transition runs, all before anything changes:
 * the id must be available; "fields" may only name fields on the
 * transition's screen (Resolution on the resolve screen; none elsewhere);
 * a required Resolution must be given; update.comment bodies are ADF. */
static int check_transition(sb_call_t *c, const sb_transition_t *tr, json_t *b, int *resolution, json_t *errors,
                            json_t *messages)
{
    char buf[32];
    const char *k;
    json_t *v;
    *resolution = SB_RES_AUTO;
    json_object_foreach(json_object_get(b, "fields"), k, v) {
        if (!tr->screen || strcmp(k, "resolution") != 0) {
            char msg[200];
            snprintf(msg, sizeof msg, "Field '%.60s' cannot be set. It is not on the appropriate screen, or unknown.", k);
            json_object_set_new(errors, k, json_string(msg));
            continue;
        }
        int r = sb_named_find(sb_resolutions, sb_nresolutions, sb_ref_str(v, buf, sizeof buf));
        if (r < 0)
            json_object_set_new(errors, k, json_string("Could not find valid 'id' or 'name' in resolution object."));
        *resolution = r;
    }
    if (tr->screen && *resolution == SB_RES_AUTO && !json_object_size(errors))
        json_array_append_new(messages, json_string("Field Resolution is required."));
    if (!tr->screen && tr->post_resolution >= 0)
        *resolution = tr->post_resolution;
    (void)c;
    return json_object_size(errors) || json_array_size(messages) ? -1 : 0;
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
    json_t *tv = json_object_get(b, "transition");
    const char *id = json_is_string(json_object_get(tv, "id")) || json_is_integer(json_object_get(tv, "id"))
                         ? sb_ref_str(tv, buf, sizeof buf)
                         : NULL;
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
        snprintf(msg, sizeof msg, "Transition id '%.40s' is not valid for this issue.", id);
        json_decref(b);
        sb_err_platform(c, 400, msg);
        return;
    }
    json_t *errors = json_object(), *messages = json_array();
    int resolution;
    if (check_transition(c, &sb_transitions[found], b, &resolution, errors, messages) != 0 ||
        check_update(json_object_get(b, "update"), errors) != 0) {
        json_decref(b);
        sb_json(c, 400, sb_pack("{s:o, s:o}", "errorMessages", messages, "errors", errors));
        return;
    }
    json_decref(errors);
    json_decref(messages);
    int64_t now = sb_now(c->sb);
    sb_issue_set_status(c->sb->data, is, sb_transitions[found].to, resolution, c->user, now);
    apply_update(c, is, json_object_get(b, "update"), now);
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
    int was = is->assignee;
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
    int64_t now = sb_now(c->sb);
    if (was != is->assignee) {
        const sb_data_t *d = c->sb->data;
        sb_change_t *ch = sb_history_begin(c->sb->data, is, c->user, now);
        if (ch)
            sb_history_item(ch, "assignee", "assignee", 0, was >= 0 ? d->users[was].account_id : NULL,
                            was >= 0 ? d->users[was].display_name : NULL,
                            is->assignee >= 0 ? d->users[is->assignee].account_id : NULL,
                            is->assignee >= 0 ? d->users[is->assignee].display_name : NULL);
    }
    is->updated = now;
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
    int bad = 0;
    long after = sb_query_long(c, "startedAfter", -1, &bad), before = sb_query_long(c, "startedBefore", -1, &bad);
    if (bad) {
        sb_err_platform(c, 400, "startedAfter and startedBefore are times in UNIX milliseconds.");
        return;
    }
    if (after < 0 && before < 0) {
        sb_platform_list(c, 5000, 5000, "worklogs", is->nworklogs, worklog_item, is);
        return;
    }
    long start, max;
    sb_platform_paging(c, 5000, 5000, &start, &max);
    json_t *arr = json_array();
    long total = 0;
    for (int i = 0; i < is->nworklogs; i++) { /* startedAfter inclusive, startedBefore exclusive */
        const sb_worklog_t *w = &is->worklogs[i];
        if ((after >= 0 && w->started < after) || (before >= 0 && w->started >= before))
            continue;
        if (total++ >= start && (long)json_array_size(arr) < max)
            json_array_append_new(arr, sb_worklog_json(c, is, w));
    }
    sb_json(c, 200, sb_pack("{s:I, s:I, s:I, s:o}", "startAt", (json_int_t)start, "maxResults", (json_int_t)max,
                            "total", (json_int_t)total, "worklogs", arr));
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

/* yyyy-MM-dd'T'HH:mm:ss.SSS+hhmm (or -hhmm), as Jira writes and reads it. */
static int jira_time_ok(const char *s)
{
    static const char pat[] = "dddd-dd-ddTdd:dd:dd.ddd+dddd";
    if (strlen(s) != sizeof pat - 1)
        return 0;
    for (size_t i = 0; i < sizeof pat - 1; i++) {
        char p = pat[i], x = s[i];
        if (p == 'd' ? !isdigit((unsigned char)x) : p == '+' ? (x != '+' && x != '-') : x != p)
            return 0;
    }
    return 1;
}

static void h_worklog_add(sb_call_t *c)
{
    sb_issue_t *is = sb_issue_or_404(c);
    if (!is)
        return;
    json_t *b = sb_body_json(c);
    if (!b)
        return;
    long long asked = jsontext_int(b, "timeSpentSeconds", -1);
    int secs = asked > 0 && asked <= 10LL * 365 * 86400 ? (int)asked : -1;
    if (asked < 0 && jsontext_str(b, "timeSpent"))
        secs = parse_spent(jsontext_str(b, "timeSpent"));
    if (secs <= 0) {
        json_decref(b);
        sb_err_platform_field(c, 400, "timeLogged", "You must indicate the time spent working.");
        return;
    }
    /* started: Jira's own format (2021-01-17T12:34:00.000+0000); absent = now. */
    int64_t now = sb_now(c->sb), started = now;
    json_t *st = json_object_get(b, "started");
    if (st && (!json_is_string(st) || !jira_time_ok(json_string_value(st)) ||
               clock_parse_iso(json_string_value(st), &started) != 0)) {
        json_decref(b);
        sb_err_platform_field(c, 400, "started",
                              "Started must be a date and time in Jira's format yyyy-MM-dd'T'HH:mm:ss.SSSZ, e.g. "
                              "2021-01-17T12:34:00.000+0000.");
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

/* ---- users, fields, create metadata ---- */
static void h_user(sb_call_t *c)
{
    int u = sb_user_param_or_error(c);
    if (u < 0)
        return;
    json_t *o = sb_user_json(c, u);
    char ex[64] = "";
    sb_query(c, "expand", ex, sizeof ex);
    if (strstr(ex, "groups")) /* {"size", "items": [GroupName]} */
        json_object_set_new(o, "groups", sb_user_groups_page(c, u));
    sb_json(c, 200, o);
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
        /* Cloud matches prefixes of the display name's words and of the
         * email, and never a hidden email (privacy). */
        const char *email = sb_user_email(d, i, c->user);
        if (hq && !sb_prefix_match(u->display_name, q) && !(email && sb_prefix_match(email, q)))
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
    const int *ctx = ud; /* {project, issue type} */
    long nsys = (long)(sizeof CREATEMETA_FIELDS / sizeof CREATEMETA_FIELDS[0]);
    if (i >= nsys) { /* the site custom fields whose context covers the project */
        const sb_data_t *d = c->sb->data;
        long want = i - nsys;
        int k = 0;
        for (int x = 0; x < d->nxfields; x++)
            if (sb_xfield_in_project(&d->xfields[x], ctx[0]) && want-- == 0) {
                k = x;
                break;
            }
        const sb_xfield_t *f = &d->xfields[k];
        json_t *m = sb_pack("{s:s, s:s, s:s, s:b, s:b, s:[s], s:o}", "fieldId", f->id, "key", f->id, "name", f->name,
                            "required", f->required_for == ctx[1] && f->project == ctx[0], "hasDefaultValue", 0,
                            "operations", "set", "schema", sb_field_schema(c, f->id));
        if (f->type == SB_XT_SELECT) {
            json_t *av = json_array();
            for (int o = 0; o < f->noptions; o++)
                json_array_append_new(av, sb_xoption_json(c, f, o));
            json_object_set_new(m, "allowedValues", av);
        } else if (f->type == SB_XT_USER) {
            char url[600];
            snprintf(url, sizeof url, "%s/rest/api/3/user/search?query=", c->base);
            json_object_set_new(m, "autoCompleteUrl", json_string(url));
        }
        return m;
    }
    const char *id = CREATEMETA_FIELDS[i].id;
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

/* The create screen of an issue type in a project: the system fields, then
 * the site's custom fields in the project's context, some required there
 * ("Change risk" for a Change in ITSM). */
static void h_createmeta_fields(sb_call_t *c)
{
    int p = sb_project_find(c->sb->data, sb_param(c, "project"));
    int it = sb_named_find(sb_issuetypes, sb_nissuetypes, sb_param(c, "type"));
    if (p < 0 || it < 0) {
        sb_err_platform(c, 404, "Issue type with id does not exist or you do not have permission to see it.");
        return;
    }
    long n = (long)(sizeof CREATEMETA_FIELDS / sizeof CREATEMETA_FIELDS[0]);
    for (int x = 0; x < c->sb->data->nxfields; x++)
        n += sb_xfield_in_project(&c->sb->data->xfields[x], p);
    int ctx[2] = {p, it};
    sb_platform_list(c, 50, 200, "fields", n, createmeta_field_item, ctx);
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
