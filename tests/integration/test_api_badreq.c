/* A table of bad requests to the admin API: each must be answered with the
 * expected 4xx as application/problem+json naming the field at fault, and
 * leave no new row in any table and no new Redis key under the prefix. */
#include "test_api_common.h"

/* Request bodies and paths may hold placeholders, expanded per case:
 * {ws} {acct} {srv} {missing}: ids; {LONG}: 201 chars; {PAST}, {SOON}:
 * RFC 3339 an hour ago / 30 s ahead; {DEEP}: 40 nested arrays; {TAGS33},
 * {METHODS33}: arrays of 33 valid entries; {M65}: a 65-char method name; {HUGE}: just over 1 MiB;
 * {PROJ33}: 33 project keys, comma-separated. */
typedef struct {
    const char *name, *value;
} subst_t;

static char *expand(const char *tmpl, const subst_t *subs, size_t nsubs)
{
    size_t cap = strlen(tmpl) + 1, len = 0;
    for (size_t i = 0; i < nsubs; i++)
        if (strstr(tmpl, subs[i].name))
            cap += strlen(subs[i].value) * 4;
    char *out = malloc(cap);
    for (const char *p = tmpl; *p;) {
        size_t i = 0;
        for (; i < nsubs; i++)
            if (strncmp(p, subs[i].name, strlen(subs[i].name)) == 0)
                break;
        if (i < nsubs) {
            size_t vl = strlen(subs[i].value);
            cr_assert(len + vl < cap);
            memcpy(out + len, subs[i].value, vl);
            len += vl;
            p += strlen(subs[i].name);
        } else {
            cr_assert(len + 1 < cap);
            out[len++] = *p++;
        }
    }
    out[len] = 0;
    return out;
}

static char *repeat_json_strings(const char *fmt, int n)
{
    char *out = calloc(1, (size_t)n * 48 + 8), item[48];
    strcat(out, "[");
    for (int i = 0; i < n; i++) {
        snprintf(item, sizeof item, fmt, i);
        if (i)
            strcat(out, ",");
        strcat(out, item);
    }
    strcat(out, "]");
    return out;
}

/* base64url of forged cursors "<created_at>|<id>": "1|<uuid>",
 * "99999999-99-99 99:99:99|<uuid>", "2026-01-01 00:00:00+00|<36 chars, not a
 * UUID>", year 0000, offset +16, 2026-02-30. */
#define CUR_TIME_1 "MXw2YjE2NDJiMC0zMmI3LTRlYzgtYjQxMC03NDM3NTM0ZjY2NTI"
#define CUR_TIME_9999 "OTk5OTk5OTktOTktOTkgOTk6OTk6OTl8NmIxNjQyYjAtMzJiNy00ZWM4LWI0MTAtNzQzNzUzNGY2NjUy"
#define CUR_BAD_UUID "MjAyNi0wMS0wMSAwMDowMDowMCswMHw2YjE2NDJiMC0zMmI3LTRlYzgtYjQxMC03NDM3NTM0ZjY2NS0"
#define CUR_YEAR_0 "MDAwMC0wMS0wMSAwMDowMDowMCswMHw2YjE2NDJiMC0zMmI3LTRlYzgtYjQxMC03NDM3NTM0ZjY2NTI"
#define CUR_OFFSET_16 "MjAyNi0wMS0wMSAwMDowMDowMCsxNnw2YjE2NDJiMC0zMmI3LTRlYzgtYjQxMC03NDM3NTM0ZjY2NTI"
#define CUR_OK "MjAyNi0wMS0wMSAwMDowMDowMCswMHw2YjE2NDJiMC0zMmI3LTRlYzgtYjQxMC03NDM3NTM0ZjY2NTI" /* a real one's form */
#define CUR_FEB_30 "MjAyNi0wMi0zMCAwMDowMDowMCswMHw2YjE2NDJiMC0zMmI3LTRlYzgtYjQxMC03NDM3NTM0ZjY2NTI"

#define ACCT_OK_AUTH "\"auth\":{\"type\":\"api_token\",\"email\":\"a@b.c\",\"api_token\":\"t0k\"}"
#define ACCT(site) "{\"tenant_id\":\"c1\",\"site_url\":\"" site "\"," ACCT_OK_AUTH "}"
#define ACCT_AUTH(auth) "{\"tenant_id\":\"c1\",\"site_url\":\"https://x.atlassian.net\",\"auth\":" auth "}"
#define ACCT_AUTH_T(tenant, auth)                                                                  \
    "{\"tenant_id\":\"" tenant "\",\"site_url\":\"https://x.atlassian.net\",\"auth\":" auth "}"
#define SRV_CFG(cfg) "{\"name\":\"n\",\"config\":" cfg "}"

typedef struct {
    const char *what;
    char role;          /* 'B' bootstrap key, 'W' workspace key */
    const char *method;
    const char *path;
    const char *body;   /* NULL: none */
    const char *ctype;  /* NULL: application/json; "": no Content-Type */
    long status;
    const char *field;  /* expected "field", NULL: not checked */
} bad_t;

static const bad_t cases[] = {
    /* JSON itself */
    {"syntax error", 'W', "POST", "/integrated-account", "{\"tenant_id\":", NULL, 400, NULL},
    {"nesting deeper than 32", 'W', "POST", "/integrated-account",
     "{\"tenant_id\":\"c1\",\"site_url\":\"https://x.atlassian.net\"," ACCT_OK_AUTH ",\"context\":{\"a\":{DEEP}}}",
     NULL, 400, NULL},
    {"trailing garbage", 'W', "POST", "/integrated-account", ACCT("https://x.atlassian.net") " x", NULL, 400, NULL},
    {"two documents", 'W', "POST", "/integrated-account/{acct}/mcp", "{\"name\":\"a\"}{\"name\":\"b\"}", NULL, 400,
     NULL},
    {"duplicate member", 'W', "POST", "/integrated-account/{acct}/mcp", "{\"name\":\"a\",\"name\":\"b\"}", NULL, 400,
     NULL},
    {"body is an array", 'W', "POST", "/integrated-account", "[]", NULL, 400, NULL},
    {"body is a string", 'B', "POST", "/workspaces", "\"acme\"", NULL, 400, NULL},
    {"empty body (an empty object: its required member is missing)", 'B', "POST", "/workspaces", "", NULL, 400,
     "/name"},
    {"body over 1 MiB", 'B', "POST", "/workspaces", "{\"name\":\"{HUGE}\"}", NULL, 413, NULL},
    {"body over 1 MiB (server)", 'W', "POST", "/integrated-account/{acct}/mcp", "{\"name\":\"{HUGE}\"}", NULL, 413,
     NULL},
    {"no Content-Type", 'W', "POST", "/integrated-account", ACCT("https://x.atlassian.net"), "", 415, NULL},
    {"text/plain", 'B', "POST", "/workspaces", "{\"name\":\"a\"}", "Content-Type: text/plain", 415, NULL},
    {"form content type on PATCH", 'W', "PATCH", "/integrated-account/{acct}/mcp/{srv}", "{\"name\":\"a\"}",
     "Content-Type: application/x-www-form-urlencoded", 415, NULL},
    /* workspaces and keys */
    {"workspace name missing", 'B', "POST", "/workspaces", "{}", NULL, 400, "/name"},
    {"workspace name empty", 'B', "POST", "/workspaces", "{\"name\":\"\"}", NULL, 400, "/name"},
    {"workspace name too long", 'B', "POST", "/workspaces", "{\"name\":\"{LONG}\"}", NULL, 400, "/name"},
    {"workspace name not a string", 'B', "POST", "/workspaces", "{\"name\":[\"a\"]}", NULL, 400, "/name"},
    {"workspace unknown member", 'B', "POST", "/workspaces", "{\"name\":\"a\",\"plan\":\"gold\"}", NULL, 400,
     "/plan"},
    {"api key unknown member", 'B', "POST", "/workspaces/{ws}/api-keys", "{\"name\":\"a\",\"scope\":\"all\"}", NULL,
     400, "/scope"},
    {"api key name null", 'B', "POST", "/workspaces/{ws}/api-keys", "{\"name\":null}", NULL, 400, "/name"},
    {"api key for unknown workspace", 'B', "POST", "/workspaces/{missing}/api-keys", "{\"name\":\"a\"}", NULL, 404,
     NULL},
    /* accounts */
    {"tenant_id missing", 'W', "POST", "/integrated-account",
     "{\"site_url\":\"https://x.atlassian.net\"," ACCT_OK_AUTH "}", NULL, 400, "/tenant_id"},
    {"tenant_id a number", 'W', "POST", "/integrated-account",
     "{\"tenant_id\":42,\"site_url\":\"https://x.atlassian.net\"," ACCT_OK_AUTH "}", NULL, 400, "/tenant_id"},
    {"tenant_id bad chars", 'W', "POST", "/integrated-account",
     "{\"tenant_id\":\"a b/c\",\"site_url\":\"https://x.atlassian.net\"," ACCT_OK_AUTH "}", NULL, 400, "/tenant_id"},
    {"tenant_id too long", 'W', "POST", "/integrated-account",
     "{\"tenant_id\":\"{LONG}\",\"site_url\":\"https://x.atlassian.net\"," ACCT_OK_AUTH "}", NULL, 400,
     "/tenant_id"},
    {"site_url missing", 'W', "POST", "/integrated-account", "{\"tenant_id\":\"c1\"," ACCT_OK_AUTH "}", NULL, 400,
     "/site_url"},
    {"site_url http", 'W', "POST", "/integrated-account", ACCT("http://x.atlassian.net"), NULL, 400, "/site_url"},
    {"site_url other domain", 'W', "POST", "/integrated-account", ACCT("https://evil.com"), NULL, 400, "/site_url"},
    {"site_url suffix trick", 'W', "POST", "/integrated-account", ACCT("https://x.atlassian.net.evil.com"), NULL,
     400, "/site_url"},
    {"site_url IP literal", 'W', "POST", "/integrated-account", ACCT("https://127.0.0.1"), NULL, 400, "/site_url"},
    {"site_url IPv6 literal", 'W', "POST", "/integrated-account", ACCT("https://[::1]"), NULL, 400, "/site_url"},
    {"site_url userinfo", 'W', "POST", "/integrated-account", ACCT("https://user:pw@x.atlassian.net"), NULL, 400,
     "/site_url"},
    {"site_url path", 'W', "POST", "/integrated-account", ACCT("https://x.atlassian.net/wiki"), NULL, 400,
     "/site_url"},
    {"site_url query", 'W', "POST", "/integrated-account", ACCT("https://x.atlassian.net?a=1"), NULL, 400,
     "/site_url"},
    {"site_url port", 'W', "POST", "/integrated-account", ACCT("https://x.atlassian.net:8443"), NULL, 400,
     "/site_url"},
    {"site_url bare domain", 'W', "POST", "/integrated-account", ACCT("https://atlassian.net"), NULL, 400,
     "/site_url"},
    {"site_url not a URL", 'W', "POST", "/integrated-account", ACCT("x.atlassian.net"), NULL, 400, "/site_url"},
    {"auth missing", 'W', "POST", "/integrated-account",
     "{\"tenant_id\":\"c1\",\"site_url\":\"https://x.atlassian.net\"}", NULL, 400, "/auth"},
    {"auth not an object", 'W', "POST", "/integrated-account", ACCT_AUTH("\"api_token\""), NULL, 400, "/auth"},
    {"auth type unknown", 'W', "POST", "/integrated-account",
     ACCT_AUTH("{\"type\":\"basic\",\"email\":\"a@b.c\",\"api_token\":\"t\"}"), NULL, 400, "/auth/type"},
    {"auth email empty", 'W', "POST", "/integrated-account",
     ACCT_AUTH("{\"type\":\"api_token\",\"email\":\"\",\"api_token\":\"t\"}"), NULL, 400, "/auth/email"},
    {"auth email without @", 'W', "POST", "/integrated-account",
     ACCT_AUTH("{\"type\":\"api_token\",\"email\":\"agent\",\"api_token\":\"t\"}"), NULL, 400, "/auth/email"},
    {"auth oauth2 without refresh_token", 'W', "POST", "/integrated-account",
     ACCT_AUTH("{\"type\":\"oauth2\",\"access_token\":\"a\",\"cloud_id\":\"c\"}"), NULL, 400,
     "/auth/refresh_token"},
    {"auth api_token missing", 'W', "POST", "/integrated-account",
     ACCT_AUTH("{\"type\":\"api_token\",\"email\":\"a@b.c\"}"), NULL, 400, "/auth/api_token"},
    {"auth api_token a number", 'W', "POST", "/integrated-account",
     ACCT_AUTH("{\"type\":\"api_token\",\"email\":\"a@b.c\",\"api_token\":7}"), NULL, 400, "/auth/api_token"},
    /* Issue 20: credentials reach an Authorization header; the cloud id a URL path. */
    {"auth email with CR LF", 'W', "POST", "/integrated-account",
     ACCT_AUTH("{\"type\":\"api_token\",\"email\":\"a@b.c\\r\\nX-Evil: 1\",\"api_token\":\"t\"}"), NULL, 400,
     "/auth/email"},
    {"auth api_token with LF", 'W', "POST", "/integrated-account",
     ACCT_AUTH("{\"type\":\"api_token\",\"email\":\"a@b.c\",\"api_token\":\"t\\nX-Evil: 1\"}"), NULL, 400,
     "/auth/api_token"},
    {"auth api_token with a tab", 'W', "POST", "/integrated-account",
     ACCT_AUTH("{\"type\":\"api_token\",\"email\":\"a@b.c\",\"api_token\":\"t\\tt\"}"), NULL, 400,
     "/auth/api_token"},
    {"auth access_token with CR LF", 'W', "POST", "/integrated-account",
     ACCT_AUTH("{\"type\":\"oauth2\",\"access_token\":\"a\\r\\nX-Evil: 1\",\"refresh_token\":\"r\","
               "\"cloud_id\":\"11111111-2222-4333-8444-555555555555\"}"), NULL, 400, "/auth/access_token"},
    {"auth refresh_token with a control character", 'W', "POST", "/integrated-account",
     ACCT_AUTH("{\"type\":\"oauth2\",\"access_token\":\"a\",\"refresh_token\":\"r\\u0001\","
               "\"cloud_id\":\"11111111-2222-4333-8444-555555555555\"}"), NULL, 400, "/auth/refresh_token"},
    {"auth cloud_id not a UUID", 'W', "POST", "/integrated-account",
     ACCT_AUTH("{\"type\":\"oauth2\",\"access_token\":\"a\",\"refresh_token\":\"r\",\"cloud_id\":\"../../x\"}"),
     NULL, 400, "/auth/cloud_id"},
    {"auth cloud_id a UUID with a path", 'W', "POST", "/integrated-account",
     ACCT_AUTH("{\"type\":\"oauth2\",\"access_token\":\"a\",\"refresh_token\":\"r\","
               "\"cloud_id\":\"11111111-2222-4333-8444-555555555555/x\"}"), NULL, 400, "/auth/cloud_id"},
    {"PATCH account auth email with LF", 'W', "PATCH", "/integrated-account/{acct}",
     "{\"auth\":{\"type\":\"api_token\",\"email\":\"a@b.c\\n\",\"api_token\":\"t\"}}", NULL, 400, "/auth/email"},
    {"PATCH account site_url without credentials", 'W', "PATCH", "/integrated-account/{acct}",
     "{\"site_url\":\"https://elsewhere.atlassian.net\"}", NULL, 400, "/auth"},
    {"PATCH account site_url and context without credentials", 'W', "PATCH", "/integrated-account/{acct}",
     "{\"site_url\":\"https://elsewhere.atlassian.net\",\"context\":{\"a\":1}}", NULL, 400, "/auth"},
    {"auth unknown member", 'W', "POST", "/integrated-account",
     ACCT_AUTH("{\"type\":\"api_token\",\"email\":\"a@b.c\",\"api_token\":\"t\",\"password\":\"p\"}"), NULL, 400,
     "/auth/password"},
    {"account unknown member", 'W', "POST", "/integrated-account",
     "{\"tenant_id\":\"c1\",\"site_url\":\"https://x.atlassian.net\"," ACCT_OK_AUTH ",\"status\":\"active\"}", NULL,
     400, "/status"},
    {"context not an object", 'W', "POST", "/integrated-account",
     "{\"tenant_id\":\"c1\",\"site_url\":\"https://x.atlassian.net\"," ACCT_OK_AUTH ",\"context\":[1]}", NULL, 400,
     "/context"},
    {"PATCH account read-only member", 'W', "PATCH", "/integrated-account/{acct}", "{\"auth_type\":\"oauth2\"}",
     NULL, 400, "/auth_type"},
    {"PATCH account bad site_url", 'W', "PATCH", "/integrated-account/{acct}", "{\"site_url\":\"https://evil.com\"}",
     NULL, 400, "/site_url"},
    {"PATCH account tenant_id null", 'W', "PATCH", "/integrated-account/{acct}", "{\"tenant_id\":null}", NULL, 400,
     "/tenant_id"},
    /* MCP servers */
    {"server name missing", 'W', "POST", "/integrated-account/{acct}/mcp", "{\"config\":{\"methods\":[\"read\"]}}",
     NULL, 400, "/name"},
    {"server name empty", 'W', "POST", "/integrated-account/{acct}/mcp", "{\"name\":\"\"}", NULL, 400, "/name"},
    {"server name too long", 'W', "POST", "/integrated-account/{acct}/mcp", "{\"name\":\"{LONG}\"}", NULL, 400,
     "/name"},
    {"server name a number", 'W', "POST", "/integrated-account/{acct}/mcp", "{\"name\":1}", NULL, 400, "/name"},
    {"server unknown member", 'W', "POST", "/integrated-account/{acct}/mcp", "{\"name\":\"n\",\"url\":\"x\"}", NULL,
     400, "/url"},
    {"config not an object", 'W', "POST", "/integrated-account/{acct}/mcp", SRV_CFG("\"read\""), NULL, 400,
     "/config"},
    {"config unknown member", 'W', "POST", "/integrated-account/{acct}/mcp", SRV_CFG("{\"scopes\":[\"read\"]}"),
     NULL, 400, "/config/scopes"},
    {"methods empty", 'W', "POST", "/integrated-account/{acct}/mcp", SRV_CFG("{\"methods\":[]}"), NULL, 400,
     "/config/methods"},
    {"methods not an array", 'W', "POST", "/integrated-account/{acct}/mcp", SRV_CFG("{\"methods\":\"read\"}"), NULL,
     400, "/config/methods"},
    {"methods unknown form", 'W', "POST", "/integrated-account/{acct}/mcp",
     SRV_CFG("{\"methods\":[\"read\",\"Read\"]}"), NULL, 400, "/config/methods/1"},
    {"methods entry a number", 'W', "POST", "/integrated-account/{acct}/mcp", SRV_CFG("{\"methods\":[1]}"), NULL,
     400, "/config/methods/0"},
    {"methods duplicated", 'W', "POST", "/integrated-account/{acct}/mcp",
     SRV_CFG("{\"methods\":[\"read\",\"write\",\"read\"]}"), NULL, 400, "/config/methods/2"},
    {"methods name too long", 'W', "POST", "/integrated-account/{acct}/mcp",
     SRV_CFG("{\"methods\":[\"{M65}\"]}"), NULL, 400,
     "/config/methods/0"},
    {"methods over 32", 'W', "POST", "/integrated-account/{acct}/mcp", SRV_CFG("{\"methods\":{METHODS33}}"), NULL,
     400, "/config/methods"},
    {"tags bad chars", 'W', "POST", "/integrated-account/{acct}/mcp", SRV_CFG("{\"tags\":[\"itsm\",\"Bad Tag\"]}"),
     NULL, 400, "/config/tags/1"},
    {"tags leading dash", 'W', "POST", "/integrated-account/{acct}/mcp", SRV_CFG("{\"tags\":[\"-x\"]}"), NULL, 400,
     "/config/tags/0"},
    {"tags over 32", 'W', "POST", "/integrated-account/{acct}/mcp", SRV_CFG("{\"tags\":{TAGS33}}"), NULL, 400,
     "/config/tags"},
    {"projects lower case", 'W', "POST", "/integrated-account/{acct}/mcp", SRV_CFG("{\"projects\":[\"itsm\"]}"),
     NULL, 400, "/config/projects/0"},
    {"tool_exposure unknown", 'W', "POST", "/integrated-account/{acct}/mcp",
     SRV_CFG("{\"tool_exposure\":\"some\"}"), NULL, 400, "/config/tool_exposure"},
    {"confirm_writes not a boolean", 'W', "POST", "/integrated-account/{acct}/mcp",
     SRV_CFG("{\"confirm_writes\":\"yes\"}"), NULL, 400, "/config/confirm_writes"},
    {"expires_at in the past", 'W', "POST", "/integrated-account/{acct}/mcp",
     "{\"name\":\"n\",\"expires_at\":\"{PAST}\"}", NULL, 400, "/expires_at"},
    {"expires_at under 60 s", 'W', "POST", "/integrated-account/{acct}/mcp",
     "{\"name\":\"n\",\"expires_at\":\"{SOON}\"}", NULL, 400, "/expires_at"},
    {"expires_at not RFC 3339", 'W', "POST", "/integrated-account/{acct}/mcp",
     "{\"name\":\"n\",\"expires_at\":\"next tuesday\"}", NULL, 400, "/expires_at"},
    {"expires_at impossible date", 'W', "POST", "/integrated-account/{acct}/mcp",
     "{\"name\":\"n\",\"expires_at\":\"2099-13-45T25:61:00Z\"}", NULL, 400, "/expires_at"},
    {"expires_at a number", 'W', "POST", "/integrated-account/{acct}/mcp",
     "{\"name\":\"n\",\"expires_at\":4102444800}", NULL, 400, "/expires_at"},
    {"require_api_token_auth a string", 'W', "POST", "/integrated-account/{acct}/mcp",
     "{\"name\":\"n\",\"require_api_token_auth\":\"yes\"}", NULL, 400, "/require_api_token_auth"},
    {"server for unknown account", 'W', "POST", "/integrated-account/{missing}/mcp", "{\"name\":\"n\"}", NULL, 404,
     NULL},
    {"PATCH server name empty", 'W', "PATCH", "/integrated-account/{acct}/mcp/{srv}", "{\"name\":\"\"}", NULL, 400,
     "/name"},
    {"PATCH server id", 'W', "PATCH", "/integrated-account/{acct}/mcp/{srv}", "{\"id\":\"{missing}\"}", NULL, 400,
     "/id"},
    {"PATCH server expires_at in the past", 'W', "PATCH", "/integrated-account/{acct}/mcp/{srv}",
     "{\"expires_at\":\"{PAST}\"}", NULL, 400, "/expires_at"},
    {"PATCH server bad methods", 'W', "PATCH", "/integrated-account/{acct}/mcp/{srv}",
     "{\"config\":{\"methods\":[\"drop table\"]}}", NULL, 400, "/config/methods/0"},
    /* query parameters */
    {"limit 0", 'W', "GET", "/integrated-account?limit=0", NULL, NULL, 400, "limit"},
    {"limit 101", 'W', "GET", "/integrated-account?limit=101", NULL, NULL, 400, "limit"},
    {"limit not a number", 'B', "GET", "/workspaces?limit=ten", NULL, NULL, 400, "limit"},
    {"limit negative", 'W', "GET", "/integrated-account/{acct}/mcp?limit=-1", NULL, NULL, 400, "limit"},
    {"cursor forged", 'W', "GET", "/integrated-account?next_cursor=bm90LWEtY3Vyc29y", NULL, NULL, 400,
     "next_cursor"},
    {"cursor garbage", 'B', "GET", "/workspaces?next_cursor=%25%25", NULL, NULL, 400, "next_cursor"},
    /* Times and text PostgreSQL would refuse to cast are a 400 naming the
     * parameter, never a query error (500, or an export cut after its 200):
     * year 0000, offsets beyond +-15:59 or with 60+ minutes, a result past
     * 9999-12-31 once the offset is applied; NUL and invalid UTF-8. */
    {"since in year 0000", 'W', "GET", "/calls?since=0000-01-01T00:00:00Z", NULL, NULL, 400, "since"},
    {"since offset +16:00", 'W', "GET", "/calls?since=2026-01-01T00:00:00%2B16:00", NULL, NULL, 400, "since"},
    {"until offset -99:99", 'W', "GET", "/calls?until=2026-01-01T00:00:00-99:99", NULL, NULL, 400, "until"},
    {"until offset minutes 60", 'W', "GET", "/calls?until=2026-01-01T00:00:00-15:60", NULL, NULL, 400, "until"},
    {"since past 9999 once offset", 'W', "GET", "/calls?since=9999-12-31T23:59:59-01:00", NULL, NULL, 400,
     "since"},
    {"csv export since in year 0000", 'W', "GET", "/calls?format=csv&since=0000-01-01T00:00:00Z", NULL, NULL, 400,
     "since"},
    {"ndjson export until +16:00", 'W', "GET", "/calls?format=ndjson&until=2026-01-01T00:00:00%2B16:00", NULL, NULL,
     400, "until"},
    {"server's calls since in year 0000", 'W', "GET",
     "/integrated-account/{acct}/mcp/{srv}/calls?since=0000-01-01T00:00:00Z", NULL, NULL, 400, "since"},
    {"series in year 0000", 'W', "GET", "/calls/series?since=0000-01-01T00:00:00Z&until=0000-01-02T00:00:00Z", NULL,
     NULL, 400, "since"},
    {"audit events since in year 0000", 'W', "GET", "/audit-events?since=0000-01-01T00:00:00Z", NULL, NULL, 400,
     "since"},
    {"audit events until -99:99", 'W', "GET", "/audit-events?until=2026-01-01T00:00:00-99:99", NULL, NULL, 400,
     "until"},
    {"tenant_id filter not UTF-8", 'W', "GET", "/integrated-account?tenant_id=%FF", NULL, NULL, 400, "tenant_id"},
    {"tenant_id filter with NUL", 'W', "GET", "/integrated-account?tenant_id=c1%00x", NULL, NULL, 400, "tenant_id"},
    {"tenant_id filter with a space", 'W', "GET", "/integrated-account?tenant_id=a%20b", NULL, NULL, 400,
     "tenant_id"},
    {"tool filter not UTF-8", 'W', "GET", "/calls?tool=%FF%FE", NULL, NULL, 400, "tool"},
    {"tool filter with NUL", 'W', "GET", "/calls?tool=a%00b", NULL, NULL, 400, "tool"},
    {"tool filter overlong UTF-8 (export)", 'W', "GET", "/calls?format=ndjson&tool=%C0%AF", NULL, NULL, 400, "tool"},
    {"series tool filter with NUL", 'W', "GET", "/calls/series?tool=a%00b", NULL, NULL, 400, "tool"},
    {"deliveries status with NUL", 'W', "GET", "/webhooks/{missing}/deliveries?status=pending%00x", NULL, NULL, 400,
     "status"},
    {"usage to with NUL", 'W', "GET", "/usage?group_by=tool&to=2026-01-01%00", NULL, NULL, 400, "to"},
    {"OAuth callback code not UTF-8", 'W', "GET",
     "/oauth/callback?state=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&code=%FF", NULL, NULL, 400, "code"},
    /* A forged next_cursor (base64url of "<time>|<id>") is the 400 an
     * undecodable one gets on every created_at-keyed listing, never a
     * query error: a time PostgreSQL cannot cast, an id that is no UUID. */
    {"cursor time a number", 'W', "GET", "/integrated-account?next_cursor=" CUR_TIME_1, NULL, NULL, 400,
     "next_cursor"},
    {"cursor time out of range", 'B', "GET", "/workspaces?next_cursor=" CUR_TIME_9999, NULL, NULL, 400,
     "next_cursor"},
    {"cursor id not a UUID", 'W', "GET", "/api-keys?next_cursor=" CUR_BAD_UUID, NULL, NULL, 400, "next_cursor"},
    {"cursor in year 0000", 'B', "GET", "/workspaces/{ws}/api-keys?next_cursor=" CUR_YEAR_0, NULL, NULL, 400,
     "next_cursor"},
    {"cursor offset +16", 'W', "GET", "/integrated-account/{acct}/mcp?next_cursor=" CUR_OFFSET_16, NULL, NULL, 400,
     "next_cursor"},
    {"cursor on February 30", 'W', "GET", "/webhooks?next_cursor=" CUR_FEB_30, NULL, NULL, 400, "next_cursor"},
    {"cursor time a number (deliveries)", 'W', "GET", "/webhooks/{missing}/deliveries?next_cursor=" CUR_TIME_1, NULL,
     NULL, 400, "next_cursor"},
    {"cursor id not a UUID (audit events)", 'W', "GET", "/audit-events?next_cursor=" CUR_BAD_UUID, NULL, NULL, 400,
     "next_cursor"},
    /* A parameter given twice is a 400 naming it (not the first one
     * silently winning), on every route. */
    {"outcome twice", 'W', "GET", "/calls?outcome=ok&outcome=bogus", NULL, NULL, 400, "outcome"},
    {"server_id twice", 'W', "GET", "/calls?server_id={missing}&server_id=not-a-uuid", NULL, NULL, 400, "server_id"},
    {"limit twice", 'B', "GET", "/workspaces?limit=1&limit=100", NULL, NULL, 400, "limit"},
    {"next_cursor twice", 'W', "GET", "/integrated-account?next_cursor=" CUR_OK "&next_cursor=x", NULL, NULL, 400,
     "next_cursor"},
    {"tenant_id filter twice", 'W', "GET", "/integrated-account?tenant_id=c1&tenant_id=c2", NULL, NULL, 400,
     "tenant_id"},
    {"since twice (audit events)", 'W', "GET", "/audit-events?since=2026-01-01T00:00:00Z&since=x", NULL, NULL, 400,
     "since"},
    {"group_by twice", 'W', "GET", "/usage?group_by=tool&group_by=account", NULL, NULL, 400, "group_by"},
    {"status twice (deliveries)", 'W', "GET", "/webhooks/{missing}/deliveries?status=failed&status=pending", NULL,
     NULL, 400, "status"},
    {"OAuth callback code twice", 'W', "GET",
     "/oauth/callback?state=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&code=a&code=b", NULL, NULL, 400, "code"},
    /* GET /tools takes a server config's values, with its rules. */
    {"tools tool_exposure unknown", 'W', "GET", "/tools?tool_exposure=bogus", NULL, NULL, 400, "tool_exposure"},
    {"tools methods empty", 'W', "GET", "/tools?methods=", NULL, NULL, 400, "methods"},
    {"tools methods with an empty entry", 'W', "GET", "/tools?methods=read,", NULL, NULL, 400, "methods"},
    {"tools methods twice in the list", 'W', "GET", "/tools?methods=read,read", NULL, NULL, 400, "methods"},
    {"tools methods unknown", 'W', "GET", "/tools?methods=drop", NULL, NULL, 400, "methods"},
    {"tools tags bad chars", 'W', "GET", "/tools?tags=Bad%20Tag", NULL, NULL, 400, "tags"},
    {"tools projects over 32", 'W', "GET", "/tools?projects={PROJ33}", NULL, NULL, 400, "projects"},
    {"tools projects lower case", 'W', "GET", "/tools?projects=itsm", NULL, NULL, 400, "projects"},
    /* routing */
    {"unknown route", 'W', "GET", "/nope", NULL, NULL, 404, NULL},
    {"unknown nested route", 'W', "GET", "/integrated-account/{acct}/tools", NULL, NULL, 404, NULL},
    {"id not a UUID", 'W', "GET", "/integrated-account/not-a-uuid", NULL, NULL, 404, NULL},
    {"unknown account", 'W', "GET", "/integrated-account/{missing}", NULL, NULL, 404, NULL},
    {"unknown server", 'W', "DELETE", "/integrated-account/{acct}/mcp/{missing}", NULL, NULL, 404, NULL},
    {"PUT on a collection", 'W', "PUT", "/integrated-account", "{}", NULL, 405, NULL},
    {"DELETE on /workspaces", 'B', "DELETE", "/workspaces", NULL, NULL, 405, NULL},
    {"POST on a server", 'W', "POST", "/integrated-account/{acct}/mcp/{srv}", "{\"name\":\"n\"}", NULL, 405, NULL},
    /* Times past 9999-12-31 once their offset is applied (no RFC 3339
     * form: they were echoed as "10000-01-01T..."). Last: before the fix
     * they were created, and every case after them saw their rows. */
    {"server expires_at past 9999 (-23:59)", 'W', "POST", "/integrated-account/{acct}/mcp",
     "{\"name\":\"n\",\"expires_at\":\"9999-12-31T23:59:59-23:59\"}", NULL, 400, "/expires_at"},
    {"server expires_at past 9999 (-01:00)", 'W', "POST", "/integrated-account/{acct}/mcp",
     "{\"name\":\"n\",\"expires_at\":\"9999-12-31T23:59:59-01:00\"}", NULL, 400, "/expires_at"},
    {"PATCH server expires_at past 9999", 'W', "PATCH", "/integrated-account/{acct}/mcp/{srv}",
     "{\"expires_at\":\"9999-12-31T23:30:00-00:45\"}", NULL, 400, "/expires_at"},
    {"api key expires_at past 9999", 'B', "POST", "/workspaces/{ws}/api-keys",
     "{\"name\":\"k\",\"expires_at\":\"9999-12-31T23:59:59-01:00\"}", NULL, 400, "/expires_at"},
    {"own api key expires_at past 9999", 'W', "POST", "/api-keys",
     "{\"name\":\"k\",\"expires_at\":\"9999-12-31T23:59:59-15:00\"}", NULL, 400, "/expires_at"},
    {"auth expires_at past 9999", 'W', "POST", "/integrated-account",
     "{\"tenant_id\":\"c9\",\"site_url\":\"https://x.atlassian.net\",\"auth\":{\"type\":\"oauth2\","
     "\"access_token\":\"a\",\"refresh_token\":\"r\",\"expires_at\":\"9999-12-31T23:59:59-01:00\","
     "\"cloud_id\":\"11111111-2222-4333-8444-555555555555\"}}", NULL, 400, "/auth/expires_at"},
    /* Control characters beyond ASCII (C1, U+2028, U+2029) and invisible
     * format characters (zero-width, bidi, BOM) in a credential, which
     * reaches an Authorization header. Last, each its own tenant: before
     * the fix they were created. */
    {"auth api_token with U+0085 (NEL)", 'W', "POST", "/integrated-account",
     ACCT_AUTH_T("d6a", "{\"type\":\"api_token\",\"email\":\"a@b.c\",\"api_token\":\"t\\u0085t\"}"), NULL, 400,
     "/auth/api_token"},
    {"auth api_token with U+2028", 'W', "POST", "/integrated-account",
     ACCT_AUTH_T("d6b", "{\"type\":\"api_token\",\"email\":\"a@b.c\",\"api_token\":\"t\\u2028t\"}"), NULL, 400,
     "/auth/api_token"},
    {"auth api_token with U+FEFF", 'W', "POST", "/integrated-account",
     ACCT_AUTH_T("d6c", "{\"type\":\"api_token\",\"email\":\"a@b.c\",\"api_token\":\"\\ufefft\"}"), NULL, 400,
     "/auth/api_token"},
    {"auth api_token with U+202E", 'W', "POST", "/integrated-account",
     ACCT_AUTH_T("d6d", "{\"type\":\"api_token\",\"email\":\"a@b.c\",\"api_token\":\"t\\u202et\"}"), NULL, 400,
     "/auth/api_token"},
    {"auth email with U+200B", 'W', "POST", "/integrated-account",
     ACCT_AUTH_T("d6e", "{\"type\":\"api_token\",\"email\":\"a@b.c\\u200b\",\"api_token\":\"t\"}"), NULL, 400,
     "/auth/email"},
    {"auth access_token with U+2029", 'W', "POST", "/integrated-account",
     ACCT_AUTH_T("d6f", "{\"type\":\"oauth2\",\"access_token\":\"a\\u2029\",\"refresh_token\":\"r\","
               "\"cloud_id\":\"11111111-2222-4333-8444-555555555555\"}"), NULL, 400, "/auth/access_token"},
    {"auth refresh_token with U+009B (CSI)", 'W', "POST", "/integrated-account",
     ACCT_AUTH_T("d6g", "{\"type\":\"oauth2\",\"access_token\":\"a\",\"refresh_token\":\"\\u009b2J\","
               "\"cloud_id\":\"11111111-2222-4333-8444-555555555555\"}"), NULL, 400, "/auth/refresh_token"},
    {"auth scope with U+0080", 'W', "POST", "/integrated-account",
     ACCT_AUTH_T("d6h", "{\"type\":\"oauth2\",\"access_token\":\"a\",\"refresh_token\":\"r\",\"scope\":\"read\\u0080\","
               "\"cloud_id\":\"11111111-2222-4333-8444-555555555555\"}"), NULL, 400, "/auth/scope"},
};

Test(api_badreq, table_of_bad_requests, .timeout = 240)
{
    ts_api_t a;
    ts_resp_t r;
    char ws[64], key[64], acct[64], srv[64], past[48], soon[48];
    ta_start(&a, "badreq", NULL, ws, key, acct);
    ta_server(&a, key, acct, NULL, srv, NULL);

    char longs[202];
    memset(longs, 'a', 201);
    longs[201] = 0;
    char m65[66];
    memset(m65, 'm', 65);
    m65[65] = 0;
    char deep[128];
    memset(deep, '[', 40);
    memset(deep + 40, ']', 40);
    deep[80] = 0;
    size_t huge_n = (1u << 20) + 64;
    char *huge = malloc(huge_n + 1);
    memset(huge, 'a', huge_n);
    huge[huge_n] = 0;
    ta_iso_in(-3600, past, sizeof past);
    ta_iso_in(30, soon, sizeof soon);
    char *tags33 = repeat_json_strings("\"t%d\"", 33);
    char *methods33 = repeat_json_strings("\"m%d\"", 33);
    char proj33[33 * 5] = "";
    for (int i = 0; i < 33; i++)
        snprintf(proj33 + strlen(proj33), sizeof proj33 - strlen(proj33), "%sP%d", i ? "," : "", i);
    const subst_t subs[] = {
        {"{ws}", ws},       {"{acct}", acct},       {"{srv}", srv},          {"{missing}", "00000000-0000-4000-8000-000000000000"},
        {"{LONG}", longs},  {"{PAST}", past},       {"{SOON}", soon},        {"{DEEP}", deep},
        {"{HUGE}", huge},   {"{TAGS33}", tags33},   {"{METHODS33}", methods33}, {"{M65}", m65},
        {"{PROJ33}", proj33},
    };
    const size_t nsubs = sizeof subs / sizeof subs[0];

    char *rows_before = ta_db_counts(&a);
    int keys_before = ta_redis_count(&a);
    size_t ncases = sizeof cases / sizeof cases[0], nbad = 0;
    cr_assert(ncases >= 30);
    for (size_t i = 0; i < ncases; i++) {
        const bad_t *c = &cases[i];
        char *path = expand(c->path, subs, nsubs), *body = c->body ? expand(c->body, subs, nsubs) : NULL;
        char url[1200], auth[160], what[200];
        snprintf(url, sizeof url, "%s%s", a.url, path);
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", c->role == 'B' ? a.bootstrap_key : key);
        const char *ct = !c->ctype ? "Content-Type: application/json" : *c->ctype ? c->ctype : "Content-Type:";
        const char *hdrs[] = {auth, ct, NULL};
        ts_http(&r, c->method, url, hdrs, body, body ? strlen(body) : 0);
        snprintf(what, sizeof what, "case %zu '%s' (%s %s)", i, c->what, c->method, c->path);
        int ok = ta_expect_problem(&r, c->status, c->field, what);
        if (c->status == 405) {
            char allow[128];
            if (!ts_resp_header(&r, "Allow", allow, sizeof allow)) {
                cr_expect_fail("%s: 405 without Allow", what);
                ok = 0;
            }
        }
        char *rows = ta_db_counts(&a);
        int keys = ta_redis_count(&a);
        if (strcmp(rows, rows_before) != 0 || keys != keys_before) {
            cr_expect_fail("%s: left rows '%s' (before '%s') or Redis keys %d (before %d)", what, rows, rows_before,
                           keys, keys_before);
            ok = 0;
        }
        nbad += !ok;
        free(rows);
        ts_resp_free(&r);
        free(path);
        free(body);
    }
    cr_log_info("%zu bad-request cases, %zu deviate", ncases, nbad);

    /* positive controls: the valid forms at the limits next to the refused
     * ones are accepted (so the refusals above are for the stated reason) */
    char exp[48], a2[64], *body;
    /* 31 unknown tags and one the catalog has, so the filters leave tools;
     * every method kind once */
    char *tags32 = repeat_json_strings("\"t%d\"", 31), *methods32 = NULL;
    cr_assert(asprintf(&methods32, "[\"read\",\"write\",\"list\",\"get\",\"create\",\"update\",\"delete\"]") > 0);
    tags32[strlen(tags32) - 1] = 0;
    char *tags_full = NULL;
    cr_assert(asprintf(&tags_full, "%s,\"itsm\"]", tags32) > 0);
    free(tags32);
    tags32 = tags_full;
    char deep32[64]; /* the body's object + config + 30 arrays = 32 levels */
    memset(deep32, '[', 30);
    memset(deep32 + 30, ']', 30);
    deep32[60] = 0;
    ta_iso_in(90, exp, sizeof exp);
    longs[200] = 0; /* 200 chars */
    m65[64] = 0;    /* 64 chars */
    cr_assert(asprintf(&body,
                       "{\"name\":\"%s\",\"expires_at\":\"%s\",\"require_api_token_auth\":true,\"config\":{"
                       "\"methods\":%s,\"tags\":%s,\"projects\":[\"ITSM\",\"A_1\"],\"tool_exposure\":\"discovery\"}}",
                       longs, exp, methods32, tags32) > 0);
    ta_server(&a, key, acct, body, a2, NULL);
    free(body);
    cr_assert(asprintf(&body, "{\"name\":\"m\",\"config\":{\"methods\":[\"read\",\"write\"]}}") > 0);
    ta_server(&a, key, acct, body, a2, NULL);
    free(body);
    ta_call(&r, &a, key, "PATCH", "{\"expires_at\":null,\"config\":{\"tags\":[\"0-a_b\",\"itsm\"]}}",
            "/integrated-account/%s/mcp/%s", acct, a2);
    cr_assert_eq(r.status, 200, "PATCH at the limits: %ld %s", r.status, r.body);
    ts_resp_free(&r);
    cr_assert(asprintf(&body,
                       "{\"tenant_id\":\"%s\",\"site_url\":\"https://x.atlassian.net\"," ACCT_OK_AUTH
                       ",\"context\":{\"a\":%s}}",
                       longs, deep32) > 0);
    ts_api_call(&r, &a, key, "POST", "/integrated-account", body);
    cr_assert_eq(r.status, 201, "account at the limits (200-char tenant_id, 32 levels): %ld %s", r.status, r.body);
    ts_resp_free(&r);
    free(body);
    ts_api_call(&r, &a, a.bootstrap_key, "POST", "/workspaces", "{\"name\":\"caf\u00e9 \u2615\"}");
    cr_assert_eq(r.status, 201, "unicode workspace name: %ld %s", r.status, r.body);
    ts_resp_free(&r);
    /* "1..200 chars": 200 two-byte characters are 200 chars */
    char wide[1024] = "{\"name\":\"";
    for (int i = 0; i < 200; i++)
        strcat(wide, "\u00e9");
    strcat(wide, "\"}");
    ts_api_call(&r, &a, a.bootstrap_key, "POST", "/workspaces", wide);
    cr_expect_eq(r.status, 201, "a name of 200 non-ASCII chars (400 bytes) refused: %ld %s", r.status, r.body);
    ts_resp_free(&r);
    {
        char url[256], auth[160];
        snprintf(url, sizeof url, "%s/integrated-account/%s/mcp", a.url, acct);
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
        const char *hdrs[] = {auth, "Content-Type: application/json; charset=utf-8", NULL};
        ts_http(&r, "POST", url, hdrs, "{\"name\":\"cs\"}", 13);
        cr_assert_eq(r.status, 201, "Content-Type with charset: %ld %s", r.status, r.body);
        ts_resp_free(&r);
    }
    ta_call(&r, &a, key, "GET", NULL, "/integrated-account?limit=100");
    cr_assert_eq(r.status, 200, "limit=100: %ld %s", r.status, r.body);
    ts_resp_free(&r);
    /* a cursor this API returned still pages (its time read strictly) */
    ta_call(&r, &a, key, "GET", NULL, "/integrated-account?limit=1");
    cr_assert_eq(r.status, 200, "limit=1: %ld %s", r.status, r.body);
    char cursor[256];
    cr_assert(ta_str(&r, "next_cursor"), "two accounts, one a page: a next_cursor: %s", r.body);
    snprintf(cursor, sizeof cursor, "%s", ta_str(&r, "next_cursor"));
    ts_resp_free(&r);
    ta_call(&r, &a, key, "GET", NULL, "/integrated-account?limit=1&next_cursor=%s", cursor);
    cr_assert_eq(r.status, 200, "the next page: %ld %s", r.status, r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "result")), 1, "%s", r.body);
    ts_resp_free(&r);
    /* times at the edges PostgreSQL and RFC 3339 share, and text filters */
    ta_call(&r, &a, key, "GET", NULL, "/calls?since=0001-01-01T00:00:00Z&until=9999-12-31T23:59:59.999Z");
    cr_assert_eq(r.status, 200, "the widest range: %ld %s", r.status, r.body);
    ts_resp_free(&r);
    ta_call(&r, &a, key, "GET", NULL, "/audit-events?since=2026-01-01T00:00:00%%2B15:59&until=2026-01-01T00:00:00-15:59");
    cr_assert_eq(r.status, 200, "offsets of +-15:59: %ld %s", r.status, r.body);
    ts_resp_free(&r);
    ta_call(&r, &a, key, "GET", NULL, "/calls?tool=caf%%C3%%A9");
    cr_assert_eq(r.status, 200, "a UTF-8 tool name: %ld %s", r.status, r.body);
    ts_resp_free(&r);
    /* printable non-ASCII credentials are text like any other */
    ts_api_call(&r, &a, key, "POST", "/integrated-account",
                "{\"tenant_id\":\"utf8\",\"site_url\":\"https://x.atlassian.net\",\"auth\":{\"type\":"
                "\"api_token\",\"email\":\"j\u00f6rg@b.c\",\"api_token\":\"t\u00e9st-\u30d1\u30b9\"}}");
    cr_assert_eq(r.status, 201, "printable UTF-8 credentials: %ld %s", r.status, r.body);
    ts_resp_free(&r);
    free(tags32);
    free(methods32);

    free(huge);
    free(tags33);
    free(methods33);
    free(rows_before);
    ta_stop(&a);
}

/* An empty body is {} where the body is optional, whether or not the
 * request says Content-Type: application/json (fetch and axios send it on
 * every POST). */
Test(api_badreq, empty_body_with_json_content_type_is_an_empty_object, .timeout = 120)
{
    ts_api_t a;
    ts_resp_t r;
    char ws[64], key[64], acct[64], srv[64], wh[64], url[512], auth[160];
    ta_start(&a, "emptybody", NULL, ws, key, acct);
    ta_server(&a, key, acct, NULL, srv, NULL);
    ta_call(&r, &a, key, "POST", "{\"url\":\"https://hooks.example.com/jsmcp\",\"events\":[\"server.deleted\"]}",
            "/webhooks");
    cr_assert_eq(r.status, 201, "webhook: %ld %s", r.status, r.body);
    snprintf(wh, sizeof wh, "%s", ta_str(&r, "id"));
    ts_resp_free(&r);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", key);
    static const char *const ctypes[] = {"Content-Type: application/json", "Content-Type: application/json; charset=utf-8",
                                         "Content-Type:"};
    for (size_t i = 0; i < sizeof ctypes / sizeof *ctypes; i++) {
        const char *hdrs[] = {auth, ctypes[i], NULL};
        snprintf(url, sizeof url, "%s/integrated-account/%s/mcp/%s/rotate", a.url, acct, srv);
        ts_http(&r, "POST", url, hdrs, "", 0);
        cr_expect_eq(r.status, 200, "rotate with an empty body, '%s': %ld %s", ctypes[i], r.status, r.body);
        cr_expect(r.status != 200 || ta_str(&r, "url"), "rotate answered without the new url: %s", r.body);
        ts_resp_free(&r);
        snprintf(url, sizeof url, "%s/webhooks/%s/test", a.url, wh);
        ts_http(&r, "POST", url, hdrs, "", 0);
        cr_expect_eq(r.status, 202, "webhook test with an empty body, '%s': %ld %s", ctypes[i], r.status, r.body);
        ts_resp_free(&r);
    }
    ta_stop(&a);
}

/* Every answer is a workspace's data or about it: none may be kept by a
 * browser (the dashboard) or a proxy once its page is gone (found by an
 * adversarial run: GET answers carried no Cache-Control). */
Test(api_badreq, answers_are_never_cached, .timeout = 120)
{
    ts_api_t a;
    ts_resp_t r;
    char ws[64], key[64], acct[64], path[200], cc[64];
    ta_start(&a, "nostore", NULL, ws, key, acct);
    snprintf(path, sizeof path, "/integrated-account/%s", acct);
    struct {
        const char *method, *path, *body;
        long status;
    } asks[] = {
        {"GET", "/integrated-account", NULL, 200},
        {"GET", path, NULL, 200},
        {"GET", "/integrated-account/00000000-0000-0000-0000-000000000000", NULL, 404},
        {"GET", "/calls?limit=0", NULL, 400},
        {"POST", "/webhooks", "{\"url\":\"https://hooks.example.com/h\",\"events\":[\"server.deleted\"]}", 201},
    };
    for (size_t i = 0; i < sizeof asks / sizeof *asks; i++) {
        ta_call(&r, &a, key, asks[i].method, asks[i].body, "%s", asks[i].path);
        cr_expect_eq(r.status, asks[i].status, "%s %s: %ld %s", asks[i].method, asks[i].path, r.status, r.body);
        cr_expect(ts_resp_header(&r, "Cache-Control", cc, sizeof cc) && strcmp(cc, "no-store") == 0,
                  "%s %s: Cache-Control '%s'", asks[i].method, asks[i].path, cc);
        cc[0] = 0;
        ts_resp_free(&r);
    }
    ta_stop(&a);
}
