/* Seeded data set invariants: determinism, size, the article's issues and
 * queues, consistency of statuses/resolutions/SLA, ADF round trip. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "sb_adf.h"
#include "sb_render.h"
#include "sb_seed.h"
#include "sb_sla.h"

#define ANCHOR 1790000000000LL

Test(data, deterministic_per_seed)
{
    sb_data_t *a = sb_seed_data(1, ANCHOR, "agent@sandbox.test"), *b = sb_seed_data(1, ANCHOR, "agent@sandbox.test");
    sb_data_t *c = sb_seed_data(2, ANCHOR, "agent@sandbox.test");
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
    sb_data_t *d = sb_seed_data(1, ANCHOR, "agent@sandbox.test");
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
    sb_data_t *d = sb_seed_data(1, ANCHOR, "agent@sandbox.test");
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
    char *back = sb_adf_text(doc, NULL);
    cr_assert(strstr(back, "First paragraph\nsecond line"), "%s", back);
    cr_assert(strstr(back, "one\ntwo"), "%s", back);
    free(back);
    json_decref(doc);
    json_t *notadf = json_pack("{s:s}", "type", "paragraph");
    int too_long = 1;
    cr_assert_null(sb_adf_text(notadf, &too_long));
    cr_assert_eq(too_long, 0, "not ADF is not 'too long'");
    json_decref(notadf);
}

/* Issue 24: a buffer that fails is reported, never used cut. An ADF text
 * over SB_MAX_TEXT comes back NULL with too_long set (the routes answer
 * Jira's "too long"); one byte under it comes back whole. */
Test(data, adf_text_over_the_limit_is_refused_not_cut)
{
    char *big = malloc(SB_MAX_TEXT + 2);
    memset(big, 'x', SB_MAX_TEXT + 1);
    big[SB_MAX_TEXT + 1] = 0;
    json_t *doc = sb_adf_from_text(big);
    int too_long = 0;
    cr_assert_null(sb_adf_text(doc, &too_long));
    cr_assert_eq(too_long, 1);
    json_decref(doc);
    big[SB_MAX_TEXT - 1] = 0;
    doc = sb_adf_from_text(big);
    char *back = sb_adf_text(doc, &too_long);
    cr_assert_not_null(back);
    cr_assert_eq(too_long, 0);
    cr_assert_eq(strlen(back), SB_MAX_TEXT - 1);
    free(back);
    json_decref(doc);
    free(big);
}

/* The rendered HTML of the longest text made only of characters that
 * escape the longest ('"' is 6 bytes) is whole: its buffer was 4 x
 * SB_MAX_TEXT, which rendered such a description as "". */
Test(data, rendered_html_of_a_worst_case_text_is_whole)
{
    size_t n = SB_MAX_TEXT - 1;
    char *text = malloc(n + 1);
    memset(text, '"', n);
    text[n] = 0;
    json_t *h = sb_html_json(text);
    cr_assert(json_is_string(h));
    const char *v = json_string_value(h);
    cr_assert_eq(strlen(v), 6 * n + 7, "length %zu", strlen(v));
    cr_assert(!strncmp(v, "<p>&quot;", 9));
    cr_assert(!strcmp(v + strlen(v) - 10, "&quot;</p>"));
    json_decref(h);
    memset(text, '\n', n); /* lone and paired newlines: "<br/>\n", "</p>\n<p>" */
    text[0] = 'a';
    h = sb_html_json(text);
    cr_assert(json_string_length(h) > 4 * SB_MAX_TEXT - 100, "length %zu", json_string_length(h));
    json_decref(h);
    free(text);
}

Test(data, transitions_and_writes)
{
    sb_data_t *d = sb_seed_data(1, ANCHOR, "agent@sandbox.test");
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

/* Reopened requests: HW-7 (open again) and HW-8 (resolved twice). */
Test(data, sla_cycles_of_reopened_requests)
{
    sb_data_t *d = sb_seed_data(1, ANCHOR, "agent@sandbox.test");
    sb_sla_t cyc[SB_MAX_SLA_CYCLES], cur;
    const sb_issue_t *hw7 = sb_issue_find(d, "HW-7"), *hw8 = sb_issue_find(d, "HW-8");
    int n = sb_issue_sla_cycles(hw7, 1, ANCHOR, cyc, SB_MAX_SLA_CYCLES);
    cr_assert_eq(n, 3);
    cr_assert(cyc[0].stop && cyc[0].breached, "the first resolution took 30 h of a 24 h goal");
    cr_assert(cyc[1].stop && !cyc[1].breached);
    cr_assert(!cyc[2].stop && !cyc[2].breached, "ongoing, 3 h in");
    sb_issue_sla(hw7, 1, ANCHOR, &cur);
    cr_assert_eq(cur.start, cyc[2].start, "the current cycle is the ongoing one");
    n = sb_issue_sla_cycles(hw8, 1, ANCHOR, cyc, SB_MAX_SLA_CYCLES);
    cr_assert_eq(n, 2);
    cr_assert(cyc[0].breached && !cyc[1].breached && cyc[1].stop);
    sb_issue_sla(hw8, 1, ANCHOR, &cur);
    cr_assert_eq(cur.stop, cyc[1].stop, "resolved: the latest completed cycle, not the oldest");
    cr_assert_eq(sb_issue_sla_cycles(hw7, 0, ANCHOR, cyc, SB_MAX_SLA_CYCLES), 1, "first response has one cycle");
    int reopened = 0; /* and the seed reopens others */
    for (int i = 0; i < d->nissues; i++)
        reopened += sb_issue_sla_cycles(d->issues[i], 1, ANCHOR, cyc, SB_MAX_SLA_CYCLES) > 1;
    cr_assert_gt(reopened, 20);
    sb_data_free(d);
}

Test(data, history_records_status_resolution_and_keeps_the_newest_cycles)
{
    sb_data_t *d = sb_seed_data(1, ANCHOR, "agent@sandbox.test");
    sb_issue_t *is = sb_issue_create(d, 1, 1, -1, 0, "x", NULL, ANCHOR);
    int64_t t = ANCHOR;
    for (int i = 0; i < SB_MAX_SLA_CYCLES + 4; i++) {
        sb_issue_set_status(d, is, 5 /* Resolved */, 2 /* Duplicate */, 3, t += 1000);
        sb_issue_set_status(d, is, 0, SB_RES_AUTO, 0, t += 1000);
    }
    const sb_change_t *c = &is->history[0];
    cr_assert_eq(c->nitems, 2);
    cr_assert_str_eq(c->items[0].field, "status");
    cr_assert_str_eq(c->items[1].field, "resolution");
    cr_assert_str_eq(c->items[1].to_s, "Duplicate");
    cr_assert_null(c->items[1].from, "unresolved before");
    cr_assert_eq(c->author, 3);
    sb_sla_t cyc[SB_MAX_SLA_CYCLES];
    int n = sb_issue_sla_cycles(is, 1, t, cyc, SB_MAX_SLA_CYCLES);
    cr_assert_eq(n, SB_MAX_SLA_CYCLES, "bounded");
    cr_assert_eq(cyc[n - 1].stop, 0, "the newest (ongoing) cycle is kept");
    cr_assert_eq(cyc[n - 1].start, t);
    sb_data_free(d);
}

Test(data, labels_follow_clouds_rules)
{
    char err[400], big[300];
    cr_assert_eq(sb_label_check("vpn", err, sizeof err), 0);
    cr_assert_eq(sb_label_check("two words", err, sizeof err), -1);
    cr_assert_str_eq(err, "The label 'two words' contains spaces which is invalid.");
    memset(big, 'x', 255);
    big[255] = 0;
    cr_assert_eq(sb_label_check(big, err, sizeof err), 0, "255 characters");
    big[255] = 'x', big[256] = 0;
    cr_assert_eq(sb_label_check(big, err, sizeof err), -1);
    cr_assert(strstr(err, "maximum length for a single label of 255 characters"));
    char utf[800] = "";
    for (int i = 0; i < 255; i++)
        strcat(utf, "é"); /* 255 characters, 510 bytes */
    cr_assert_eq(sb_label_check(utf, err, sizeof err), 0, "characters, not bytes");
    sb_data_t *d = sb_seed_data(1, ANCHOR, "agent@sandbox.test");
    sb_issue_t *is = sb_issue_create(d, 0, 0, -1, 0, "x", NULL, ANCHOR);
    for (int i = 0; i < 30; i++) {
        char l[16];
        snprintf(l, sizeof l, "l%d", i);
        cr_assert_eq(sb_label_add(is, l), 0);
    }
    cr_assert_eq(sb_label_add(is, "l3"), 0);
    cr_assert_eq(is->nlabels, 30, "a set, and more than 4");
    sb_label_remove(is, "l0");
    cr_assert_str_eq(is->labels[0], "l1");
    sb_data_free(d);
}

Test(data, prefix_match_privacy_and_duplicate_field_names)
{
    cr_assert(sb_prefix_match("Lena Hoffmann", "hoff"));
    cr_assert(sb_prefix_match("Lena Hoffmann", "lena h"));
    cr_assert(!sb_prefix_match("Lena Hoffmann", "offmann"));
    cr_assert(sb_prefix_match("lena.hoffmann@example.com", "lena.ho"));
    cr_assert(!sb_prefix_match("lena.hoffmann@example.com", "example"));
    sb_data_t *d = sb_seed_data(1, ANCHOR, "agent@sandbox.test");
    int customers = 0, hidden_email = 0, hidden_tz = 0;
    for (int u = 0; u < d->nusers; u++) {
        if (!d->users[u].customer)
            continue;
        customers++;
        hidden_email += sb_user_email(d, u, d->caller) == NULL;
        hidden_tz += sb_user_tz(d, u, d->caller) == NULL;
        cr_assert_not_null(sb_user_email(d, u, u), "everyone sees their own");
    }
    cr_assert_gt(hidden_email, customers / 2);
    cr_assert_gt(hidden_tz, customers / 2);
    cr_assert_not_null(sb_user_email(d, d->caller, d->caller));
    int impact = 0, urgency = 0, scoped = 0;
    for (int i = 0; i < d->nxfields; i++) {
        impact += !strcmp(d->xfields[i].name, "Impact");
        urgency += !strcmp(d->xfields[i].name, "Urgency");
        scoped += d->xfields[i].team_managed;
        cr_assert_eq(sb_xfield_find(d, d->xfields[i].id), i);
    }
    cr_assert_eq(impact, 2);
    cr_assert_eq(urgency, 2);
    cr_assert_eq(scoped, 1);
    /* request type forms: "Request new hardware" does not start with the summary */
    int rt = sb_rtype_find(d, sb_project_find(d, "ITSM"), "Request new hardware");
    cr_assert_null(d->rtypes[rt].layout[0].field);
    int hidden = 0;
    for (int i = 0; i < d->rtypes[rt].nlayout; i++)
        hidden += !d->rtypes[rt].layout[i].visible;
    cr_assert_eq(hidden, 1);
    sb_data_free(d);
}

Test(data, attachments_watchers_links)
{
    sb_data_t *d = sb_seed_data(1, ANCHOR, "agent@sandbox.test");
    sb_issue_t *is = sb_issue_create(d, 0, 0, -1, 7, "x", NULL, ANCHOR);
    cr_assert_eq(is->nwatchers, 1, "the reporter watches");
    cr_assert_eq(is->watchers[0], 7);
    unsigned char *bytes = malloc(3);
    memcpy(bytes, "abc", 3);
    sb_attachment_t *a = sb_attachment_add(d, is, 0, "a.txt", "text/plain", bytes, 3, ANCHOR);
    sb_issue_t *owner;
    cr_assert_eq(sb_attachment_find(d, a->id, &owner), a);
    cr_assert_eq(owner, is);
    int owned;
    cr_assert(!memcmp(sb_attachment_bytes(a, &owned), "abc", 3) && !owned);
    const sb_issue_t *j = sb_issue_find(d, "ITSM-1042");
    const sb_attachment_t *seeded = &j->attachments[0];
    const unsigned char *gen = sb_attachment_bytes(seeded, &owned);
    cr_assert(owned);
    cr_assert(!memcmp(gen, "sleepstudy-report.html line 1", 29), "text attachments read as lines");
    free((void *)gen);
    int l = sb_link_add(d, sb_linktype_find("Blocks"), is->index, j->index);
    cr_assert_geq(l, 0);
    cr_assert_str_eq(sb_linktypes[d->links[l].type].outward, "blocks");
    cr_assert_eq(sb_linktype_find("10004"), sb_linktype_find("problem/incident"));
    sb_tempfile_t *t = sb_tempfile_add(d, 1, 0, "f", "text/plain", malloc(1), 1, ANCHOR);
    cr_assert_eq(sb_tempfile_find(d, t->id), t);
    char id[40];
    snprintf(id, sizeof id, "%s", t->id);
    sb_tempfile_release(t);
    cr_assert_null(sb_tempfile_find(d, id));
    sb_data_free(d);
}
