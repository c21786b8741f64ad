/* sb_data: see sb_data.h. The data set is built by sb_seed.c. */
#include "sb_data.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "sb_pack.h"

/* ---- constant tables (Jira Service Management "IT service" templates) ---- */

const sb_status_t sb_statuses[] = {
    {"10001", "Waiting for support", SB_CAT_NEW},
    {"10002", "Waiting for customer", SB_CAT_INDETERMINATE},
    {"3", "In Progress", SB_CAT_INDETERMINATE},
    {"10003", "Pending", SB_CAT_INDETERMINATE},
    {"10004", "Escalated", SB_CAT_INDETERMINATE},
    {"10005", "Resolved", SB_CAT_DONE},
    {"6", "Closed", SB_CAT_DONE},
    {"10006", "Canceled", SB_CAT_DONE},
};
const int sb_nstatuses = sizeof sb_statuses / sizeof sb_statuses[0];

const sb_named_t sb_issuetypes[] = {
    {"10100", "Service Request", "Created by Jira Service Management."},
    {"10101", "Incident", "For system outages or incidents. Created by Jira Service Management."},
    {"10102", "Problem", "Track underlying causes of incidents. Created by Jira Service Management."},
    {"10103", "Change", "Created by Jira Service Management."},
    {"10104", "Service request with approvals", "For requests that require approval. Created by Jira Service Management."},
};
const int sb_nissuetypes = sizeof sb_issuetypes / sizeof sb_issuetypes[0];

const sb_named_t sb_priorities[] = {
    {"1", "Highest", "This problem will block progress."},
    {"2", "High", "Serious problem that could block progress."},
    {"3", "Medium", "Has the potential to affect progress."},
    {"4", "Low", "Minor problem or easily worked around."},
    {"5", "Lowest", "Trivial problem with little or no impact on progress."},
};
const int sb_npriorities = sizeof sb_priorities / sizeof sb_priorities[0];

const sb_named_t sb_resolutions[] = {
    {"10000", "Done", "Work has been completed on this issue."},
    {"10001", "Won't Do", "This issue won't be actioned."},
    {"10002", "Duplicate", "The problem is a duplicate of an existing issue."},
    {"10003", "Cannot Reproduce", "All attempts at reproducing this issue failed."},
};
const int sb_nresolutions = sizeof sb_resolutions / sizeof sb_resolutions[0];

/* The JSM IT service workflow. "Resolve this issue" has a screen with a
 * required Resolution, as real resolve transitions do: a POST without
 * fields.resolution is refused (Cloud's 400). "Cancel request" sets Won't Do
 * through a post function. The portal offers resolve, cancel and reopen. */
const sb_transition_t sb_transitions[] = {
    {"11", "Respond to customer", ST_WFC, 0, -1, 0, -1, 0},
    {"21", "Start progress", ST_PROGRESS, 0, -1, 0, -1, 0},
    {"31", "Escalate", ST_ESCALATED, 0, -1, 0, -1, 0},
    {"41", "Pending", ST_PENDING, 0, -1, 0, -1, 0},
    {"51", "Resolve this issue", ST_RESOLVED, 0, -1, 1, -1, 1},
    {"61", "Cancel request", ST_CANCELED, 0, -1, 0, 1, 1},
    {"71", "Respond to support", ST_WFS, 0, ST_WFC, 0, -1, 0},
    {"81", "Reopen", ST_WFS, 1, -1, 0, -1, 1},
    {"91", "Close", ST_CLOSED, 1, -1, 0, -1, 0},
};
const int sb_ntransitions = sizeof sb_transitions / sizeof sb_transitions[0];

const sb_group_t sb_groups[] = {
    {"site-admins", "0c4ea2a6-54b4-4f5c-9d0a-3d1b7a0f0001"},
    {"jira-admins-sandbox", "0c4ea2a6-54b4-4f5c-9d0a-3d1b7a0f0002"},
    {"jira-servicemanagement-users-sandbox", "0c4ea2a6-54b4-4f5c-9d0a-3d1b7a0f0003"},
    {"service-desk-team", "0c4ea2a6-54b4-4f5c-9d0a-3d1b7a0f0004"},
    {"network-team", "0c4ea2a6-54b4-4f5c-9d0a-3d1b7a0f0005"},
    {"hardware-team", "0c4ea2a6-54b4-4f5c-9d0a-3d1b7a0f0006"},
};
const int sb_ngroups = sizeof sb_groups / sizeof sb_groups[0];

const sb_linktype_t sb_linktypes[] = {
    {"10000", "Blocks", "is blocked by", "blocks"},
    {"10001", "Cloners", "is cloned by", "clones"},
    {"10002", "Duplicate", "is duplicated by", "duplicates"},
    {"10003", "Relates", "relates to", "relates to"},
    {"10004", "Problem/Incident", "is caused by", "causes"},
};
const int sb_nlinktypes = sizeof sb_linktypes / sizeof sb_linktypes[0];


/* ---- deterministic randomness ---- */
uint64_t sb_rng_next(sb_rng_t *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int sb_rng_int(sb_rng_t *r, int n)
{
    return n <= 0 ? 0 : (int)(sb_rng_next(r) % (uint64_t)n);
}

/* ---- text helpers ---- */
int sb_icontains(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    if (!n)
        return 1;
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return 1;
    return 0;
}

int sb_prefix_match(const char *s, const char *needle)
{
    size_t n = strlen(needle);
    if (!n)
        return 1;
    for (const char *p = s; *p;) {
        if (strncasecmp(p, needle, n) == 0)
            return 1;
        while (*p && *p != ' ')
            p++;
        while (*p == ' ')
            p++;
    }
    return 0;
}

const char *sb_user_email(const sb_data_t *d, int user, int viewer)
{
    const sb_user_t *u = &d->users[user];
    return u->email_hidden && user != viewer ? NULL : u->email;
}

const char *sb_user_tz(const sb_data_t *d, int user, int viewer)
{
    const sb_user_t *u = &d->users[user];
    return u->tz_hidden && user != viewer ? NULL : u->time_zone;
}

/* ADF walking kept small: text nodes are appended, block nodes end with a
 * newline, and top-level blocks are separated by a blank line, so
 * "paragraph, paragraph" becomes "a\n\nb" and list items one per line. */
/* ---- lookups ---- */
static int parse_int(const char *s, long *out)
{
    char *end;
    if (!s || !*s || !isdigit((unsigned char)*s))
        return -1;
    long v = strtol(s, &end, 10);
    if (*end || v < 0)
        return -1;
    *out = v;
    return 0;
}

sb_issue_t *sb_issue_find(const sb_data_t *d, const char *s)
{
    long v;
    if (parse_int(s, &v) == 0) {
        if (v < SB_ISSUE_ID0 || v - SB_ISSUE_ID0 >= d->nissues)
            return NULL;
        return d->issues[v - SB_ISSUE_ID0];
    }
    const char *dash = s ? strrchr(s, '-') : NULL;
    if (!dash || dash == s || parse_int(dash + 1, &v) != 0)
        return NULL;
    for (int p = 0; p < d->nprojects; p++) {
        const sb_project_t *pr = &d->projects[p];
        size_t kl = strlen(pr->key);
        if ((size_t)(dash - s) == kl && strncasecmp(s, pr->key, kl) == 0) {
            if (v <= 0 || v >= pr->by_num_cap || pr->by_num[v] < 0)
                return NULL;
            return d->issues[pr->by_num[v]];
        }
    }
    return NULL;
}

int sb_user_find(const sb_data_t *d, const char *account_id)
{
    if (!account_id)
        return -1;
    for (int i = 0; i < d->nusers; i++)
        if (strcmp(d->users[i].account_id, account_id) == 0)
            return i;
    return -1;
}

int sb_user_find_any(const sb_data_t *d, const char *s)
{
    int u = sb_user_find(d, s);
    if (u >= 0 || !s)
        return u;
    for (int i = 0; i < d->nusers; i++)
        if (strcasecmp(d->users[i].email, s) == 0 || strcasecmp(d->users[i].display_name, s) == 0)
            return i;
    return -1;
}

int sb_project_find(const sb_data_t *d, const char *s)
{
    long v;
    if (!s)
        return -1;
    int num = parse_int(s, &v) == 0;
    for (int i = 0; i < d->nprojects; i++) {
        const sb_project_t *p = &d->projects[i];
        if ((num && p->id == v) || strcasecmp(p->key, s) == 0 || strcasecmp(p->name, s) == 0)
            return i;
    }
    return -1;
}

int sb_desk_find(const sb_data_t *d, const char *s)
{
    long v;
    if (!s)
        return -1;
    if (strncmp(s, "projectKey:", 11) == 0) {
        for (int i = 0; i < d->nprojects; i++)
            if (strcasecmp(d->projects[i].key, s + 11) == 0)
                return i;
        return -1;
    }
    if (strncmp(s, "projectId:", 10) == 0) {
        if (parse_int(s + 10, &v) != 0)
            return -1;
        for (int i = 0; i < d->nprojects; i++)
            if (d->projects[i].id == v)
                return i;
        return -1;
    }
    if (strncmp(s, "serviceDeskId:", 14) == 0)
        s += 14;
    if (parse_int(s, &v) == 0) {
        for (int i = 0; i < d->nprojects; i++)
            if (d->projects[i].desk_id == v)
                return i;
        return -1;
    }
    for (int i = 0; i < d->nprojects; i++)
        if (strcmp(d->projects[i].key, s) == 0)
            return i;
    return -1;
}

int sb_rtype_find(const sb_data_t *d, int project, const char *s)
{
    long v;
    int num = parse_int(s, &v) == 0;
    for (int i = 0; i < d->nrtypes; i++) {
        const sb_rtype_t *rt = &d->rtypes[i];
        if (project >= 0 && rt->project != project)
            continue;
        if ((num && rt->id == v) || (!num && s && strcasecmp(rt->name, s) == 0))
            return i;
    }
    return -1;
}

int sb_named_find(const sb_named_t *t, int n, const char *s)
{
    if (!s)
        return -1;
    for (int i = 0; i < n; i++)
        if (strcmp(t[i].id, s) == 0 || strcasecmp(t[i].name, s) == 0)
            return i;
    return -1;
}

int sb_status_find(const char *s)
{
    if (!s)
        return -1;
    for (int i = 0; i < sb_nstatuses; i++)
        if (strcmp(sb_statuses[i].id, s) == 0 || strcasecmp(sb_statuses[i].name, s) == 0)
            return i;
    return -1;
}

int sb_org_find(const sb_data_t *d, int id)
{
    for (int i = 0; i < d->norgs; i++)
        if (d->orgs[i].id == id && !d->orgs[i].deleted)
            return i;
    return -1;
}

const sb_queue_t *sb_queue_find(const sb_data_t *d, int project, int id)
{
    for (int i = 0; i < d->nqueues; i++)
        if (d->queues[i].id == id && d->queues[i].project == project)
            return &d->queues[i];
    return NULL;
}

/* ---- writes ---- */
static void project_index(sb_project_t *p, int num, int index)
{
    if (num >= p->by_num_cap) {
        int cap = p->by_num_cap ? p->by_num_cap : 64;
        while (cap <= num)
            cap *= 2;
        p->by_num = mem_realloc(p->by_num, (size_t)cap * sizeof(int));
        for (int i = p->by_num_cap; i < cap; i++)
            p->by_num[i] = -1;
        p->by_num_cap = cap;
    }
    p->by_num[num] = index;
}

sb_issue_t *sb_issue_create(sb_data_t *d, int project, int issuetype, int rtype, int reporter,
                            const char *summary, const char *description, int64_t now)
{
    if (d->nissues >= SB_MAX_ISSUES)
        return NULL;
    sb_project_t *p = &d->projects[project];
    sb_issue_t *is = mem_calloc(1, sizeof *is);
    is->index = d->nissues;
    is->id = SB_ISSUE_ID0 + d->nissues;
    is->project = project;
    is->num = p->next_num++;
    snprintf(is->key, sizeof is->key, "%s-%d", p->key, is->num);
    is->issuetype = issuetype;
    is->status = ST_WFS;
    is->priority = 2;
    is->resolution = -1;
    is->assignee = -1;
    is->reporter = reporter;
    is->creator = reporter;
    is->rtype = rtype;
    is->org = -1;
    is->summary = mem_strdup(summary ? summary : "");
    is->description = description ? mem_strdup(description) : NULL;
    is->created = is->updated = is->status_changed = now;
    if (reporter >= 0)
        sb_watcher_add(is, reporter); /* Jira's autowatch */
    d->issues[d->nissues++] = is;
    project_index(p, is->num, is->index);
    return is;
}

sb_comment_t *sb_comment_add(sb_data_t *d, sb_issue_t *is, int author, const char *text,
                             json_t *adf, int public_, int64_t now)
{
    if (is->ncomments >= SB_MAX_COMMENTS_PER_ISSUE)
        return NULL;
    if (is->ncomments == is->comments_cap) {
        is->comments_cap = is->comments_cap ? is->comments_cap * 2 : 4;
        is->comments = mem_realloc(is->comments, (size_t)is->comments_cap * sizeof *is->comments);
    }
    sb_comment_t *c = &is->comments[is->ncomments++];
    memset(c, 0, sizeof *c);
    c->id = d->next_comment_id++;
    c->author = author;
    c->text = mem_strdup(text ? text : "");
    c->adf = adf;
    if (adf)
        json_incref(adf);
    c->public_ = public_;
    c->created = c->updated = now;
    is->updated = now;
    if (public_ && !is->first_response && author >= 0 && !d->users[author].customer &&
        author != is->reporter)
        is->first_response = now;
    return c;
}

sb_worklog_t *sb_worklog_add(sb_data_t *d, sb_issue_t *is, int author, int seconds,
                             const char *text, int64_t started, int64_t now)
{
    if (is->nworklogs >= SB_MAX_WORKLOGS_PER_ISSUE)
        return NULL;
    if (is->nworklogs == is->worklogs_cap) {
        is->worklogs_cap = is->worklogs_cap ? is->worklogs_cap * 2 : 2;
        is->worklogs = mem_realloc(is->worklogs, (size_t)is->worklogs_cap * sizeof *is->worklogs);
    }
    sb_worklog_t *w = &is->worklogs[is->nworklogs++];
    w->id = d->next_worklog_id++;
    w->author = author;
    w->seconds = seconds;
    w->text = text ? mem_strdup(text) : NULL;
    w->started = started;
    w->created = now;
    is->updated = now;
    return w;
}

void sb_user_fill(sb_user_t *u, const char *id, const char *name, const char *email,
                      const char *tz, int customer)
{
    snprintf(u->account_id, sizeof u->account_id, "%s", id);
    snprintf(u->display_name, sizeof u->display_name, "%s", name);
    snprintf(u->email, sizeof u->email, "%s", email);
    snprintf(u->time_zone, sizeof u->time_zone, "%s", tz);
    u->customer = customer;
    u->active = 1;
    u->email_hidden = u->tz_hidden = 0;
    u->groups = 0;
}

int sb_user_add(sb_data_t *d, const char *email, const char *display_name, int customer)
{
    if (d->nusers >= SB_MAX_USERS)
        return -1;
    char id[80];
    /* JSM customer ids look like qm:<uuid>:<uuid>; derived from the email so
     * the same email gets the same id in every run. */
    uint64_t h = 1469598103934665603ULL;
    for (const char *p = email; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    snprintf(id, sizeof id, "qm:%08x-%04x-4%03x-8%03x-%012llx:%08x-%04x-%04x", (unsigned)(h >> 32),
             (unsigned)(h >> 16) & 0xffff, (unsigned)h & 0xfff, (unsigned)(h >> 20) & 0xfff,
             (unsigned long long)(h & 0xffffffffffffULL), (unsigned)h, (unsigned)(h >> 40) & 0xffff,
             (unsigned)d->nusers & 0xffff);
    int i = d->nusers++;
    sb_user_fill(&d->users[i], id, display_name, email, "UTC", customer);
    for (int p = 0; p < d->nprojects; p++)
        d->projects[p].customers[i] = 0;
    return i;
}

int sb_org_add(sb_data_t *d, const char *name, int64_t now)
{
    if (d->norgs >= SB_MAX_ORGS)
        return -1;
    sb_org_t *o = &d->orgs[d->norgs];
    memset(o, 0, sizeof *o);
    o->id = d->norgs + 1;
    snprintf(o->name, sizeof o->name, "%s", name);
    o->created = now;
    return d->norgs++;
}

int sb_org_add_member(sb_org_t *o, int user)
{
    for (int i = 0; i < o->nmembers; i++)
        if (o->members[i] == user)
            return 0;
    if (o->nmembers >= SB_MAX_USERS)
        return -1;
    if (o->nmembers == o->members_cap) {
        o->members_cap = o->members_cap ? o->members_cap * 2 : 8;
        o->members = mem_realloc(o->members, (size_t)o->members_cap * sizeof(int));
    }
    o->members[o->nmembers++] = user;
    return 0;
}

void sb_org_remove_member(sb_org_t *o, int user)
{
    for (int i = 0; i < o->nmembers; i++)
        if (o->members[i] == user) {
            memmove(&o->members[i], &o->members[i + 1], (size_t)(o->nmembers - i - 1) * sizeof(int));
            o->nmembers--;
            return;
        }
}

static char *dup_or_null(const char *s)
{
    return s ? mem_strdup(s) : NULL;
}

sb_change_t *sb_history_begin(sb_data_t *d, sb_issue_t *is, int author, int64_t now)
{
    if (is->nhistory >= SB_MAX_HISTORY)
        return NULL;
    if (is->nhistory == is->history_cap) {
        is->history_cap = is->history_cap ? is->history_cap * 2 : 4;
        is->history = mem_realloc(is->history, (size_t)is->history_cap * sizeof *is->history);
    }
    sb_change_t *c = &is->history[is->nhistory++];
    memset(c, 0, sizeof *c);
    c->id = d->next_change_id++;
    c->author = author;
    c->created = now;
    return c;
}

void sb_history_item(sb_change_t *c, const char *field, const char *field_id, int custom, const char *from,
                     const char *from_s, const char *to, const char *to_s)
{
    c->items = mem_realloc(c->items, (size_t)(c->nitems + 1) * sizeof *c->items);
    sb_change_item_t *it = &c->items[c->nitems++];
    it->field = mem_strdup(field);
    it->field_id = dup_or_null(field_id);
    it->custom = custom;
    it->from = dup_or_null(from);
    it->from_s = dup_or_null(from_s);
    it->to = dup_or_null(to);
    it->to_s = dup_or_null(to_s);
}

void sb_issue_history_clear(sb_issue_t *is)
{
    for (int h = 0; h < is->nhistory; h++) {
        for (int i = 0; i < is->history[h].nitems; i++) {
            sb_change_item_t *it = &is->history[h].items[i];
            free(it->field);
            free(it->field_id);
            free(it->from);
            free(it->from_s);
            free(it->to);
            free(it->to_s);
        }
        free(is->history[h].items);
    }
    is->nhistory = 0;
}

void sb_issue_set_status(sb_data_t *d, sb_issue_t *is, int to, int resolution, int author, int64_t now)
{
    int from = is->status, old_res = is->resolution;
    int was_done = sb_statuses[from].cat == SB_CAT_DONE;
    int done = sb_statuses[to].cat == SB_CAT_DONE;
    is->status = to;
    is->status_changed = is->updated = now;
    if (done && !was_done) {
        is->resolved = now;
        is->resolution = resolution == SB_RES_AUTO ? (to == ST_CANCELED ? 1 : 0) : resolution;
    } else if (!done) {
        is->resolved = 0;
        is->resolution = -1;
    } else if (resolution >= 0) {
        is->resolution = resolution;
    }
    if (from == to && old_res == is->resolution)
        return;
    sb_change_t *c = sb_history_begin(d, is, author, now);
    if (!c)
        return;
    if (from != to)
        sb_history_item(c, "status", "status", 0, sb_statuses[from].id, sb_statuses[from].name, sb_statuses[to].id,
                        sb_statuses[to].name);
    if (old_res != is->resolution)
        sb_history_item(c, "resolution", "resolution", 0, old_res >= 0 ? sb_resolutions[old_res].id : NULL,
                        old_res >= 0 ? sb_resolutions[old_res].name : NULL,
                        is->resolution >= 0 ? sb_resolutions[is->resolution].id : NULL,
                        is->resolution >= 0 ? sb_resolutions[is->resolution].name : NULL);
}

static int transitions_for(const sb_issue_t *is, int *out, int max, int customer)
{
    int n = 0, done = sb_statuses[is->status].cat == SB_CAT_DONE;
    for (int i = 0; i < sb_ntransitions && n < max; i++) {
        const sb_transition_t *t = &sb_transitions[i];
        if (t->to == is->status || (customer && !t->customer))
            continue;
        if (t->from_status >= 0 ? t->from_status != is->status : t->from_done != done)
            continue;
        out[n++] = i;
    }
    return n;
}

int sb_transitions_for(const sb_issue_t *is, int *out, int max)
{
    return transitions_for(is, out, max, 0);
}

int sb_customer_transitions_for(const sb_issue_t *is, int *out, int max)
{
    return transitions_for(is, out, max, 1);
}

/* ---- labels ---- */
int sb_label_add(sb_issue_t *is, const char *label)
{
    for (int i = 0; i < is->nlabels; i++)
        if (!strcmp(is->labels[i], label))
            return 0; /* labels are a set */
    if (is->nlabels >= SB_MAX_LABELS)
        return -1;
    if (is->nlabels == is->labels_cap) {
        is->labels_cap = is->labels_cap ? is->labels_cap * 2 : 4;
        is->labels = mem_realloc(is->labels, (size_t)is->labels_cap * sizeof *is->labels);
    }
    is->labels[is->nlabels++] = mem_strdup(label);
    return 0;
}

void sb_label_remove(sb_issue_t *is, const char *label)
{
    for (int i = 0; i < is->nlabels; i++)
        if (!strcmp(is->labels[i], label)) {
            free(is->labels[i]);
            memmove(&is->labels[i], &is->labels[i + 1], (size_t)(is->nlabels - i - 1) * sizeof *is->labels);
            is->nlabels--;
            return;
        }
}

void sb_labels_clear(sb_issue_t *is)
{
    for (int i = 0; i < is->nlabels; i++)
        free(is->labels[i]);
    is->nlabels = 0;
}

int sb_label_check(const char *label, char *err, size_t errsz)
{
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)label; *p; p++) {
        if (isspace(*p)) {
            snprintf(err, errsz, "The label '%.300s' contains spaces which is invalid.", label);
            return -1;
        }
        chars += (*p & 0xc0) != 0x80; /* UTF-8: count characters, not bytes */
    }
    if (!chars) {
        snprintf(err, errsz, "The label '' is invalid: a label cannot be empty.");
        return -1;
    }
    if (chars > SB_LABEL_MAX) {
        snprintf(err, errsz, "The label '%.300s' exceeds the maximum length for a single label of %d characters.",
                 label, SB_LABEL_MAX);
        return -1;
    }
    return 0;
}

/* ---- attachments ---- */
sb_attachment_t *sb_attachment_add(sb_data_t *d, sb_issue_t *is, int author, const char *filename,
                                   const char *mime, unsigned char *bytes, int size, int64_t now)
{
    if (is->nattachments >= SB_MAX_ATTACHMENTS)
        return NULL;
    if (is->nattachments == is->attachments_cap) {
        is->attachments_cap = is->attachments_cap ? is->attachments_cap * 2 : 2;
        is->attachments = mem_realloc(is->attachments, (size_t)is->attachments_cap * sizeof *is->attachments);
    }
    sb_attachment_t *a = &is->attachments[is->nattachments++];
    memset(a, 0, sizeof *a);
    a->id = d->next_attachment_id++;
    a->author = author;
    snprintf(a->filename, sizeof a->filename, "%s", filename);
    snprintf(a->mime, sizeof a->mime, "%s", mime);
    a->content = bytes;
    a->size = size;
    a->created = now;
    if (now > is->updated)
        is->updated = now;
    return a;
}

sb_attachment_t *sb_attachment_find(const sb_data_t *d, long id, sb_issue_t **owner)
{
    for (int i = 0; i < d->nissues; i++)
        for (int a = 0; a < d->issues[i]->nattachments; a++)
            if (d->issues[i]->attachments[a].id == id) {
                if (owner)
                    *owner = d->issues[i];
                return &d->issues[i]->attachments[a];
            }
    return NULL;
}

const unsigned char *sb_attachment_bytes(const sb_attachment_t *a, int *owned)
{
    *owned = 0;
    if (a->content || a->size <= 0)
        return a->content ? a->content : (const unsigned char *)"";
    unsigned char *b = mem_alloc((size_t)a->size);
    *owned = 1;
    if (!strncmp(a->mime, "text/", 5)) { /* readable lines */
        char line[96];
        int off = 0, n = 0;
        while (off < a->size) {
            int len = snprintf(line, sizeof line, "%s line %d: sandbox attachment %d\n", a->filename, ++n, a->id);
            if (len < 0 || len >= (int)sizeof line) /* a long name: the line as cut, never read past it */
                len = (int)sizeof line - 1;
            int k = len < a->size - off ? len : a->size - off;
            memcpy(b + off, line, (size_t)k);
            off += k;
        }
        return b;
    }
    sb_rng_t r = {(uint64_t)a->id * 0x9e3779b97f4a7c15ULL};
    for (int i = 0; i < a->size; i += 8) {
        uint64_t x = sb_rng_next(&r);
        memcpy(b + i, &x, (size_t)(a->size - i < 8 ? a->size - i : 8));
    }
    return b;
}

/* ---- watchers, links ---- */
int sb_watcher_add(sb_issue_t *is, int user)
{
    for (int i = 0; i < is->nwatchers; i++)
        if (is->watchers[i] == user)
            return 0;
    if (is->nwatchers >= SB_MAX_WATCHERS)
        return -1;
    is->watchers[is->nwatchers++] = user;
    return 0;
}

void sb_watcher_remove(sb_issue_t *is, int user)
{
    for (int i = 0; i < is->nwatchers; i++)
        if (is->watchers[i] == user) {
            memmove(&is->watchers[i], &is->watchers[i + 1], (size_t)(is->nwatchers - i - 1) * sizeof(int));
            is->nwatchers--;
            return;
        }
}

int sb_link_add(sb_data_t *d, int type, int outward, int inward)
{
    if (d->nlinks >= SB_MAX_LINKS)
        return -1;
    if (d->nlinks == d->links_cap) {
        d->links_cap = d->links_cap ? d->links_cap * 2 : 64;
        d->links = mem_realloc(d->links, (size_t)d->links_cap * sizeof *d->links);
    }
    sb_link_t *l = &d->links[d->nlinks];
    l->id = d->next_link_id++;
    l->type = type;
    l->outward = outward;
    l->inward = inward;
    l->deleted = 0;
    return d->nlinks++;
}

int sb_linktype_find(const char *s)
{
    if (!s)
        return -1;
    for (int i = 0; i < sb_nlinktypes; i++)
        if (!strcmp(sb_linktypes[i].id, s) || !strcasecmp(sb_linktypes[i].name, s))
            return i;
    return -1;
}

/* ---- site custom fields ---- */
int sb_xfield_find(const sb_data_t *d, const char *id)
{
    for (int i = 0; id && i < d->nxfields; i++)
        if (!strcmp(d->xfields[i].id, id))
            return i;
    return -1;
}

int sb_xfield_option(const sb_xfield_t *f, const char *s)
{
    if (!s || f->type != SB_XT_SELECT)
        return -1;
    char id[16];
    for (int i = 0; i < f->noptions; i++) {
        snprintf(id, sizeof id, "%d", f->option0 + i);
        if (!strcmp(id, s) || !strcasecmp(f->options[i], s))
            return i;
    }
    return -1;
}

int sb_xfield_in_project(const sb_xfield_t *f, int project)
{
    return f->project < 0 || f->project == project;
}

/* ---- temporary attachments ---- */
sb_tempfile_t *sb_tempfile_add(sb_data_t *d, int project, int uploader, const char *filename, const char *mime,
                               unsigned char *bytes, int size, int64_t now)
{
    for (int i = 0; i < SB_MAX_TEMPFILES; i++) {
        sb_tempfile_t *t = &d->tempfiles[i];
        if (t->bytes)
            continue;
        snprintf(t->id, sizeof t->id, "temp%llu", (unsigned long long)d->next_temp_id++);
        t->project = project;
        t->uploader = uploader;
        snprintf(t->filename, sizeof t->filename, "%s", filename);
        snprintf(t->mime, sizeof t->mime, "%s", mime);
        t->bytes = bytes;
        t->size = size;
        t->created = now;
        return t;
    }
    return NULL;
}

sb_tempfile_t *sb_tempfile_find(sb_data_t *d, const char *id)
{
    for (int i = 0; id && i < SB_MAX_TEMPFILES; i++)
        if (d->tempfiles[i].bytes && !strcmp(d->tempfiles[i].id, id))
            return &d->tempfiles[i];
    return NULL;
}

void sb_tempfile_release(sb_tempfile_t *t)
{
    free(t->bytes);
    memset(t, 0, sizeof *t);
}

void sb_data_free(sb_data_t *d)
{
    if (!d)
        return;
    for (int i = 0; i < d->nissues; i++) {
        sb_issue_t *is = d->issues[i];
        free(is->summary);
        free(is->description);
        json_decref(is->description_adf);
        for (int c = 0; c < is->ncomments; c++) {
            free(is->comments[c].text);
            json_decref(is->comments[c].adf);
        }
        free(is->comments);
        for (int w = 0; w < is->nworklogs; w++)
            free(is->worklogs[w].text);
        free(is->worklogs);
        for (int a = 0; a < is->nattachments; a++)
            free(is->attachments[a].content);
        free(is->attachments);
        free(is->approvals);
        sb_issue_history_clear(is);
        free(is->history);
        sb_labels_clear(is);
        free(is->labels);
        for (int x = 0; x < SB_MAX_XFIELDS; x++)
            free(is->xv[x].s);
        free(is);
    }
    free(d->issues);
    free(d->links);
    for (int t = 0; t < SB_MAX_TEMPFILES; t++)
        free(d->tempfiles[t].bytes);
    free(d->tempfiles);
    for (int p = 0; p < d->nprojects; p++) {
        free(d->projects[p].by_num);
        free(d->projects[p].customers);
        free(d->projects[p].orgs);
    }
    free(d->projects);
    for (int o = 0; o < d->norgs; o++)
        free(d->orgs[o].members);
    free(d->orgs);
    free(d->users);
    free(d->rtypes);
    free(d->queues);
    free(d);
}
