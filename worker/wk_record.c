/* wk_record: see wk_record.h. */
#include "wk_record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "buf.h"
#include "jsontext.h"
#include "pacerule.h"
#include "url.h"


/* ---- server records ---- */

void wk_server_clear(wk_server_t *s)
{
    json_decref(s->rec);
    memset(s, 0, sizeof *s);
}

int wk_server_parse(wk_server_t *s, json_t *rec, const char *token_hash)
{
    memset(s, 0, sizeof *s);
    s->rec = rec;
    s->id = jsontext_str(rec, "id");
    s->workspace_id = jsontext_str(rec, "workspace_id");
    s->account_id = jsontext_str(rec, "account_id");
    s->name = jsontext_str(rec, "name");
    s->config = json_object_get(rec, "config");
    s->require_api_token_auth = jsontext_bool(rec, "require_api_token_auth", 0);
    s->expires_at_ms = jsontext_int(rec, "expires_at_ms", 0);
    s->not_after_ms = jsontext_int(rec, "not_after_ms", 0);
    snprintf(s->token_hash, sizeof s->token_hash, "%s", token_hash);
    if (!json_is_object(rec) || !s->id || !s->workspace_id || !s->account_id ||
        (s->config && !json_is_object(s->config))) {
        wk_server_clear(s);
        return -1;
    }
    return 0;
}

int wk_server_expired(const wk_server_t *s, int64_t now_ms)
{
    return (s->expires_at_ms > 0 && now_ms >= s->expires_at_ms) ||
           (s->not_after_ms > 0 && now_ms >= s->not_after_ms);
}

/* ---- account records ---- */

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