/* sb_data: see sb_data.h. The seeding below is table driven: projects,
 * request types and queues are constants; users, issues, comments and the
 * rest come from a splitmix64 stream seeded with the site seed, so a seed
 * fully determines the data set relative to its anchor time. */
#include "sb_data.h"

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
enum { ST_WFS, ST_WFC, ST_PROGRESS, ST_PENDING, ST_ESCALATED, ST_RESOLVED, ST_CLOSED, ST_CANCELED };

const sb_named_t sb_issuetypes[] = {
    {"10100", "Service Request", "Created by Jira Service Management."},
    {"10101", "Incident", "For system outages or incidents. Created by Jira Service Management."},
    {"10102", "Problem", "Track underlying causes of incidents. Created by Jira Service Management."},
    {"10103", "Change", "Created by Jira Service Management."},
    {"10104", "Service request with approvals", "For requests that require approval. Created by Jira Service Management."},
};
const int sb_nissuetypes = sizeof sb_issuetypes / sizeof sb_issuetypes[0];
enum { IT_SR, IT_INCIDENT, IT_PROBLEM, IT_CHANGE, IT_SRA };

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
enum { G_SITE_ADMINS, G_JIRA_ADMINS, G_JSM_USERS, G_DESK_TEAM, G_NETWORK, G_HARDWARE };

const sb_linktype_t sb_linktypes[] = {
    {"10000", "Blocks", "is blocked by", "blocks"},
    {"10001", "Cloners", "is cloned by", "clones"},
    {"10002", "Duplicate", "is duplicated by", "duplicates"},
    {"10003", "Relates", "relates to", "relates to"},
    {"10004", "Problem/Incident", "is caused by", "causes"},
};
const int sb_nlinktypes = sizeof sb_linktypes / sizeof sb_linktypes[0];

const char *const sb_sla_names[SB_NSLA] = {"Time to first response", "Time to resolution"};

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

/* ---- deterministic randomness ---- */
typedef struct rng_s {
    uint64_t s;
} rng_t;

static uint64_t rng_next(rng_t *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static int rng_int(rng_t *r, int n) /* [0, n) */
{
    return n <= 0 ? 0 : (int)(rng_next(r) % (uint64_t)n);
}

static char *mprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *mprintf(const char *fmt, ...)
{
    buf_t b;
    va_list ap;
    buf_init(&b, SB_MAX_TEXT * 2);
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    if (!b.data)
        return mem_strdup("");
    return buf_steal(&b, NULL);
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
static void adf_walk(const json_t *n, buf_t *b, int depth, int in_list)
{
    if (!json_is_object(n) || depth > 32)
        return;
    const char *type = json_string_value(json_object_get(n, "type"));
    const char *text = json_string_value(json_object_get(n, "text"));
    if (type && strcmp(type, "text") == 0 && text) {
        buf_append_str(b, text);
        return;
    }
    if (type && strcmp(type, "hardBreak") == 0) {
        buf_append_str(b, "\n");
        return;
    }
    int list = type && (strcmp(type, "bulletList") == 0 || strcmp(type, "orderedList") == 0);
    json_t *content = json_object_get(n, "content");
    size_t i;
    json_t *c;
    json_array_foreach(content, i, c) adf_walk(c, b, depth + 1, in_list || list);
    int block = type && strcmp(type, "text") != 0 && strcmp(type, "doc") != 0 && strcmp(type, "listItem") != 0 &&
                strcmp(type, "mention") != 0 && strcmp(type, "emoji") != 0 && strcmp(type, "inlineCard") != 0;
    if (block && b->len && b->data[b->len - 1] != '\n')
        buf_append_str(b, "\n");
    if (block && !in_list)
        buf_append_str(b, "\n");
}

char *sb_adf_text(const json_t *doc)
{
    if (!json_is_object(doc))
        return NULL;
    const char *type = json_string_value(json_object_get(doc, "type"));
    if (!type || strcmp(type, "doc") != 0 || !json_is_array(json_object_get(doc, "content")))
        return NULL;
    buf_t b;
    buf_init(&b, SB_MAX_TEXT);
    buf_append_str(&b, "");
    adf_walk(doc, &b, 0, 0);
    if (!b.data)
        return NULL;
    while (b.len && b.data[b.len - 1] == '\n')
        b.data[--b.len] = 0;
    return buf_steal(&b, NULL);
}

static json_t *adf_text_node(const char *s, size_t n)
{
    return sb_pack("{s:s, s:s%}", "type", "text", "text", s, n);
}

/* A block of lines: a list when every line starts with "- " or "N. ",
 * otherwise a paragraph with hard breaks between lines. */
static json_t *adf_block(const char *s, size_t n)
{
    int bullet = 1, ordered = 1, lines = 0;
    const char *p = s, *end = s + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        lines++;
        if (!(le - p >= 2 && p[0] == '-' && p[1] == ' '))
            bullet = 0;
        const char *q = p;
        while (q < le && isdigit((unsigned char)*q))
            q++;
        if (!(q > p && q + 1 < le && q[0] == '.' && q[1] == ' '))
            ordered = 0;
        p = nl ? nl + 1 : end;
    }
    json_t *block;
    if (lines > 0 && (bullet || ordered)) {
        json_t *items = json_array();
        block = sb_pack("{s:s, s:o}", "type", bullet ? "bulletList" : "orderedList", "content", items);
        if (ordered)
            json_object_set_new(block, "attrs", sb_pack("{s:i}", "order", 1));
        for (p = s; p < end;) {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            const char *le = nl ? nl : end;
            const char *t = bullet ? p + 2 : strstr(p, ". ") + 2;
            json_t *para = sb_pack("{s:s, s:[o]}", "type", "paragraph", "content",
                                     adf_text_node(t, (size_t)(le - t)));
            json_array_append_new(items, sb_pack("{s:s, s:[o]}", "type", "listItem", "content", para));
            p = nl ? nl + 1 : end;
        }
        return block;
    }
    json_t *content = json_array();
    for (p = s; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        if (le > p)
            json_array_append_new(content, adf_text_node(p, (size_t)(le - p)));
        if (nl && nl + 1 < end)
            json_array_append_new(content, sb_pack("{s:s}", "type", "hardBreak"));
        p = nl ? nl + 1 : end;
    }
    return sb_pack("{s:s, s:o}", "type", "paragraph", "content", content);
}

json_t *sb_adf_from_text(const char *text)
{
    json_t *content = json_array();
    const char *p = text ? text : "";
    while (*p) {
        const char *sep = strstr(p, "\n\n");
        size_t n = sep ? (size_t)(sep - p) : strlen(p);
        if (n)
            json_array_append_new(content, adf_block(p, n));
        p += n;
        while (*p == '\n')
            p++;
    }
    return sb_pack("{s:s, s:i, s:o}", "type", "doc", "version", 1, "content", content);
}

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

static void user_fill(sb_user_t *u, const char *id, const char *name, const char *email,
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
    user_fill(&d->users[i], id, display_name, email, "UTC", customer);
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

static void history_clear(sb_issue_t *is)
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
            int k = len < a->size - off ? len : a->size - off;
            memcpy(b + off, line, (size_t)k);
            off += k;
        }
        return b;
    }
    rng_t r = {(uint64_t)a->id * 0x9e3779b97f4a7c15ULL};
    for (int i = 0; i < a->size; i += 8) {
        uint64_t x = rng_next(&r);
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

/* ---- SLA ---- */
static const int64_t SLA_GOALS[SB_NSLA][5] = {
    {1 * HOUR_MS, 2 * HOUR_MS, 4 * HOUR_MS, 8 * HOUR_MS, 8 * HOUR_MS},
    {4 * HOUR_MS, 8 * HOUR_MS, 24 * HOUR_MS, 48 * HOUR_MS, 72 * HOUR_MS},
};

static void sla_fill(sb_sla_t *c, int64_t start, int64_t stop, int64_t goal, int64_t now)
{
    c->start = start;
    c->stop = stop;
    c->goal_ms = goal;
    c->elapsed_ms = (stop ? stop : now) - start;
    if (c->elapsed_ms < 0)
        c->elapsed_ms = 0;
    c->remaining_ms = goal - c->elapsed_ms;
    c->breached = c->remaining_ms < 0;
}

/* Appends a cycle keeping the newest max ones. */
static void push_cycle(sb_sla_t *out, int max, int *n, int64_t start, int64_t stop, int64_t goal, int64_t now)
{
    if (max <= 0)
        return;
    if (*n == max) {
        memmove(out, out + 1, (size_t)(max - 1) * sizeof *out);
        (*n)--;
    }
    sla_fill(&out[(*n)++], start, stop, goal, now);
}

int sb_issue_sla_cycles(const sb_issue_t *is, int metric, int64_t now, sb_sla_t *out, int max)
{
    int64_t goal = SLA_GOALS[metric][is->priority], start = is->created, first_done = 0;
    int n = 0, open = 1;
    /* Walk the status changes: entering done completes a cycle, leaving
     * done (a reopen) starts the next one. */
    for (int h = 0; h < is->nhistory; h++)
        for (int i = 0; i < is->history[h].nitems; i++) {
            const sb_change_item_t *it = &is->history[h].items[i];
            if (strcmp(it->field, "status") != 0)
                continue;
            int to = sb_status_find(it->to), done = to >= 0 && sb_statuses[to].cat == SB_CAT_DONE;
            int64_t t = is->history[h].created;
            if (done && open) {
                if (!first_done)
                    first_done = t;
                if (metric == 1)
                    push_cycle(out, max, &n, start, t, goal, now);
                open = 0;
            } else if (!done && !open) {
                start = t;
                open = 1;
            }
        }
    if (metric == 0) { /* one cycle: the first public agent reply, else the first resolution */
        int64_t stop = is->first_response ? is->first_response : first_done;
        if (max > 0)
            sla_fill(&out[0], is->created, stop, goal, now);
        return max > 0;
    }
    if (open)
        push_cycle(out, max, &n, start, 0, goal, now);
    else if (!n) /* history cut short (SB_MAX_HISTORY): the latest resolution */
        push_cycle(out, max, &n, is->created, is->resolved ? is->resolved : now, goal, now);
    return n;
}

void sb_issue_sla(const sb_issue_t *is, int metric, int64_t now, sb_sla_t *out)
{
    sb_sla_t cyc[SB_MAX_SLA_CYCLES];
    int n = sb_issue_sla_cycles(is, metric, now, cyc, SB_MAX_SLA_CYCLES);
    if (n)
        *out = cyc[n - 1];
    else
        memset(out, 0, sizeof *out);
}

/* ---- seeding ---- */
static const char *pick(rng_t *r, const char *const *a, int n)
{
    return a[rng_int(r, n)];
}

static char *gen_summary(rng_t *r, const rtype_def_t *rt)
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
        int k = rng_int(r, 4), n = 1 + rng_int(r, 9);
        return k == 0 ? mprintf(f[0], n, off) : k == 2 ? mprintf(f[2], off, n * 5)
                                             : mprintf(f[k], off, n);
    }
    case 1:
        return rng_int(r, 2) ? mprintf("New %s for a starter in %s", dev, off)
                             : mprintf("%s screen flickering and will not charge", dev);
    case 2:
        return rng_int(r, 2) ? mprintf("Access to %s for the %s team", app, off)
                             : mprintf("Locked out of %s after password change", app);
    case 3:
        return mprintf("Licence request: %s for %s", app, off);
    default: {
        static const char *const f[] = {"%s is slow for everyone in %s", "Cannot sign in to %s from %s",
                                        "%s keeps crashing on start (%s)", "Error 500 when opening %s in %s"};
        return mprintf(f[rng_int(r, 4)], app, off);
    }
    }
}

static char *gen_description(rng_t *r, const char *summary)
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

static void seed_comments(sb_data_t *d, rng_t *r, sb_issue_t *is, int agent, int64_t now)
{
    int n = rng_int(r, 5);
    int64_t t = is->created;
    for (int i = 0; i < n; i++) {
        t += (10 + rng_int(r, 600)) * MIN_MS;
        if (t >= now || (is->resolved && t > is->resolved))
            break;
        if (i % 2 == 0) {
            int internal = rng_int(r, 4) == 0;
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

static void add_approval(sb_data_t *d, rng_t *r, sb_issue_t *is, int nagents)
{
    sb_approval_t *a = mem_calloc(1, sizeof *a);
    a->id = d->next_approval_id++;
    snprintf(a->name, sizeof a->name, "%s", rng_int(r, 2) ? "Manager approval" : "Please approve this request");
    a->napprovers = 1 + rng_int(r, 2);
    for (int i = 0; i < a->napprovers; i++)
        a->approvers[i] = 1 + (i == 0 && rng_int(r, 3) == 0 ? -1 : rng_int(r, nagents)); /* 0 = caller */
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
static void seed_xvalues(sb_data_t *d, rng_t *r, sb_issue_t *is, const sb_rtfield_t *layout, int nlayout,
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
        if (!lf->required && rng_int(r, 3) == 0)
            continue;
        v->set = 1;
        switch (f->type) {
        case SB_XT_SELECT: v->i = rng_int(r, f->noptions); break;
        case SB_XT_USER: v->i = 1 + rng_int(r, nagents); break;
        case SB_XT_NUMBER: v->i = 1 + rng_int(r, 400); break;
        default: v->s = mprintf("Firmware %d.%d regression after the last patch window", 1 + rng_int(r, 4), rng_int(r, 10));
        }
    }
}

/* What the first data sets did not have, drawn from a stream of its own so
 * that the rest of the data set stays as it was: custom field values,
 * watchers and reopened requests (several SLA cycles). */
static void seed_extras(sb_data_t *d, sb_issue_t *is, const rtype_def_t *rt, int nagents, int worker, int64_t now)
{
    rng_t r = {d->seed * 0x9E3779B97F4A7C15ULL ^ ((uint64_t)is->id << 20) ^ 0x5eedULL};
    seed_xvalues(d, &r, is, rt->layout, rt->nlayout, nagents);
    if (is->assignee >= 0 && rng_int(&r, 2))
        sb_watcher_add(is, is->assignee);
    /* One resolved request in eight was reopened by its reporter, and most
     * of those were resolved again: Time to resolution has several cycles. */
    if (is->resolved && is->status != ST_CANCELED && rng_int(&r, 8) == 0) {
        int64_t t = is->resolved + (2 + rng_int(&r, 46)) * HOUR_MS;
        if (t < now - HOUR_MS) {
            sb_issue_set_status(d, is, ST_WFS, SB_RES_AUTO, is->reporter, t);
            int64_t t2 = t + (1 + rng_int(&r, 30)) * HOUR_MS;
            if (t2 < now && rng_int(&r, 3))
                sb_issue_set_status(d, is, ST_RESOLVED, SB_RES_AUTO, worker, t2);
        }
    }
}

static void seed_issue(sb_data_t *d, rng_t *r, int project, int idx_in_proj, int total, int nagents,
                       int cust0, int ncust, int64_t now)
{
    const rtype_def_t *defs[8];
    int nd = 0;
    for (int i = 0; i < NRTYPES; i++)
        if (RTYPES[i].project == project)
            defs[nd++] = &RTYPES[i];
    int rti = rng_int(r, nd);
    const rtype_def_t *rt = defs[rti];
    int rtype = sb_rtype_find(d, project, rt->name);
    /* Ages spread over 120 days, newest last; a few hours of jitter. */
    int64_t age = (int64_t)(total - idx_in_proj) * (120 * DAY_MS) / total + rng_int(r, 180) * MIN_MS;
    int64_t created = now - age;
    int reporter = cust0 + rng_int(r, ncust);
    if (rng_int(r, 5) == 0)
        reporter = 1 + rng_int(r, nagents); /* employees file tickets too */
    if (rng_int(r, 30) == 0)
        reporter = 0; /* and so does the caller: GET /request has its own requests to list */
    char *summary = gen_summary(r, rt);
    char *desc = gen_description(r, summary);
    sb_issue_t *is = sb_issue_create(d, project, rt->issuetype, rtype, reporter, summary, desc, created);
    free(summary);
    free(desc);
    int pr = rng_int(r, 10);
    is->priority = pr == 0 ? 0 : pr < 3 ? 1 : pr < 7 ? 2 : pr < 9 ? 3 : 4;
    int agent = 1 + rng_int(r, nagents);
    if (rng_int(r, 5) != 0) {
        is->assignee = rng_int(r, 7) == 0 ? 0 : agent; /* some are assigned to the caller */
        sb_change_t *c = sb_history_begin(d, is, is->assignee, created + MIN_MS);
        sb_history_item(c, "assignee", "assignee", 0, NULL, NULL, d->users[is->assignee].account_id,
                        d->users[is->assignee].display_name);
    }
    int worker = is->assignee >= 0 ? is->assignee : agent;
    int64_t days = age / DAY_MS;
    int resolved = days > 10 ? rng_int(r, 100) < 85 : rng_int(r, 100) < 20;
    seed_comments(d, r, is, is->assignee >= 0 ? is->assignee : agent, now);
    if (resolved) {
        int64_t t = created + (1 + rng_int(r, 96)) * HOUR_MS;
        if (t >= now)
            t = now - MIN_MS;
        int to = rng_int(r, 10) == 0 ? ST_CANCELED : rng_int(r, 3) == 0 ? ST_CLOSED : ST_RESOLVED;
        int res = SB_RES_AUTO;
        if (to != ST_CANCELED && rng_int(r, 6) == 0)
            res = 2 + rng_int(r, 2);
        sb_issue_set_status(d, is, to, res, worker, t);
    } else {
        static const int open[] = {ST_WFS, ST_WFS, ST_WFS, ST_WFC, ST_PROGRESS, ST_PROGRESS, ST_PENDING, ST_ESCALATED};
        int to = open[rng_int(r, NELEM(open))];
        if (to != ST_WFS)
            sb_issue_set_status(d, is, to, SB_RES_AUTO, worker, created + (1 + rng_int(r, 30)) * MIN_MS);
    }
    if (is->ncomments)
        is->updated = is->comments[is->ncomments - 1].created > is->updated ? is->comments[is->ncomments - 1].created
                                                                              : is->updated;
    sb_label_add(is, rt->label);
    if (is->priority == 0)
        sb_label_add(is, "urgent");
    if (rng_int(r, 3) == 0)
        is->due = (created / DAY_MS + 3 + rng_int(r, 12)) * DAY_MS;
    if (rng_int(r, 4) == 0)
        is->participants[is->nparticipants++] = cust0 + rng_int(r, ncust);
    for (int o = 0; o < d->norgs; o++)
        for (int m = 0; m < d->orgs[o].nmembers; m++)
            if (d->orgs[o].members[m] == reporter)
                is->org = o;
    if (is->status != ST_WFS && is->assignee >= 0 && rng_int(r, 3) == 0) {
        int64_t start = created + HOUR_MS;
        if (start < now)
            sb_worklog_add(d, is, is->assignee, (1 + rng_int(r, 8)) * 1800, "Investigation", start, start + HOUR_MS);
    }
    if (rng_int(r, 7) == 0) {
        static const char *const names[] = {"screenshot.png", "error-log.txt", "network-trace.pcap"};
        static const char *const mimes[] = {"image/png", "text/plain", "application/vnd.tcpdump.pcap"};
        int k = rng_int(r, 3);
        int size = 1000 + rng_int(r, 200000);
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
    history_clear(is);
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
    rng_t r = {d->seed * 0xD1B54A32D192ED03ULL + 11};
    int pi_type = sb_linktype_find("Problem/Incident"), rel = sb_linktype_find("Relates");
    int itsm = sb_project_find(d, "ITSM"), first_problem = -1;
    for (int i = 0; i < d->nissues; i++) {
        const sb_issue_t *is = d->issues[i];
        if (is->project != itsm || is->issuetype != IT_PROBLEM)
            continue;
        if (first_problem < 0)
            first_problem = i;
        int n = 1 + rng_int(&r, 2);
        for (int k = 0; k < n && i > 0; k++) {
            int j = rng_int(&r, i);
            if (d->issues[j]->project == itsm && d->issues[j]->issuetype == IT_INCIDENT)
                sb_link_add(d, pi_type, i, j);
        }
    }
    const sb_issue_t *vpn = sb_issue_find(d, "ITSM-994");
    if (vpn && first_problem >= 0)
        sb_link_add(d, pi_type, first_problem, vpn->index);
    for (int k = 0; k < 40; k++) {
        int a = rng_int(&r, d->nissues), b = rng_int(&r, d->nissues);
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

sb_data_t *sb_data_new(uint64_t seed, int64_t anchor_ms, const char *caller_email)
{
    sb_data_t *d = mem_calloc(1, sizeof *d);
    rng_t r = {seed * 0x2545F4914F6CDD1DULL + 7};
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
    user_fill(&d->users[0], id, "Sandbox Agent", caller_email, "Europe/London", 0);
    d->users[0].groups = 1u << G_SITE_ADMINS | 1u << G_JIRA_ADMINS | 1u << G_JSM_USERS | 1u << G_DESK_TEAM;
    d->caller = 0;
    user_fill(&d->users[1], "5b10ac8d82e05b22cc7d4ef5", "Lena Hoffmann", "lena.hoffmann@example.com",
              "Europe/Berlin", 0);
    d->users[1].groups = 1u << G_JSM_USERS | 1u << G_NETWORK;
    d->nusers = 2;
    const int nagents = 12, ncust = 48;
    for (int i = 2; i <= nagents; i++) {
        const char *f = FIRST[(i * 7 + (int)seed) % NELEM(FIRST)], *l = LAST[(i * 5 + (int)seed * 3) % NELEM(LAST)];
        snprintf(id, sizeof id, "%016llx%08x", (unsigned long long)rng_next(&r), (unsigned)i);
        snprintf(name, sizeof name, "%s %s", f, l);
        snprintf(email, sizeof email, "%c.%s%d@example.com", tolower((unsigned char)f[0]), l, i);
        for (char *p = email; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        sb_user_t *u = &d->users[d->nusers++];
        user_fill(u, id, name, email, TZS[rng_int(&r, NELEM(TZS))], 0);
        u->groups = 1u << G_JSM_USERS | 1u << G_DESK_TEAM | 1u << (i % 2 ? G_NETWORK : G_HARDWARE);
        u->email_hidden = i % 4 == 3; /* a few agents hide their email too */
        u->tz_hidden = i % 5 == 4;
    }
    d->users[nagents].active = 0; /* one deactivated agent, as real sites have */
    int cust0 = d->nusers;
    for (int i = 0; i < ncust; i++) {
        const char *f = FIRST[rng_int(&r, NELEM(FIRST))], *l = LAST[rng_int(&r, NELEM(LAST))];
        snprintf(name, sizeof name, "%s %s", f, l);
        snprintf(email, sizeof email, "customer%02d@customer.example.com", i + 1);
        int u = sb_user_add(d, email, name, 1);
        snprintf(d->users[u].time_zone, sizeof d->users[u].time_zone, "%s", TZS[rng_int(&r, NELEM(TZS))]);
        /* Privacy: two customers in three hide their email, three in four their time zone. */
        d->users[u].email_hidden = i % 3 != 0;
        d->users[u].tz_hidden = i % 4 != 1;
        for (int p = 0; p < NPROJ; p++)
            d->projects[p].customers[u] = (unsigned char)(p == 1 || rng_int(&r, 2));
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
        history_clear(is);
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
