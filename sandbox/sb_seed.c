/* sb_seed: see sb_seed.h. Table driven: projects, request types and queues
 * are constants; users, issues, comments and the rest come from a
 * splitmix64 stream (sb_rng_*) seeded with the site seed, so a seed fully
 * determines the data set relative to its anchor time. */
#include "sb_seed.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "sb_pack.h"

#define MIN_MS (60LL * 1000)
#define HOUR_MS (60 * MIN_MS)
#define DAY_MS (24 * HOUR_MS)

/* ---- the seed's tables (Jira Service Management "IT service" templates) ---- */
typedef struct proj_def_s {
    const char *key, *name;
    int nissues;
} proj_def_t;
static const proj_def_t PROJECTS[] = {
    {"HELP", "IT Help Desk", 180},
    {"ITSM", "IT Service Management", 1100},
    {"HW", "Hardware & Facilities", 160},
};
#define NPROJ ((int)(sizeof PROJECTS / sizeof PROJECTS[0]))

/* Site custom fields beyond JSM's own. Two pairs share a name: "Impact" (a
 * select everywhere, a number in HW's context) and "Urgency" (a select
 * everywhere, and a team-managed HELP field of the same type), as real sites
 * have. Ids follow JSM's seven (sb_cf_t): customfield_10017.. on seed 1. */
static const char *const OFFICE_OPTS[] = {"Berlin", "London", "New York", "Singapore", "São Paulo", "Sydney"};
static const char *const IMPACT_OPTS[] = {"Extensive / Widespread", "Significant / Large", "Moderate / Limited",
                                          "Minor / Localized"};
static const char *const URGENCY_OPTS[] = {"Critical", "High", "Medium", "Low"};
static const char *const DEVICE_OPTS[] = {"Laptop", "Monitor", "Docking station", "Phone", "Headset", "Keyboard"};
static const char *const RISK_OPTS[] = {"Low", "Medium", "High", "Critical"};
enum { XF_OFFICE, XF_IMPACT, XF_URGENCY, XF_IMPACT_HW, XF_URGENCY_HELP, XF_MANAGER, XF_COST, XF_DEVICE,
       XF_ROOT_CAUSE, XF_RISK, NXF };
typedef struct xfield_def_s {
    const char *name;
    int type;
    const char *const *opts;
    int nopts, option0, project, team_managed, required_for;
} xfield_def_t;
#define OPTS(a) a, (int)(sizeof a / sizeof a[0])
static const xfield_def_t XFIELDS[NXF] = {
    [XF_OFFICE] = {"Affected office", SB_XT_SELECT, OPTS(OFFICE_OPTS), 10100, -1, 0, -1},
    [XF_IMPACT] = {"Impact", SB_XT_SELECT, OPTS(IMPACT_OPTS), 10200, -1, 0, -1},
    [XF_URGENCY] = {"Urgency", SB_XT_SELECT, OPTS(URGENCY_OPTS), 10300, -1, 0, -1},
    [XF_IMPACT_HW] = {"Impact", SB_XT_NUMBER, NULL, 0, 0, 2, 0, -1},
    [XF_URGENCY_HELP] = {"Urgency", SB_XT_SELECT, OPTS(URGENCY_OPTS), 10400, 0, 1, -1},
    [XF_MANAGER] = {"Line manager", SB_XT_USER, NULL, 0, 0, -1, 0, -1},
    [XF_COST] = {"Cost centre", SB_XT_TEXT, NULL, 0, 0, -1, 0, -1},
    [XF_DEVICE] = {"Device", SB_XT_SELECT, OPTS(DEVICE_OPTS), 10500, -1, 0, -1},
    [XF_ROOT_CAUSE] = {"Root cause", SB_XT_TEXT, NULL, 0, 0, 1, 0, -1},
    [XF_RISK] = {"Change risk", SB_XT_SELECT, OPTS(RISK_OPTS), 10600, 1, 0, IT_CHANGE},
};

/* Request type forms, in the portal's order. Summary is not always first
 * (requestFieldValues follows this order), some fields are hidden with a
 * preset value (never in requestFieldValues), and labels are the portal's
 * questions, not the field names. */
#define SYS(id, label, req) {id, 0, label, req, 1, NULL}
#define XF(x, label, req) {NULL, x, label, req, 1, NULL}
#define HIDDEN(x, label, preset) {NULL, x, label, 0, 0, preset}
static const sb_rtfield_t L_BASIC[] = {SYS("summary", "Summary", 1), SYS("description", "Description", 0),
                                       SYS("priority", "Priority", 0)};
static const sb_rtfield_t L_HELP_PROBLEM[] = {SYS("summary", "What went wrong?", 1),
                                              XF(XF_URGENCY_HELP, "How urgent is it?", 0),
                                              SYS("description", "Tell us more", 0)};
static const sb_rtfield_t L_ACCESS[] = {SYS("summary", "What do you need access to?", 1),
                                        XF(XF_MANAGER, "Who is your line manager?", 0),
                                        SYS("description", "Why do you need it?", 0)};
static const sb_rtfield_t L_OUTAGE[] = {SYS("summary", "What is down?", 1),
                                        XF(XF_OFFICE, "Which office is affected?", 1),
                                        XF(XF_IMPACT, "How many people are affected?", 0),
                                        SYS("description", "Tell us more", 0),
                                        HIDDEN(XF_URGENCY, "Urgency", "High")};
static const sb_rtfield_t L_HARDWARE[] = {XF(XF_DEVICE, "Which device do you need?", 1),
                                          SYS("summary", "What do you need it for?", 1),
                                          XF(XF_MANAGER, "Who approves the cost?", 0),
                                          SYS("description", "Anything else we should know?", 0),
                                          HIDDEN(XF_COST, "Cost centre", "CC-4100")};
static const sb_rtfield_t L_REPAIR[] = {XF(XF_OFFICE, "Where is it?", 1), SYS("summary", "What is broken?", 1),
                                        XF(XF_IMPACT_HW, "How many people are affected?", 0),
                                        SYS("description", "What happened?", 0)};
static const sb_rtfield_t L_FACILITIES[] = {XF(XF_OFFICE, "Which office?", 0), SYS("summary", "What do you need?", 1),
                                            SYS("description", "Details", 0)};
static const sb_rtfield_t L_CHANGE[] = {SYS("summary", "What should change?", 1),
                                        XF(XF_RISK, "How risky is the change?", 1),
                                        SYS("description", "Plan and rollback", 0)};
static const sb_rtfield_t L_PROBLEM[] = {SYS("summary", "Summary", 1), SYS("description", "Description", 0),
                                         XF(XF_ROOT_CAUSE, "Root cause (if known)", 0)};
#undef SYS
#undef XF
#undef HIDDEN
#define LAYOUT(a) a, (int)(sizeof a / sizeof a[0])

typedef struct rtype_def_s {
    int id, project, issuetype, group, approval;
    const char *name, *desc, *label;
    const sb_rtfield_t *layout;
    int nlayout;
} rtype_def_t;
static const rtype_def_t RTYPES[] = {
    {1, 0, IT_SR, 1, 0, "Get IT help", "Get assistance for general IT problems and questions.", "help", LAYOUT(L_BASIC)},
    {2, 0, IT_SR, 1, 0, "Reset a password", "Locked out or forgot your password? We can help.", "access", LAYOUT(L_BASIC)},
    {3, 0, IT_SRA, 2, 1, "Request access", "Request access to a system or shared folder.", "access", LAYOUT(L_ACCESS)},
    {4, 0, IT_INCIDENT, 3, 0, "Report a problem", "Something is broken? Let us know.", "incident", LAYOUT(L_HELP_PROBLEM)},
    {10, 1, IT_INCIDENT, 11, 0, "Report a system problem", "Report a problem with a system or service.", "incident", LAYOUT(L_BASIC)},
    {11, 1, IT_INCIDENT, 11, 0, "Report a network outage", "Network, VPN or Wi-Fi is down or degraded.", "network", LAYOUT(L_OUTAGE)},
    {12, 1, IT_SR, 12, 0, "Get IT help", "Get assistance for general IT problems and questions.", "help", LAYOUT(L_BASIC)},
    {13, 1, IT_SRA, 13, 1, "Request new hardware", "Request a laptop, monitor, phone or accessory.", "hardware", LAYOUT(L_HARDWARE)},
    {14, 1, IT_SRA, 13, 1, "Request new software", "Request a software licence or installation.", "software", LAYOUT(L_ACCESS)},
    {15, 1, IT_CHANGE, 14, 0, "Request a change", "Request a change to an IT system or service.", "change", LAYOUT(L_CHANGE)},
    {16, 1, IT_PROBLEM, 14, 0, "Investigate a problem", "Track the root cause of recurring incidents.", "problem", LAYOUT(L_PROBLEM)},
    {20, 2, IT_SRA, 21, 1, "Request new hardware", "Request a laptop, monitor, phone or accessory.", "hardware", LAYOUT(L_HARDWARE)},
    {21, 2, IT_INCIDENT, 21, 0, "Repair broken hardware", "Something physical is broken.", "hardware", LAYOUT(L_REPAIR)},
    {22, 2, IT_SR, 22, 0, "Facilities request", "Desks, rooms, access badges and the like.", "facilities", LAYOUT(L_FACILITIES)},
    {23, 2, IT_INCIDENT, 22, 0, "Report a network outage", "Network, VPN or Wi-Fi is down or degraded.", "network", LAYOUT(L_OUTAGE)},
};
#define NRTYPES ((int)(sizeof RTYPES / sizeof RTYPES[0]))

/* Queue fields as JSM configures them by default. */
static const char *const QFIELDS[] = {"issuetype", "issuekey", "summary", "created", "reporter",
                                      "duedate", "status", "priority"};
typedef struct queue_def_s {
    int id, project;
    const char *name, *where, *order;
} queue_def_t;
static const queue_def_t QUEUES[] = {
    {1, 0, "All open", "resolution = Unresolved", "\"Time to resolution\" ASC"},
    {2, 0, "Assigned to me", "assignee = currentUser() AND resolution = Unresolved", "\"Time to resolution\" ASC"},
    {3, 0, "Unassigned issues", "assignee is EMPTY AND resolution = Unresolved", "\"Time to resolution\" ASC"},
    {4, 0, "Resolved in the last 7 days", "resolution is not EMPTY AND resolved >= -7d", "resolved DESC"},
    {10, 1, "All open", "resolution = Unresolved", "\"Time to resolution\" ASC"},
    {11, 1, "Assigned to me", "assignee = currentUser() AND resolution = Unresolved", "\"Time to resolution\" ASC"},
    {12, 1, "Unassigned issues", "assignee is EMPTY AND resolution = Unresolved", "\"Time to resolution\" ASC"},
    {13, 1, "Network Outages", "\"Request Type\" = \"Report a network outage\" AND resolution = Unresolved", "created ASC"},
    {14, 1, "Incidents", "issuetype = Incident AND statusCategory != Done", "priority DESC, created ASC"},
    {15, 1, "Hardware Requests", "\"Request Type\" = \"Request new hardware\" AND resolution = Unresolved", "priority DESC, created ASC"},
    {16, 1, "SLA breached", "\"Time to resolution\" = breached() AND resolution = Unresolved", "\"Time to resolution\" ASC"},
    {17, 1, "Resolved in the last 7 days", "resolution is not EMPTY AND resolved >= -7d", "resolved DESC"},
    {20, 2, "All open", "resolution = Unresolved", "\"Time to resolution\" ASC"},
    {21, 2, "Assigned to me", "assignee = currentUser() AND resolution = Unresolved", "\"Time to resolution\" ASC"},
    {22, 2, "Unassigned issues", "assignee is EMPTY AND resolution = Unresolved", "\"Time to resolution\" ASC"},
    {23, 2, "Hardware Requests", "\"Request Type\" in (\"Request new hardware\", \"Repair broken hardware\") AND statusCategory != Done", "priority DESC, created ASC"},
    {24, 2, "Network Outages", "\"Request Type\" = \"Report a network outage\" AND resolution = Unresolved", "created ASC"},
};
#define NQUEUES ((int)(sizeof QUEUES / sizeof QUEUES[0]))

static const char *const FIRST[] = {"Lena", "Marcus", "Priya", "Tomás", "Aiko", "Jonas", "Fatima", "Oliver",
                                    "Sofia", "Daniel", "Chen", "Amara", "Lucas", "Nora", "Ravi", "Elif",
                                    "Mateo", "Hannah", "Kwame", "Ingrid", "Yusuf", "Clara", "Ben", "Mei"};
static const char *const LAST[] = {"Hoffmann", "Reyes", "Sharma", "Novak", "Tanaka", "Berg", "Haddad",
                                   "Clarke", "Rossi", "Kim", "Wei", "Okafor", "Martin", "Lindqvist",
                                   "Iyer", "Yilmaz", "García", "Schulz", "Mensah", "Olsen", "Demir",
                                   "Dubois", "Walsh", "Zhang"};
static const char *const TZS[] = {"Europe/Berlin", "Europe/London", "America/New_York", "America/Los_Angeles",
                                  "Asia/Kolkata", "Asia/Tokyo", "Australia/Sydney", "America/Sao_Paulo",
                                  "Europe/Paris", "Africa/Lagos", "Asia/Singapore", "UTC"};
static const char *const ORGS[] = {"Berlin Office", "London Office", "New York Office", "Finance",
                                   "Engineering", "Sales"};
static const char *const OFFICES[] = {"Berlin", "London", "New York", "Singapore", "São Paulo", "Sydney"};
static const char *const DEVICES[] = {"Latitude 7440", "MacBook Pro 14", "ThinkPad X1 Carbon",
                                      "Dell U2723QE monitor", "iPhone 15", "Surface Pro 9"};
static const char *const APPS[] = {"Outlook", "Salesforce", "SAP", "Slack", "Zoom", "Confluence",
                                   "the HR portal", "GitLab"};

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))

static char *mprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *mprintf(const char *fmt, ...)
{
    buf_t b;
    va_list ap;
    buf_init(&b, SB_MAX_TEXT * 2);
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    char *s = buf_steal(&b, NULL);
    if (!s) { /* the seed's own texts are far below the limit: a bug, not data */
        fprintf(stderr, "sb_seed: a generated text passed %d bytes\n", SB_MAX_TEXT * 2);
        abort();
    }
    return s;
}
/* ---- seeding ---- */
static const char *pick(sb_rng_t *r, const char *const *a, int n)
{
    return a[sb_rng_int(r, n)];
}

static char *gen_summary(sb_rng_t *r, const rtype_def_t *rt)
{
    const char *off = pick(r, OFFICES, NELEM(OFFICES)), *dev = pick(r, DEVICES, NELEM(DEVICES)),
               *app = pick(r, APPS, NELEM(APPS));
    switch (rt->label[0] == 'n' ? 0 : rt->label[0] == 'h' && rt->label[1] == 'a' ? 1
                                  : rt->label[0] == 'a' ? 2 : rt->label[0] == 's' ? 3 : 4) {
    case 0: {
        static const char *const f[] = {"Wi-Fi down on floor %d of the %s office",
                                        "VPN tunnel dropping for %s users (site %d)",
                                        "Packet loss between %s and the data centre (%d%%)",
                                        "Core switch in the %s office unreachable (stack %d)"};
        int k = sb_rng_int(r, 4), n = 1 + sb_rng_int(r, 9);
        return k == 0 ? mprintf(f[0], n, off) : k == 2 ? mprintf(f[2], off, n * 5)
                                             : mprintf(f[k], off, n);
    }
    case 1:
        return sb_rng_int(r, 2) ? mprintf("New %s for a starter in %s", dev, off)
                             : mprintf("%s screen flickering and will not charge", dev);
    case 2:
        return sb_rng_int(r, 2) ? mprintf("Access to %s for the %s team", app, off)
                             : mprintf("Locked out of %s after password change", app);
    case 3:
        return mprintf("Licence request: %s for %s", app, off);
    default: {
        static const char *const f[] = {"%s is slow for everyone in %s", "Cannot sign in to %s from %s",
                                        "%s keeps crashing on start (%s)", "Error 500 when opening %s in %s"};
        return mprintf(f[sb_rng_int(r, 4)], app, off);
    }
    }
}

static char *gen_description(sb_rng_t *r, const char *summary)
{
    static const char *const impact[] = {"It affects only me.", "About ten people in my team are affected.",
                                         "The whole office is affected.", "Customers are noticing it."};
    return mprintf("%s\n\nSince this morning: %s\n\nWhat I tried:\n- restarted my computer\n- "
                   "checked the status page",
                   summary, pick(r, impact, NELEM(impact)));
}

static const char *const AGENT_REPLIES[] = {
    "Thanks for reaching out. We are looking into this now.",
    "Could you send us a screenshot of the error message?",
    "We have restarted the affected service; please check again.",
    "This is a known issue and a fix is being rolled out today.",
    "I have escalated this to the network team.",
};
static const char *const CUSTOMER_REPLIES[] = {
    "Any update on this? It is still happening.",
    "Here is the screenshot you asked for.",
    "Works again, thank you!",
    "It happened again just now.",
};
static const char *const INTERNAL_NOTES[] = {
    "Internal: checked the logs, nothing obvious. Waiting for the vendor.",
    "Internal: same root cause as last week's incident, linking the problem record.",
    "Internal: customer is a VIP, keep the response time short.",
};

static void seed_comments(sb_data_t *d, sb_rng_t *r, sb_issue_t *is, int agent, int64_t now)
{
    int n = sb_rng_int(r, 5);
    int64_t t = is->created;
    for (int i = 0; i < n; i++) {
        t += (10 + sb_rng_int(r, 600)) * MIN_MS;
        if (t >= now || (is->resolved && t > is->resolved))
            break;
        if (i % 2 == 0) {
            int internal = sb_rng_int(r, 4) == 0;
            sb_comment_add(d, is, agent,
                           internal ? pick(r, INTERNAL_NOTES, NELEM(INTERNAL_NOTES))
                                    : pick(r, AGENT_REPLIES, NELEM(AGENT_REPLIES)),
                           NULL, !internal, t);
        } else {
            sb_comment_add(d, is, is->reporter, pick(r, CUSTOMER_REPLIES, NELEM(CUSTOMER_REPLIES)), NULL,
                           1, t);
        }
    }
}

static void add_approval(sb_data_t *d, sb_rng_t *r, sb_issue_t *is, int nagents)
{
    sb_approval_t *a = mem_calloc(1, sizeof *a);
    a->id = d->next_approval_id++;
    snprintf(a->name, sizeof a->name, "%s", sb_rng_int(r, 2) ? "Manager approval" : "Please approve this request");
    a->napprovers = 1 + sb_rng_int(r, 2);
    for (int i = 0; i < a->napprovers; i++)
        a->approvers[i] = 1 + (i == 0 && sb_rng_int(r, 3) == 0 ? -1 : sb_rng_int(r, nagents)); /* 0 = caller */
    if (a->napprovers == 2 && a->approvers[0] == a->approvers[1])
        a->napprovers = 1;
    a->created = is->created + 5 * MIN_MS;
    int cat = sb_statuses[is->status].cat;
    if (cat == SB_CAT_DONE) {
        a->final = is->status == ST_CANCELED ? SB_DECLINED : SB_APPROVED;
        a->decisions[0] = a->final;
        a->completed = a->created + HOUR_MS;
    }
    is->approvals = a;
    is->napprovals = 1;
}

/* Values of the site custom fields the request type's form asks for. */
static void seed_xvalues(sb_data_t *d, sb_rng_t *r, sb_issue_t *is, const sb_rtfield_t *layout, int nlayout,
                         int nagents)
{
    for (int i = 0; i < nlayout; i++) {
        const sb_rtfield_t *lf = &layout[i];
        if (lf->field)
            continue;
        const sb_xfield_t *f = &d->xfields[lf->xf];
        sb_xval_t *v = &is->xv[lf->xf];
        if (!lf->visible) { /* hidden: the preset value */
            v->set = 1;
            if (f->type == SB_XT_SELECT)
                v->i = sb_xfield_option(f, lf->preset);
            else
                v->s = mem_strdup(lf->preset);
            continue;
        }
        if (!lf->required && sb_rng_int(r, 3) == 0)
            continue;
        v->set = 1;
        switch (f->type) {
        case SB_XT_SELECT: v->i = sb_rng_int(r, f->noptions); break;
        case SB_XT_USER: v->i = 1 + sb_rng_int(r, nagents); break;
        case SB_XT_NUMBER: v->i = 1 + sb_rng_int(r, 400); break;
        default: v->s = mprintf("Firmware %d.%d regression after the last patch window", 1 + sb_rng_int(r, 4), sb_rng_int(r, 10));
        }
    }
}

/* What the first data sets did not have, drawn from a stream of its own so
 * that the rest of the data set stays as it was: custom field values,
 * watchers and reopened requests (several SLA cycles). */
static void seed_extras(sb_data_t *d, sb_issue_t *is, const rtype_def_t *rt, int nagents, int worker, int64_t now)
{
    sb_rng_t r = {d->seed * 0x9E3779B97F4A7C15ULL ^ ((uint64_t)is->id << 20) ^ 0x5eedULL};
    seed_xvalues(d, &r, is, rt->layout, rt->nlayout, nagents);
    if (is->assignee >= 0 && sb_rng_int(&r, 2))
        sb_watcher_add(is, is->assignee);
    /* One resolved request in eight was reopened by its reporter, and most
     * of those were resolved again: Time to resolution has several cycles. */
    if (is->resolved && is->status != ST_CANCELED && sb_rng_int(&r, 8) == 0) {
        int64_t t = is->resolved + (2 + sb_rng_int(&r, 46)) * HOUR_MS;
        if (t < now - HOUR_MS) {
            sb_issue_set_status(d, is, ST_WFS, SB_RES_AUTO, is->reporter, t);
            int64_t t2 = t + (1 + sb_rng_int(&r, 30)) * HOUR_MS;
            if (t2 < now && sb_rng_int(&r, 3))
                sb_issue_set_status(d, is, ST_RESOLVED, SB_RES_AUTO, worker, t2);
        }
    }
}

static void seed_issue(sb_data_t *d, sb_rng_t *r, int project, int idx_in_proj, int total, int nagents,
                       int cust0, int ncust, int64_t now)
{
    const rtype_def_t *defs[8];
    int nd = 0;
    for (int i = 0; i < NRTYPES; i++)
        if (RTYPES[i].project == project)
            defs[nd++] = &RTYPES[i];
    int rti = sb_rng_int(r, nd);
    const rtype_def_t *rt = defs[rti];
    int rtype = sb_rtype_find(d, project, rt->name);
    /* Ages spread over 120 days, newest last; a few hours of jitter. */
    int64_t age = (int64_t)(total - idx_in_proj) * (120 * DAY_MS) / total + sb_rng_int(r, 180) * MIN_MS;
    int64_t created = now - age;
    int reporter = cust0 + sb_rng_int(r, ncust);
    if (sb_rng_int(r, 5) == 0)
        reporter = 1 + sb_rng_int(r, nagents); /* employees file tickets too */
    if (sb_rng_int(r, 30) == 0)
        reporter = 0; /* and so does the caller: GET /request has its own requests to list */
    char *summary = gen_summary(r, rt);
    char *desc = gen_description(r, summary);
    sb_issue_t *is = sb_issue_create(d, project, rt->issuetype, rtype, reporter, summary, desc, created);
    free(summary);
    free(desc);
    int pr = sb_rng_int(r, 10);
    is->priority = pr == 0 ? 0 : pr < 3 ? 1 : pr < 7 ? 2 : pr < 9 ? 3 : 4;
    int agent = 1 + sb_rng_int(r, nagents);
    if (sb_rng_int(r, 5) != 0) {
        is->assignee = sb_rng_int(r, 7) == 0 ? 0 : agent; /* some are assigned to the caller */
        sb_change_t *c = sb_history_begin(d, is, is->assignee, created + MIN_MS);
        sb_history_item(c, "assignee", "assignee", 0, NULL, NULL, d->users[is->assignee].account_id,
                        d->users[is->assignee].display_name);
    }
    int worker = is->assignee >= 0 ? is->assignee : agent;
    int64_t days = age / DAY_MS;
    int resolved = days > 10 ? sb_rng_int(r, 100) < 85 : sb_rng_int(r, 100) < 20;
    seed_comments(d, r, is, is->assignee >= 0 ? is->assignee : agent, now);
    if (resolved) {
        int64_t t = created + (1 + sb_rng_int(r, 96)) * HOUR_MS;
        if (t >= now)
            t = now - MIN_MS;
        int to = sb_rng_int(r, 10) == 0 ? ST_CANCELED : sb_rng_int(r, 3) == 0 ? ST_CLOSED : ST_RESOLVED;
        int res = SB_RES_AUTO;
        if (to != ST_CANCELED && sb_rng_int(r, 6) == 0)
            res = 2 + sb_rng_int(r, 2);
        sb_issue_set_status(d, is, to, res, worker, t);
    } else {
        static const int open[] = {ST_WFS, ST_WFS, ST_WFS, ST_WFC, ST_PROGRESS, ST_PROGRESS, ST_PENDING, ST_ESCALATED};
        int to = open[sb_rng_int(r, NELEM(open))];
        if (to != ST_WFS)
            sb_issue_set_status(d, is, to, SB_RES_AUTO, worker, created + (1 + sb_rng_int(r, 30)) * MIN_MS);
    }
    if (is->ncomments)
        is->updated = is->comments[is->ncomments - 1].created > is->updated ? is->comments[is->ncomments - 1].created
                                                                              : is->updated;
    sb_label_add(is, rt->label);
    if (is->priority == 0)
        sb_label_add(is, "urgent");
    if (sb_rng_int(r, 3) == 0)
        is->due = (created / DAY_MS + 3 + sb_rng_int(r, 12)) * DAY_MS;
    if (sb_rng_int(r, 4) == 0)
        is->participants[is->nparticipants++] = cust0 + sb_rng_int(r, ncust);
    for (int o = 0; o < d->norgs; o++)
        for (int m = 0; m < d->orgs[o].nmembers; m++)
            if (d->orgs[o].members[m] == reporter)
                is->org = o;
    if (is->status != ST_WFS && is->assignee >= 0 && sb_rng_int(r, 3) == 0) {
        int64_t start = created + HOUR_MS;
        if (start < now)
            sb_worklog_add(d, is, is->assignee, (1 + sb_rng_int(r, 8)) * 1800, "Investigation", start, start + HOUR_MS);
    }
    if (sb_rng_int(r, 7) == 0) {
        static const char *const names[] = {"screenshot.png", "error-log.txt", "network-trace.pcap"};
        static const char *const mimes[] = {"image/png", "text/plain", "application/vnd.tcpdump.pcap"};
        int k = sb_rng_int(r, 3);
        int size = 1000 + sb_rng_int(r, 200000);
        sb_attachment_add(d, is, reporter, names[k], mimes[k], NULL, size, created + MIN_MS);
    }
    if (rt->approval)
        add_approval(d, r, is, nagents);
    seed_extras(d, is, rt, nagents, worker, now);
}

/* The two issues the product article walks through; their content is fixed. */
typedef struct thread_msg_s {
    int who; /* user index; AGENT_A / AGENT_B are resolved at seeding */
    int pub;
    const char *text;
} thread_msg_t;

typedef struct article_s {
    const char *key, *summary, *description, *rtype, *labels[2];
    int reporter, assignee, priority, days_ago, final_status;
    int gap0, gap_step; /* minutes between comments */
    const thread_msg_t *thread;
    int nthread;
} article_t;

enum { AGENT_A = -10, AGENT_B = -11 };

static const thread_msg_t THREAD_994[] = {
    {AGENT_A, 1, "Thanks for reporting. Which VPN client version are you on, and does it happen on wired and Wi-Fi?"},
    {1, 1, "GlobalProtect 6.1.3 on Windows 11. Both wired and Wi-Fi. The tunnel drops at almost exactly 30 minutes and comes back after about 2 minutes."},
    {AGENT_A, 0, "Concentrator logs: Berlin sessions re-key at 1800 s and the IKE rekey fails with NO_PROPOSAL_CHOSEN. The Berlin firewall still offers the old DH group 2 after Sunday's maintenance."},
    {AGENT_A, 1, "We rolled two pilot users back to client 6.0.7 and the drops continue, so the client is not the cause. We are working on the firewall side."},
    {AGENT_B, 0, "Blocker: the firewall crypto-profile change needs network CAB approval (next CAB Thursday). Vendor case 4471 is open with Palo Alto; they confirm the DH group mismatch."},
    {1, 1, "Any update? Finance is losing work during month-end close."},
    {AGENT_A, 1, "Workaround until the change is approved: reconnect manually before the 30-minute mark, or use the London gateway (vpn-lon.example.com), which is not affected."},
};

static const thread_msg_t THREAD_1042[] = {
    {AGENT_B, 1, "Sorry about that. Could you send us the device logs? Please attach the output of 'powercfg /sleepstudy' and export the System log from Event Viewer."},
    {2, 1, "Attached sleepstudy-report.html and system.evtx."},
    {AGENT_B, 0, "Event 41 (Kernel-Power) on every failed resume. Matches Dell advisory DSA-2025-117 for BIOS 1.14 on Latitude 7440; 1.15 fixes it."},
    {AGENT_B, 1, "Thanks, the logs confirm a known BIOS issue. We will push BIOS 1.15 to your laptop tonight; please leave it docked and powered on."},
};

static const article_t ARTICLES[] = {
    {"ITSM-994", "VPN disconnects every 30 minutes for Berlin office users",
     "Since Monday every VPN session from the Berlin office drops after almost exactly 30 minutes "
     "and reconnects about two minutes later. Users lose unsaved work in SAP and calls drop.\n\n"
     "Affected: about 40 people in Berlin, both wired and Wi-Fi. London and New York are fine.\n\n"
     "- Client: GlobalProtect 6.1.3 on Windows 11\n- Started after the firewall maintenance on Sunday",
     "Report a network outage", {"vpn", "network"}, 1 /* 5b10ac8d82e05b22cc7d4ef5, Europe/Berlin */, AGENT_A, 1, 3,
     ST_ESCALATED, 40, 37, THREAD_994, NELEM(THREAD_994)},
    {"ITSM-1042", "Laptop does not wake from sleep after BIOS update 1.14",
     "After last week's BIOS update to 1.14 my Latitude 7440 no longer wakes from sleep. The power "
     "LED pulses but the screen stays black and I have to hold the power button.\n\n"
     "Steps to reproduce:\n\n"
     "1. Close the lid while docked\n2. Undock and wait at least 5 minutes\n3. Open the lid\n"
     "4. Screen stays black, keyboard backlight does not turn on\n\n"
     "Expected: the login screen appears within a few seconds.",
     "Report a system problem", {"hardware", "laptop"}, 2, AGENT_B, 2, 2, ST_WFC, 55, 20, THREAD_1042,
     NELEM(THREAD_1042)},
};

/* Empties an issue the fixed stories below rewrite. */
static void reset_issue(sb_issue_t *is)
{
    for (int i = 0; i < is->ncomments; i++) {
        free(is->comments[i].text);
        json_decref(is->comments[i].adf);
    }
    is->ncomments = 0;
    for (int i = 0; i < is->nworklogs; i++)
        free(is->worklogs[i].text);
    is->nworklogs = 0;
    for (int i = 0; i < is->nattachments; i++)
        free(is->attachments[i].content);
    is->nattachments = 0;
    free(is->approvals);
    is->approvals = NULL;
    is->napprovals = 0;
    sb_issue_history_clear(is);
    sb_labels_clear(is);
    for (int i = 0; i < SB_MAX_XFIELDS; i++) {
        free(is->xv[i].s);
        memset(&is->xv[i], 0, sizeof is->xv[i]);
    }
    is->first_response = 0;
    is->status = ST_WFS;
    is->resolution = -1;
    is->resolved = 0;
}

static void set_xselect(sb_data_t *d, sb_issue_t *is, int xf, const char *value)
{
    is->xv[xf].set = 1;
    is->xv[xf].i = sb_xfield_option(&d->xfields[xf], value);
}

static void seed_article(sb_data_t *d, const article_t *a, int64_t now, int agent_a, int agent_b)
{
    sb_issue_t *is = sb_issue_find(d, a->key);
    if (!is)
        return;
    reset_issue(is);
    free(is->summary);
    free(is->description);
    is->summary = mem_strdup(a->summary);
    is->description = mem_strdup(a->description);
    is->issuetype = IT_INCIDENT;
    is->rtype = sb_rtype_find(d, is->project, a->rtype);
    is->reporter = is->creator = a->reporter;
    is->assignee = a->assignee == AGENT_A ? agent_a : agent_b;
    is->priority = a->priority;
    for (int i = 0; i < 2; i++)
        sb_label_add(is, a->labels[i]);
    int64_t t = now - a->days_ago * DAY_MS;
    is->created = is->status_changed = t;
    for (int i = 0; i < a->nthread; i++) {
        int who = a->thread[i].who == AGENT_A ? agent_a : a->thread[i].who == AGENT_B ? agent_b : a->thread[i].who;
        t += (int64_t)(a->gap0 + a->gap_step * i) * MIN_MS;
        sb_comment_add(d, is, who, a->thread[i].text, NULL, a->thread[i].pub, t);
    }
    sb_issue_set_status(d, is, a->final_status, SB_RES_AUTO, is->assignee, t);
    is->updated = t;
}

static void seed_article_issues(sb_data_t *d, int64_t now, int agent_a, int agent_b)
{
    for (int i = 0; i < NELEM(ARTICLES); i++)
        seed_article(d, &ARTICLES[i], now, agent_a, agent_b);
    sb_issue_t *vpn = sb_issue_find(d, "ITSM-994");
    if (vpn) { /* the outage form: Berlin, a large impact, the hidden urgency */
        set_xselect(d, vpn, XF_OFFICE, "Berlin");
        set_xselect(d, vpn, XF_IMPACT, "Significant / Large");
        set_xselect(d, vpn, XF_URGENCY, "High");
    }
    /* ITSM-1042's customer attached the logs the agent asked for. */
    sb_issue_t *is = sb_issue_find(d, "ITSM-1042");
    if (!is || is->ncomments < 2)
        return;
    static const char *const names[] = {"sleepstudy-report.html", "system.evtx"};
    static const char *const mimes[] = {"text/html", "application/octet-stream"};
    for (int i = 0; i < 2; i++)
        sb_attachment_add(d, is, is->reporter, names[i], mimes[i], NULL, i ? 1048576 : 231455,
                          is->comments[1].created);
}

/* Two requests reopened by their reporters (priority Medium: a 24 h
 * resolution goal). HW-7's first cycle breached (30 h), the second met
 * (5 h), and the third is ongoing (3 h in). HW-8 was resolved twice: the
 * oldest cycle breached, the latest met, nothing ongoing. A client that
 * reads completedCycles[0] reports the wrong one. */
static void seed_reopened(sb_data_t *d, int64_t now, int agent)
{
    static const struct {
        const char *key, *summary, *office;
        int still_open;
    } R[] = {{"HW-7", "Meeting room display loses its HDMI signal every afternoon", "London", 1},
             {"HW-8", "Badge reader at the side door rejects valid badges", "Berlin", 0}};
    for (int k = 0; k < NELEM(R); k++) {
        sb_issue_t *is = sb_issue_find(d, R[k].key);
        if (!is)
            continue;
        reset_issue(is);
        free(is->summary);
        free(is->description);
        is->summary = mem_strdup(R[k].summary);
        is->description = mem_strdup("It worked after the last fix, then it started again.");
        is->rtype = sb_rtype_find(d, is->project, "Repair broken hardware");
        is->issuetype = IT_INCIDENT;
        is->priority = 2;
        is->assignee = agent;
        sb_label_add(is, "hardware");
        set_xselect(d, is, XF_OFFICE, R[k].office);
        int64_t t0 = now - 20 * DAY_MS;
        is->created = is->status_changed = t0;
        sb_comment_add(d, is, agent, "We are sending someone to look at it.", NULL, 1, t0 + HOUR_MS);
        sb_issue_set_status(d, is, ST_RESOLVED, SB_RES_AUTO, agent, t0 + 30 * HOUR_MS);
        sb_issue_set_status(d, is, ST_WFS, SB_RES_AUTO, is->reporter, t0 + 3 * DAY_MS);
        sb_issue_set_status(d, is, ST_RESOLVED, SB_RES_AUTO, agent, t0 + 3 * DAY_MS + 5 * HOUR_MS);
        if (R[k].still_open)
            sb_issue_set_status(d, is, ST_WFS, SB_RES_AUTO, is->reporter, now - 3 * HOUR_MS);
    }
}

/* Incidents linked to the problems that cause them, and a few related
 * requests, from a stream of their own. */
static void seed_links(sb_data_t *d)
{
    sb_rng_t r = {d->seed * 0xD1B54A32D192ED03ULL + 11};
    int pi_type = sb_linktype_find("Problem/Incident"), rel = sb_linktype_find("Relates");
    int itsm = sb_project_find(d, "ITSM"), first_problem = -1;
    for (int i = 0; i < d->nissues; i++) {
        const sb_issue_t *is = d->issues[i];
        if (is->project != itsm || is->issuetype != IT_PROBLEM)
            continue;
        if (first_problem < 0)
            first_problem = i;
        int n = 1 + sb_rng_int(&r, 2);
        for (int k = 0; k < n && i > 0; k++) {
            int j = sb_rng_int(&r, i);
            if (d->issues[j]->project == itsm && d->issues[j]->issuetype == IT_INCIDENT)
                sb_link_add(d, pi_type, i, j);
        }
    }
    const sb_issue_t *vpn = sb_issue_find(d, "ITSM-994");
    if (vpn && first_problem >= 0)
        sb_link_add(d, pi_type, first_problem, vpn->index);
    for (int k = 0; k < 40; k++) {
        int a = sb_rng_int(&r, d->nissues), b = sb_rng_int(&r, d->nissues);
        if (a != b)
            sb_link_add(d, rel, a, b);
    }
}

/* Multi-stage approvals, as Cloud has them: every 8th request needing an
 * approval (the article issues aside) gets a second stage an hour after the
 * first, in the same state. A pass after the seeding: no id or random draw
 * of the rest moves. */
static void seed_second_stages(sb_data_t *d)
{
    int seen = 0;
    for (int i = 0; i < d->nissues; i++) {
        sb_issue_t *is = d->issues[i];
        int article = 0;
        for (int k = 0; k < NELEM(ARTICLES); k++)
            article |= strcmp(is->key, ARTICLES[k].key) == 0;
        if (is->napprovals != 1 || article || seen++ % 8 != 0)
            continue;
        is->approvals = mem_realloc(is->approvals, 2 * sizeof *is->approvals);
        sb_approval_t *b = &is->approvals[1];
        *b = is->approvals[0];
        b->id = d->next_approval_id++;
        snprintf(b->name, sizeof b->name, "Second-level approval");
        b->created += HOUR_MS;
        if (b->completed)
            b->completed += HOUR_MS;
        is->napprovals = 2;
    }
}

sb_data_t *sb_seed_data(uint64_t seed, int64_t anchor_ms, const char *caller_email)
{
    sb_data_t *d = mem_calloc(1, sizeof *d);
    sb_rng_t r = {seed * 0x2545F4914F6CDD1DULL + 7};
    d->seed = seed;
    d->anchor_ms = anchor_ms;
    /* Per-site custom field ids: Request Type is customfield_10010 on seed 1
     * and moves with the seed, as on real sites. */
    int base = 10010 + (int)((seed + 49) % 50) * 10;
    d->cf = (sb_cf_t){base, base + 1, base + 2, base + 3, base + 4, base + 5, base + 6, {{0}}};
    for (int i = 0; i < 7; i++)
        snprintf(d->cf.ids[i], sizeof d->cf.ids[i], "customfield_%d", base + i);
    for (int i = 0; i < NXF; i++) {
        sb_xfield_t *f = &d->xfields[d->nxfields++];
        f->num = base + 7 + i;
        snprintf(f->id, sizeof f->id, "customfield_%d", f->num);
        f->name = XFIELDS[i].name;
        f->type = XFIELDS[i].type;
        f->options = XFIELDS[i].opts;
        f->noptions = XFIELDS[i].nopts;
        f->option0 = XFIELDS[i].option0;
        f->project = XFIELDS[i].project;
        f->team_managed = XFIELDS[i].team_managed;
        f->required_for = XFIELDS[i].required_for;
    }
    d->next_comment_id = 10000;
    d->next_worklog_id = 10000;
    d->next_approval_id = 1;
    d->next_attachment_id = 10000;
    d->next_change_id = 10000;
    d->next_link_id = 10000;
    d->next_temp_id = 8186986881700442965ULL;
    d->tempfiles = mem_calloc(SB_MAX_TEMPFILES, sizeof *d->tempfiles);

    d->users = mem_calloc(SB_MAX_USERS, sizeof *d->users);
    d->projects = mem_calloc(NPROJ, sizeof *d->projects);
    d->nprojects = NPROJ;
    for (int p = 0; p < NPROJ; p++) {
        sb_project_t *pr = &d->projects[p];
        pr->id = 10001 + p;
        pr->desk_id = 1 + p;
        snprintf(pr->key, sizeof pr->key, "%s", PROJECTS[p].key);
        snprintf(pr->name, sizeof pr->name, "%s", PROJECTS[p].name);
        pr->next_num = 1;
        pr->customers = mem_calloc(SB_MAX_USERS, 1);
        pr->orgs = mem_calloc(SB_MAX_ORGS, sizeof(int));
    }

    /* Users: 0 = the caller (agent), 1..nagents = agents/employees, then customers. */
    char id[80], name[64], email[96];
    snprintf(id, sizeof id, "712020:%08x-%04x-4%03x-a%03x-%012llx", (unsigned)(seed * 2654435761u),
             (unsigned)(seed & 0xffff), 0x5a1u, 0xb0bu, 0x5a4db0c0ffeeULL);
    sb_user_fill(&d->users[0], id, "Sandbox Agent", caller_email, "Europe/London", 0);
    d->users[0].groups = 1u << G_SITE_ADMINS | 1u << G_JIRA_ADMINS | 1u << G_JSM_USERS | 1u << G_DESK_TEAM;
    d->caller = 0;
    sb_user_fill(&d->users[1], "5b10ac8d82e05b22cc7d4ef5", "Lena Hoffmann", "lena.hoffmann@example.com",
              "Europe/Berlin", 0);
    d->users[1].groups = 1u << G_JSM_USERS | 1u << G_NETWORK;
    d->nusers = 2;
    const int nagents = 12, ncust = 48;
    for (int i = 2; i <= nagents; i++) {
        const char *f = FIRST[(i * 7 + (int)seed) % NELEM(FIRST)], *l = LAST[(i * 5 + (int)seed * 3) % NELEM(LAST)];
        snprintf(id, sizeof id, "%016llx%08x", (unsigned long long)sb_rng_next(&r), (unsigned)i);
        snprintf(name, sizeof name, "%s %s", f, l);
        snprintf(email, sizeof email, "%c.%s%d@example.com", tolower((unsigned char)f[0]), l, i);
        for (char *p = email; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        sb_user_t *u = &d->users[d->nusers++];
        sb_user_fill(u, id, name, email, TZS[sb_rng_int(&r, NELEM(TZS))], 0);
        u->groups = 1u << G_JSM_USERS | 1u << G_DESK_TEAM | 1u << (i % 2 ? G_NETWORK : G_HARDWARE);
        u->email_hidden = i % 4 == 3; /* a few agents hide their email too */
        u->tz_hidden = i % 5 == 4;
    }
    d->users[nagents].active = 0; /* one deactivated agent, as real sites have */
    int cust0 = d->nusers;
    for (int i = 0; i < ncust; i++) {
        const char *f = FIRST[sb_rng_int(&r, NELEM(FIRST))], *l = LAST[sb_rng_int(&r, NELEM(LAST))];
        snprintf(name, sizeof name, "%s %s", f, l);
        snprintf(email, sizeof email, "customer%02d@customer.example.com", i + 1);
        int u = sb_user_add(d, email, name, 1);
        snprintf(d->users[u].time_zone, sizeof d->users[u].time_zone, "%s", TZS[sb_rng_int(&r, NELEM(TZS))]);
        /* Privacy: two customers in three hide their email, three in four their time zone. */
        d->users[u].email_hidden = i % 3 != 0;
        d->users[u].tz_hidden = i % 4 != 1;
        for (int p = 0; p < NPROJ; p++)
            d->projects[p].customers[u] = (unsigned char)(p == 1 || sb_rng_int(&r, 2));
    }
    for (int p = 0; p < NPROJ; p++)
        d->projects[p].lead = 1 + p;

    d->orgs = mem_calloc(SB_MAX_ORGS, sizeof *d->orgs);
    for (int o = 0; o < NELEM(ORGS); o++) {
        int oi = sb_org_add(d, ORGS[o], anchor_ms - 400 * DAY_MS + o * DAY_MS);
        for (int u = cust0; u < d->nusers; u++)
            if ((u - cust0) % NELEM(ORGS) == o)
                sb_org_add_member(&d->orgs[oi], u);
        for (int p = 0; p < NPROJ; p++)
            if (p == 1 || (o + p) % 2 == 0)
                d->projects[p].orgs[d->projects[p].norgs++] = d->orgs[oi].id;
    }
    /* One organization only the other desks (HELP, HW) have: a desk-scoped
     * organization list of ITSM must not show it (tests of config.projects). */
    int contractors = sb_org_add(d, "Facilities Contractors", anchor_ms - 390 * DAY_MS);
    for (int p = 0; p < NPROJ; p++)
        if (p != 1)
            d->projects[p].orgs[d->projects[p].norgs++] = d->orgs[contractors].id;

    d->rtypes = mem_calloc(NRTYPES, sizeof *d->rtypes);
    for (int i = 0; i < NRTYPES; i++) {
        sb_rtype_t *rt = &d->rtypes[d->nrtypes++];
        rt->id = RTYPES[i].id;
        rt->project = RTYPES[i].project;
        rt->issuetype = RTYPES[i].issuetype;
        rt->group_id = RTYPES[i].group;
        rt->approval = RTYPES[i].approval;
        snprintf(rt->name, sizeof rt->name, "%s", RTYPES[i].name);
        snprintf(rt->desc, sizeof rt->desc, "%s", RTYPES[i].desc);
        rt->layout = RTYPES[i].layout;
        rt->nlayout = RTYPES[i].nlayout;
    }
    d->queues = mem_calloc(NQUEUES, sizeof *d->queues);
    for (int i = 0; i < NQUEUES; i++) {
        sb_queue_t *q = &d->queues[d->nqueues++];
        q->id = QUEUES[i].id;
        q->project = QUEUES[i].project;
        snprintf(q->name, sizeof q->name, "%s", QUEUES[i].name);
        snprintf(q->jql, sizeof q->jql, "project = %s AND %s ORDER BY %s", PROJECTS[q->project].key,
                 QUEUES[i].where, QUEUES[i].order);
        q->nfields = 6;
        for (int f = 0; f < q->nfields; f++)
            q->fields[f] = QFIELDS[f];
    }

    d->issues = mem_calloc(SB_MAX_ISSUES, sizeof *d->issues);
    for (int p = 0; p < NPROJ; p++)
        for (int i = 0; i < PROJECTS[p].nissues; i++)
            seed_issue(d, &r, p, i, PROJECTS[p].nissues, nagents - 1, cust0, ncust, anchor_ms);
    seed_article_issues(d, anchor_ms, 3, 4);
    seed_reopened(d, anchor_ms, 5);
    seed_links(d);
    seed_second_stages(d);
    return d;
}
