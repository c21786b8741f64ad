/* Seeded data set invariants: determinism, size, the article's issues and
 * queues, consistency of statuses/resolutions/SLA, ADF round trip. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "sb_data.h"

#define ANCHOR 1790000000000LL

Test(data, deterministic_per_seed)
{
    sb_data_t *a = sb_data_new(1, ANCHOR, "agent@sandbox.test"), *b = sb_data_new(1, ANCHOR, "agent@sandbox.test");
    sb_data_t *c = sb_data_new(2, ANCHOR, "agent@sandbox.test");
    cr_assert_eq(a->nissues, b->nissues);
    for (int i = 0; i < a->nissues; i++) {
        cr_assert_str_eq(a->issues[i]->key, b->issues[i]->key);
        cr_assert_str_eq(a->issues[i]->summary, b->issues[i]->summary);
        cr_assert_eq(a->issues[i]->created, b->issues[i]->created);
        cr_assert_eq(a->issues[i]->ncomments, b->issues[i]->ncomments);
    }
    cr_assert_eq(a->cf.request_type, 10010, "seed 1 uses customfield_10010 for Request Type");
    cr_assert_neq(a->cf.request_type, c->cf.request_type, "custom field ids differ per site");
    sb_data_free(a);
    sb_data_free(b);
    sb_data_free(c);
}

Test(data, shape)
{
    sb_data_t *d = sb_data_new(1, ANCHOR, "agent@sandbox.test");
    cr_assert_geq(d->nprojects, 3);
    cr_assert_geq(d->nissues, 500);
    cr_assert_geq(sb_project_find(d, "ITSM"), 0);
    cr_assert_eq(sb_desk_find(d, "2"), sb_project_find(d, "ITSM"));
    cr_assert_eq(sb_desk_find(d, "projectKey:ITSM"), sb_desk_find(d, "projectId:10002"));
    int outages = 0, hardware = 0;
    for (int i = 0; i < d->nqueues; i++) {
        outages += !strcmp(d->queues[i].name, "Network Outages") && d->projects[d->queues[i].project].desk_id == 2;
        hardware += !strcmp(d->queues[i].name, "Hardware Requests");
    }
    cr_assert_eq(outages, 1);
    cr_assert_geq(hardware, 1);
    for (int i = 0; i < d->nusers; i++) {
        cr_assert(d->users[i].account_id[0] && d->users[i].time_zone[0]); /* hidden, not missing */
        for (int k = i + 1; k < d->nusers; k++)
            cr_assert_str_neq(d->users[i].account_id, d->users[k].account_id);
    }
    cr_assert_geq(sb_user_find(d, "5b10ac8d82e05b22cc7d4ef5"), 0);
    cr_assert_str_eq(d->users[d->caller].email, "agent@sandbox.test");
    sb_data_free(d);
}

Test(data, issues_consistent)
{
    sb_data_t *d = sb_data_new(1, ANCHOR, "agent@sandbox.test");
    int internal = 0, breached = 0, approvals = 0, orgs = 0;
    for (int i = 0; i < d->nissues; i++) {
        const sb_issue_t *is = d->issues[i];
        cr_assert_eq(sb_issue_find(d, is->key), is);
        int done = sb_statuses[is->status].cat == SB_CAT_DONE;
        cr_assert_eq(done, is->resolution >= 0, "%s", is->key);
        cr_assert_eq(done, is->resolved != 0, "%s", is->key);
        cr_assert_leq(is->created, ANCHOR);
        for (int c = 0; c < is->ncomments; c++) {
            cr_assert_geq(is->comments[c].created, is->created, "%s", is->key);
            internal += !is->comments[c].public_;
        }
        sb_sla_t s;
        sb_issue_sla(is, 1, ANCHOR, &s);
        if (s.breached) {
            cr_assert_lt(s.remaining_ms, 0);
            breached++;
        }
        approvals += is->napprovals;
        orgs += is->org >= 0;
    }
    cr_assert_gt(internal, 0);
    cr_assert_gt(breached, 0);
    cr_assert_gt(approvals, 0);
    cr_assert_gt(orgs, 0);
    const sb_issue_t *a = sb_issue_find(d, "ITSM-994"), *b = sb_issue_find(d, "itsm-1042");
    cr_assert(a && b);
    cr_assert_geq(a->ncomments, 5);
    cr_assert_geq(b->ncomments, 3);
    cr_assert(strstr(b->comments[0].text, "device logs"));
    cr_assert(strstr(b->description, "Steps to reproduce"));
    sb_data_free(d);
}

Test(data, adf_round_trip)
{
    const char *text = "First paragraph\nsecond line\n\n- one\n- two\n\n1. a\n2. b";
    json_t *doc = sb_adf_from_text(text);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "type")), "doc");
    json_t *content = json_object_get(doc, "content");
    cr_assert_eq(json_array_size(content), 3);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(content, 1), "type")), "bulletList");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(content, 2), "type")), "orderedList");
    char *back = sb_adf_text(doc);
    cr_assert(strstr(back, "First paragraph\nsecond line"), "%s", back);
    cr_assert(strstr(back, "one\ntwo"), "%s", back);
    free(back);
    json_decref(doc);
    json_t *notadf = json_pack("{s:s}", "type", "paragraph");
    cr_assert_null(sb_adf_text(notadf));
    json_decref(notadf);
}

Test(data, transitions_and_writes)
{
    sb_data_t *d = sb_data_new(1, ANCHOR, "agent@sandbox.test");
    sb_issue_t *is = sb_issue_create(d, 0, 0, -1, 0, "x", NULL, ANCHOR);
    cr_assert_str_eq(is->key, "HELP-181");
    int t[16], n = sb_transitions_for(is, t, 16);
    cr_assert_gt(n, 0);
    int resolve = -1;
    for (int i = 0; i < n; i++)
        if (!strcmp(sb_transitions[t[i]].name, "Resolve this issue"))
            resolve = t[i];
    cr_assert_geq(resolve, 0);
    sb_issue_set_status(d, is, sb_transitions[resolve].to, SB_RES_AUTO, 0, ANCHOR + 1000);
    cr_assert_eq(is->resolution, 0);
    cr_assert_eq(is->resolved, ANCHOR + 1000);
    n = sb_transitions_for(is, t, 16);
    cr_assert_str_eq(sb_transitions[t[0]].name, "Reopen");
    sb_comment_t *c = sb_comment_add(d, is, 3, "hello", NULL, 1, ANCHOR + 2000);
    cr_assert_eq(is->first_response, ANCHOR + 2000, "first public agent comment stops the first-response SLA");
    cr_assert_eq(c->id + 1, d->next_comment_id);
    sb_data_free(d);
}
