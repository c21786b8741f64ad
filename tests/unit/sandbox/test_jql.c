/* JQL subset: parsing, Jira's error messages, boundedness, matching and
 * ordering against a seeded data set. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "sb_seed.h"
#include "sb_jql.h"
#include "sb_jql_order.h"

#define ANCHOR 1790000000000LL /* fixed "now" so relative dates are stable */

static sb_data_t *d;
static void setup(void)
{
    d = sb_seed_data(1, ANCHOR, "agent@sandbox.test");
}
static void teardown(void)
{
    sb_data_free(d);
}

static char err[600];

static int count(const char *q)
{
    sb_jql_t *j;
    cr_assert_eq(sb_jql_parse(d, q, &j, err, sizeof err), 0, "%s: %s", q, err);
    sb_jql_env_t env = {d, d->caller, ANCHOR};
    sb_issue_t **v;
    size_t n = sb_jql_run(j, &env, &v);
    free(v);
    sb_jql_free(j);
    return (int)n;
}

static const char *error_of(const char *q)
{
    sb_jql_t *j = NULL;
    cr_assert_eq(sb_jql_parse(d, q, &j, err, sizeof err), -1, "%s parsed", q);
    cr_assert_null(j);
    return err;
}

TestSuite(jql, .init = setup, .fini = teardown);

Test(jql, syntax_errors_with_positions)
{
    cr_assert_str_eq(error_of("project = ITSM AND (status = Open"),
                     "Error in the JQL Query: Expecting ')' before the end of the query.");
    cr_assert_str_eq(error_of("summary ~ foo@bar"),
                     "Error in the JQL Query: The character '@' is a reserved JQL character. You must enclose it in a "
                     "string or use the escape '\\u0040' instead. (line 1, character 14)");
    cr_assert_str_eq(error_of("project = ITSM foo"),
                     "Error in the JQL Query: Expecting either 'OR' or 'AND' but got 'foo'. (line 1, character 16)");
    cr_assert(strstr(error_of("project ITSM"), "Expecting operator but got 'ITSM'."), "%s", err);
    cr_assert(strstr(error_of("project ="), "Expecting either a value, list or function before the end"), "%s", err);
    cr_assert(strstr(error_of("summary ~ \"open"), "The quoted string 'open' has not been completed."), "%s", err);
    cr_assert(strstr(error_of("project in ITSM"), "Expecting '(' but got 'ITSM'."), "%s", err);
}

Test(jql, syntax_error_wins_over_unknown_value)
{
    cr_assert_str_eq(error_of("project = NOPE AND (status = Open"),
                     "Error in the JQL Query: Expecting ')' before the end of the query.");
}

Test(jql, semantic_errors)
{
    cr_assert_str_eq(error_of("foo = bar"), "Field 'foo' does not exist or you do not have permission to view it.");
    cr_assert_str_eq(error_of("project = VULN"), "The value 'VULN' does not exist for the field 'project'.");
    cr_assert_str_eq(error_of("status ~ Open"), "The operator '~' is not supported by the 'status' field.");
    cr_assert_str_eq(error_of("assignee = nobody()"), "Unable to find JQL function 'nobody()'.");
    cr_assert(strstr(error_of("created > soon"), "Date value 'soon' for field 'created' is invalid."), "%s", err);
    cr_assert_str_eq(error_of("key = ITSM-999999"), "An issue with key 'ITSM-999999' does not exist for field 'key'.");
    cr_assert(strstr(error_of("project = ITSM ORDER BY a, b"), "Field 'a' does not exist"), "%s", err);
    cr_assert_str_eq(error_of("project = ITSM ORDER BY key, created, updated, priority, status, summary, reporter, assignee"),
                     "The ORDER BY clause can contain at most 7 fields.");
}

Test(jql, bounded)
{
    sb_jql_t *j;
    cr_assert_eq(sb_jql_parse(d, "order by key desc", &j, err, sizeof err), 0);
    cr_assert_not(sb_jql_bounded(j));
    sb_jql_free(j);
    cr_assert_eq(sb_jql_parse(d, "", &j, err, sizeof err), 0);
    cr_assert_not(sb_jql_bounded(j));
    sb_jql_free(j);
    cr_assert_eq(sb_jql_parse(d, "project = ITSM order by key", &j, err, sizeof err), 0);
    cr_assert(sb_jql_bounded(j));
    sb_jql_free(j);
}

Test(jql, matching)
{
    cr_assert_eq(count("project = ITSM"), 1100);
    cr_assert_eq(count("project in (HELP, HW)") + count("project = ITSM"), d->nissues);
    cr_assert_eq(count("project = ITSM AND resolution = Unresolved"), count("project = ITSM AND resolution is EMPTY"));
    cr_assert_eq(count("statusCategory != Done"), count("resolution is EMPTY"));
    cr_assert_eq(count("NOT project = ITSM"), d->nissues - 1100);
    cr_assert_eq(count("project = ITSM AND (priority = Highest OR priority = High)"),
                 count("project = ITSM AND priority in (Highest, High)"));
    cr_assert_eq(count("assignee is EMPTY") + count("assignee is not EMPTY"), d->nissues);
    cr_assert_eq(count("assignee != currentUser()") + count("assignee = currentUser()") + count("assignee is EMPTY"),
                 d->nissues);
    cr_assert(count("assignee = currentUser()") > 0);
    cr_assert_eq(count("key = ITSM-994 OR key = itsm-1042"), 2);
    cr_assert_eq(count("text ~ \"VPN disconnects Berlin\""), 1);
    cr_assert(count("created >= -7d") > 0 && count("created >= -7d") < count("created >= -30d"));
    cr_assert_eq(count("created >= -7d") + count("created < -7d"), d->nissues);
    cr_assert(count("\"Time to resolution\" = breached()") > 0);
    cr_assert(count("\"Request Type\" = \"Report a network outage\" AND project = ITSM AND resolution = Unresolved") > 10);
    char q[64];
    snprintf(q, sizeof q, "cf[%d] = \"Report a network outage\"", d->cf.request_type);
    cr_assert_eq(count(q), count("\"Request Type\" = \"Report a network outage\""));
    cr_assert_eq(count("labels = vpn AND reporter = 5b10ac8d82e05b22cc7d4ef5"), 1);
}

Test(jql, ordering)
{
    sb_jql_t *j;
    cr_assert_eq(sb_jql_parse(d, "project = ITSM ORDER BY created ASC", &j, err, sizeof err), 0);
    sb_jql_env_t env = {d, d->caller, ANCHOR};
    sb_issue_t **v;
    size_t n = sb_jql_run(j, &env, &v);
    for (size_t i = 1; i < n; i++)
        cr_assert_leq(v[i - 1]->created, v[i]->created);
    free(v);
    sb_jql_free(j);
    cr_assert_eq(sb_jql_parse(d, "key in (ITSM-1042, ITSM-994, HELP-2) ORDER BY key ASC", &j, err, sizeof err), 0);
    n = sb_jql_run(j, &env, &v);
    cr_assert_eq(n, 3);
    cr_assert_str_eq(v[0]->key, "HELP-2");
    cr_assert_str_eq(v[1]->key, "ITSM-994");
    cr_assert_str_eq(v[2]->key, "ITSM-1042");
    free(v);
    sb_jql_free(j);
    cr_assert_eq(sb_jql_parse(d, "project = ITSM ORDER BY priority DESC, created ASC", &j, err, sizeof err), 0);
    n = sb_jql_run(j, &env, &v);
    for (size_t i = 1; i < n; i++)
        cr_assert(v[i - 1]->priority < v[i]->priority ||
                  (v[i - 1]->priority == v[i]->priority && v[i - 1]->created <= v[i]->created));
    free(v);
    sb_jql_free(j);
}

Test(jql, every_queue_parses)
{
    for (int i = 0; i < d->nqueues; i++) {
        sb_jql_t *j;
        cr_assert_eq(sb_jql_parse(d, d->queues[i].jql, &j, err, sizeof err), 0, "%s: %s", d->queues[i].jql, err);
        sb_jql_free(j);
    }
}

Test(jql, limits)
{
    char *deep = malloc(400);
    memset(deep, '(', 200);
    strcpy(deep + 200, "project = ITSM");
    cr_assert(strstr(error_of(deep), "nested too deeply"), "%s", err);
    free(deep);
    char *longq = malloc(SB_JQL_MAX_LEN + 100);
    memset(longq, 'a', SB_JQL_MAX_LEN + 50);
    longq[SB_JQL_MAX_LEN + 50] = 0;
    cr_assert(strstr(error_of(longq), "too long"), "%s", err);
    free(longq);
}

/* Random token soup must parse or fail cleanly (ASan/UBSan watch). */
Test(jql, random_input_never_crashes)
{
    static const char *const T[] = {"project", "=", "ITSM", "AND", "OR", "NOT", "(", ")", ",", "in", "is", "EMPTY",
                                    "~", "!=", "\"Time to resolution\"", "breached()", "currentUser()", "-7d", "ORDER",
                                    "BY", "created", "DESC", "'x", "@", "cf[10010]", "startOfDay(-1)", "status", ">=",
                                    "not", "key", "ITSM-994", "\"", "!", "labels", "text", "%"};
    unsigned seed = 12345;
    char q[512];
    for (int i = 0; i < 3000; i++) {
        size_t len = 0;
        q[0] = 0;
        int n = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 12;
        for (int k = 0; k < n; k++) {
            const char *t = T[((seed = seed * 1103515245u + 12345u) >> 16) % (sizeof T / sizeof T[0])];
            len += (size_t)snprintf(q + len, sizeof q - len, "%s ", t);
        }
        sb_jql_t *j = NULL;
        if (sb_jql_parse(d, q, &j, err, sizeof err) == 0) {
            sb_jql_env_t env = {d, d->caller, ANCHOR};
            sb_jql_match(j, &env, d->issues[i % d->nissues]);
            sb_jql_free(j);
        } else {
            cr_assert(err[0], "error message for %s", q);
        }
    }
}

/* The site's custom fields: by name (all fields sharing it), cf[N] and
 * customfield_N; options checked like Jira does. */
Test(jql, custom_fields)
{
    int berlin = count("project = ITSM AND \"Affected office\" = Berlin");
    cr_assert_gt(berlin, 0);
    cr_assert_eq(count("project = ITSM AND cf[10017] = \"Berlin\""), berlin, "cf[N] is the same field");
    cr_assert_eq(count("project = ITSM AND customfield_10017 in (Berlin)"), berlin);
    cr_assert_eq(count("key = ITSM-994 AND \"Affected office\" = Berlin AND Impact = \"Significant / Large\""), 1);
    cr_assert_gt(count("project = HW AND Impact > 100"), 0, "the other Impact: HW's number field");
    int set = count("project = ITSM AND \"Affected office\" is not EMPTY"), unset = count("project = ITSM AND \"Affected office\" is EMPTY");
    cr_assert_eq(set + unset, count("project = ITSM"));
    cr_assert_eq(count("project = ITSM AND \"Affected office\" != Berlin") + berlin, set, "EMPTY never matches !=");
    cr_assert_str_eq(error_of("project = ITSM AND Device = Toaster"), "The option 'Toaster' for field 'Device' does not exist.");
    cr_assert_str_eq(error_of("project = ITSM AND \"Affected office\" ~ Berlin"),
                     "The operator '~' is not supported by the 'Affected office' field.");
    cr_assert(strstr(error_of("project = ITSM ORDER BY Device"), "does not sort by the custom field"));
    cr_assert_gt(count("project = ITSM AND \"Root cause\" ~ firmware"), 0);
}

/* cf[N] / customfield_N numbers are client input: one out of int's range
 * names no field (it was read with sscanf's "%d", undefined behaviour for
 * such a number), leading blanks and a sign still read as "%d" reads them. */
Test(jql, custom_field_numbers_out_of_range)
{
    cr_assert_str_eq(error_of("cf[99999999999999] = x"),
                     "Field 'cf[99999999999999]' does not exist or you do not have permission to view it.");
    cr_assert_str_eq(error_of("customfield_99999999999999999999 = 1"),
                     "Field 'customfield_99999999999999999999' does not exist or you do not have permission to view it.");
    cr_assert_str_eq(error_of("cf[2147483648] = x"),
                     "Field 'cf[2147483648]' does not exist or you do not have permission to view it.");
    int berlin = count("project = ITSM AND cf[10017] = Berlin");
    cr_assert_gt(berlin, 0);
    cr_assert_eq(count("project = ITSM AND cf[+10017] = Berlin"), berlin);
    cr_assert_eq(count("project = ITSM AND customfield_10017 = Berlin"), berlin);
}
