/* sb_data: the sandbox's in-memory JSM site: users, service desks (one
 * project each), request types, queues, issues with comments, worklogs,
 * attachments, SLA timestamps and approvals, organizations and customers.
 *
 * sb_seed_data() (sb_seed.h) builds a deterministic data set from a seed.
 * All times are
 * epoch milliseconds; "now" is passed in by the caller (the sandbox clock can
 * be advanced by tests). Writes (comments, transitions, new requests...) go
 * straight into these structures for the life of the run; sb_data_free()
 * releases everything.
 *
 * Limits: the tables are bounded (SB_MAX_*); write helpers return -1 when a
 * bound is reached so the HTTP layer can answer 413/400.
 */
#ifndef JSMCP_SB_DATA_H
#define JSMCP_SB_DATA_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define SB_MAX_ISSUES 20000
#define SB_MAX_USERS 2000
#define SB_MAX_ORGS 500
#define SB_MAX_COMMENTS_PER_ISSUE 1000
#define SB_MAX_WORKLOGS_PER_ISSUE 500
#define SB_MAX_PARTICIPANTS 50
#define SB_MAX_TEXT 32768 /* summary/description/comment bytes */
#define SB_MAX_LABELS 1000          /* per issue; Cloud documents no count cap, only the length */
#define SB_LABEL_MAX 255            /* "exceeds the maximum length for a single label of 255 characters" */
#define SB_MAX_WATCHERS 100
#define SB_MAX_HISTORY 2000         /* changelog entries per issue */
#define SB_MAX_ATTACHMENTS 200      /* per issue */
#define SB_MAX_LINKS 20000          /* issue links on the site */
#define SB_MAX_XFIELDS 16           /* site custom fields beyond JSM's own */
#define SB_MAX_TEMPFILES 256        /* JSM temporary attachments not yet attached */

/* Status categories as Jira numbers them. */
enum sb_cat { SB_CAT_NEW = 2, SB_CAT_DONE = 3, SB_CAT_INDETERMINATE = 4 };

typedef struct sb_status_s {
    const char *id;
    const char *name;
    int cat;
} sb_status_t;

typedef struct sb_named_s { /* issue types, priorities, resolutions */
    const char *id;
    const char *name;
    const char *desc;
} sb_named_t;

typedef struct sb_transition_s {
    const char *id;
    const char *name;
    int to;          /* status index */
    int from_done;   /* 1: only from done statuses, 0: only from open ones, -1: any */
    int from_status; /* >= 0: only from this status */
    int screen;      /* 1: a transition screen with Resolution (required) on it */
    int post_resolution; /* resolution a post function sets on entering done; -1 = none */
    int customer;    /* offered on the portal (GET /request/{key}/transition) */
} sb_transition_t;

/* Groups users belong to (GET /rest/api/3/user/groups, expand=groups). */
typedef struct sb_group_s {
    const char *name;
    const char *id;
} sb_group_t;

extern const sb_status_t sb_statuses[];
extern const int sb_nstatuses;
extern const sb_named_t sb_issuetypes[];
extern const int sb_nissuetypes;
extern const sb_named_t sb_priorities[]; /* index 0 = Highest */
extern const int sb_npriorities;
extern const sb_named_t sb_resolutions[];
extern const int sb_nresolutions;
extern const sb_transition_t sb_transitions[];
extern const int sb_ntransitions;
extern const sb_group_t sb_groups[];
extern const int sb_ngroups;

/* Issue link types (GET /rest/api/3/issueLinkType). */
typedef struct sb_linktype_s {
    const char *id, *name, *inward, *outward;
} sb_linktype_t;
extern const sb_linktype_t sb_linktypes[];
extern const int sb_nlinktypes;

/* Site custom fields beyond JSM's own (sb_cf_t): selects, a user picker, text
 * and a number, some sharing a name with another field (real sites often
 * have several "Impact" or "Urgency" fields, with different types or project
 * contexts). */
enum sb_xtype { SB_XT_SELECT, SB_XT_USER, SB_XT_TEXT, SB_XT_NUMBER };
typedef struct sb_xfield_s {
    char id[24];        /* customfield_N, N moving with the seed like the others */
    int num;
    const char *name;
    int type;           /* enum sb_xtype */
    const char *const *options; /* SB_XT_SELECT */
    int noptions;
    int option0;        /* id of the first option (customFieldOption ids) */
    int project;        /* -1: global context; else the one project (index) its context covers */
    int team_managed;   /* the field of a team-managed project: /field shows its scope */
    int required_for;   /* issue type index whose create screen requires it in its project; -1 = none */
} sb_xfield_t;

typedef struct sb_user_s {
    char account_id[80];
    char display_name[64];
    char email[96];
    char time_zone[40];
    int customer; /* accountType customer (portal-only) vs atlassian (agent) */
    int active;
    /* Profile visibility (Atlassian account privacy): emailAddress and
     * timeZone are left out of every response about this user but the
     * user's own (/myself). Customers hide them more often than not. */
    int email_hidden;
    int tz_hidden;
    unsigned groups;  /* bit i: member of sb_groups[i] */
} sb_user_t;

typedef struct sb_project_s {
    int id;          /* Jira project id */
    int desk_id;     /* service desk id */
    char key[16];
    char name[64];
    int lead;        /* user index */
    int next_num;    /* next issue number */
    int *by_num;     /* issue index by number, -1 = none; cap entries */
    int by_num_cap;
    unsigned char *customers; /* per user: 1 = customer of this desk */
    int *orgs;       /* organization ids linked to this desk */
    int norgs;
} sb_project_t;

/* One field of a request type's portal form, in the form's order. */
typedef struct sb_rtfield_s {
    const char *field;  /* "summary", "description", "priority"; NULL: the site field xf */
    int xf;             /* index into sb_data_t.xfields when field is NULL */
    const char *label;  /* the question the portal asks */
    int required;
    int visible;        /* 0: a hidden field with a preset value (never in requestFieldValues) */
    const char *preset; /* hidden fields: the value every request gets */
} sb_rtfield_t;

typedef struct sb_rtype_s {
    int id;
    int project;     /* project index */
    int issuetype;   /* issue type index */
    int group_id;
    int approval;    /* requests of this type get an approval */
    char name[64];
    char desc[160];
    const sb_rtfield_t *layout; /* the form, in order */
    int nlayout;
} sb_rtype_t;

#define SB_QUEUE_MAX_FIELDS 8
typedef struct sb_queue_s {
    int id;
    int project;
    char name[64];
    char jql[320];
    const char *fields[SB_QUEUE_MAX_FIELDS];
    int nfields;
} sb_queue_t;

typedef struct sb_comment_s {
    int id;
    int author;
    char *text;   /* plain text (JSM bodies, search) */
    json_t *adf;  /* ADF as given by a platform write; NULL = built from text */
    int public_;
    int64_t created;
    int64_t updated;
} sb_comment_t;

typedef struct sb_worklog_s {
    int id;
    int author;
    int seconds;
    char *text;
    int64_t started;
    int64_t created;
} sb_worklog_t;

typedef struct sb_attachment_s {
    int id;
    int author;
    char filename[256];
    char mime[100];
    int size;
    int64_t created;
    unsigned char *content; /* uploaded bytes; NULL: seeded, generated from the id (sb_attachment_bytes) */
} sb_attachment_t;

/* A changelog entry: who changed what when, as Jira's history items. */
typedef struct sb_change_item_s {
    char *field;      /* "status", "resolution", "assignee", "labels", "Link", a custom field's name... */
    char *field_id;   /* "status", "customfield_10010"...; NULL for none */
    int custom;       /* fieldtype "custom" vs "jira" */
    char *from, *from_s, *to, *to_s; /* NULL = null */
} sb_change_item_t;

typedef struct sb_change_s {
    int id;
    int author;       /* -1 = automation (no author) */
    int64_t created;
    sb_change_item_t *items;
    int nitems;
} sb_change_t;

/* A value of a site custom field on one issue. */
typedef struct sb_xval_s {
    int set;
    int i;     /* select: option index; user: user index; number: the value */
    char *s;   /* text */
} sb_xval_t;

typedef struct sb_link_s {
    int id;
    int type;     /* index into sb_linktypes */
    int outward;  /* issue index: "outward" describes it (e.g. "causes") */
    int inward;   /* issue index */
    int deleted;
} sb_link_t;

/* A file uploaded with attachTemporaryFile, waiting to be attached. */
typedef struct sb_tempfile_s {
    char id[40];      /* "temp<digits>" */
    int project;
    int uploader;
    char filename[256];
    char mime[100];
    unsigned char *bytes;
    int size;
    int64_t created;
} sb_tempfile_t;

enum sb_decision { SB_PENDING = 0, SB_APPROVED = 1, SB_DECLINED = 2 };

typedef struct sb_approval_s {
    int id;
    char name[80];
    int approvers[3];
    int decisions[3];
    int napprovers;
    int final;    /* enum sb_decision */
    int64_t created;
    int64_t completed; /* 0 while pending */
} sb_approval_t;

typedef struct sb_issue_s {
    int id;
    int index;
    int project;
    int num;
    char key[24];
    int issuetype;
    int status;
    int priority;
    int resolution;   /* -1 = unresolved */
    int assignee;     /* -1 = unassigned */
    int reporter;
    int creator;
    int rtype;        /* request type index, -1 = none */
    int org;          /* organization index, -1 = none */
    char *summary;
    char *description; /* plain text; paragraphs split by blank lines */
    json_t *description_adf; /* set when written through the platform API */
    int64_t created;
    int64_t updated;
    int64_t resolved;  /* 0 = not resolved */
    int64_t status_changed;
    int64_t first_response; /* first public agent comment, 0 = none */
    int64_t due;       /* 0 = none (date only, midnight UTC) */
    int64_t indexed_at; /* search sees the issue from then on (eventual consistency) */
    char **labels;
    int nlabels, labels_cap;
    int participants[SB_MAX_PARTICIPANTS];
    int nparticipants;
    sb_comment_t *comments;
    int ncomments, comments_cap;
    sb_worklog_t *worklogs;
    int nworklogs, worklogs_cap;
    sb_attachment_t *attachments;
    int nattachments, attachments_cap;
    sb_change_t *history;   /* oldest first */
    int nhistory, history_cap;
    int watchers[SB_MAX_WATCHERS];
    int nwatchers;
    sb_xval_t xv[SB_MAX_XFIELDS];
    sb_approval_t *approvals;
    int napprovals;
    /* per-issue write limiter windows (sb_limits) */
    int64_t wl_win2, wl_win30;
    int wl_n2, wl_n30;
} sb_issue_t;

typedef struct sb_org_s {
    int id;
    char name[64];
    int64_t created;
    int *members;  /* user indices */
    int nmembers, members_cap;
    int deleted;
} sb_org_t;

/* Custom field ids differ per site (seed): resolve via /field. */
typedef struct sb_cf_s {
    int request_type, sla_first_response, sla_resolution, organizations,
        participants, approvals, satisfaction;
    char ids[7][24]; /* "customfield_N" in the order above, rendered once */
} sb_cf_t;

typedef struct sb_data_s {
    uint64_t seed;
    int64_t anchor_ms; /* the "now" the data set was generated for */
    sb_cf_t cf;
    sb_user_t *users;
    int nusers;
    int caller;        /* user index of the API-token / OAuth agent */
    sb_project_t *projects;
    int nprojects;
    sb_rtype_t *rtypes;
    int nrtypes;
    sb_queue_t *queues;
    int nqueues;
    sb_issue_t **issues; /* index = id - SB_ISSUE_ID0 */
    int nissues;
    sb_org_t *orgs;
    int norgs;
    sb_xfield_t xfields[SB_MAX_XFIELDS];
    int nxfields;
    sb_link_t *links;
    int nlinks, links_cap;
    sb_tempfile_t *tempfiles; /* SB_MAX_TEMPFILES slots; bytes NULL = free (an empty file gets 1 byte) */
    int next_comment_id, next_worklog_id, next_approval_id, next_attachment_id, next_change_id, next_link_id;
    uint64_t next_temp_id;
} sb_data_t;

#define SB_ISSUE_ID0 10000

void sb_data_free(sb_data_t *d);

/* Indices into sb_statuses, sb_issuetypes and sb_groups (their order). */
enum { ST_WFS, ST_WFC, ST_PROGRESS, ST_PENDING, ST_ESCALATED, ST_RESOLVED, ST_CLOSED, ST_CANCELED };
enum { IT_SR, IT_INCIDENT, IT_PROBLEM, IT_CHANGE, IT_SRA };
enum { G_SITE_ADMINS, G_JIRA_ADMINS, G_JSM_USERS, G_DESK_TEAM, G_NETWORK, G_HARDWARE };

/* splitmix64: the sandbox's deterministic random stream (the seed's data,
 * attachment bytes). */
typedef struct sb_rng_s {
    uint64_t s;
} sb_rng_t;
uint64_t sb_rng_next(sb_rng_t *r);
int sb_rng_int(sb_rng_t *r, int n); /* [0, n) */
/* Fills user record u (active, no groups, nothing hidden). */
void sb_user_fill(sb_user_t *u, const char *id, const char *name, const char *email, const char *tz, int customer);
/* Frees an issue's changelog (the issue keeps none). */
void sb_issue_history_clear(sb_issue_t *is);

/* Lookups; NULL / -1 when absent. Keys are matched case-insensitively,
 * numeric strings as ids. */
sb_issue_t *sb_issue_find(const sb_data_t *d, const char *id_or_key);
int sb_user_find(const sb_data_t *d, const char *account_id);
int sb_user_find_any(const sb_data_t *d, const char *s); /* id, email or display name */
int sb_project_find(const sb_data_t *d, const char *id_or_key_or_name);
/* Accepts 2, ITSM, projectKey:ITSM, projectId:10002, serviceDeskId:2. */
int sb_desk_find(const sb_data_t *d, const char *s);
int sb_rtype_find(const sb_data_t *d, int project, const char *id_or_name);
int sb_status_find(const char *id_or_name);
int sb_named_find(const sb_named_t *t, int n, const char *id_or_name);
int sb_org_find(const sb_data_t *d, int id);
const sb_queue_t *sb_queue_find(const sb_data_t *d, int project, int id);

/* Writes. Return the new object or NULL when a bound is reached. */
sb_issue_t *sb_issue_create(sb_data_t *d, int project, int issuetype, int rtype, int reporter,
                            const char *summary, const char *description, int64_t now);
sb_comment_t *sb_comment_add(sb_data_t *d, sb_issue_t *is, int author, const char *text,
                             json_t *adf, int public_, int64_t now);
sb_worklog_t *sb_worklog_add(sb_data_t *d, sb_issue_t *is, int author, int seconds,
                             const char *text, int64_t started, int64_t now);
int sb_user_add(sb_data_t *d, const char *email, const char *display_name, int customer);
int sb_org_add(sb_data_t *d, const char *name, int64_t now);
int sb_org_add_member(sb_org_t *o, int user);
void sb_org_remove_member(sb_org_t *o, int user);
/* Moves the issue to status index to, maintaining resolution and dates, and
 * records the change (status, resolution) in its history. resolution: the
 * resolution index set on entering a done status, SB_RES_AUTO for the
 * workflow's default (Done; Won't Do for Canceled). Leaving done clears it. */
#define SB_RES_AUTO (-2)
void sb_issue_set_status(sb_data_t *d, sb_issue_t *is, int to, int resolution, int author, int64_t now);
/* Transitions available from the issue's current status (indices into
 * sb_transitions); customer_only: those the portal offers. */
int sb_transitions_for(const sb_issue_t *is, int *out, int max);
int sb_customer_transitions_for(const sb_issue_t *is, int *out, int max);

/* History: a new changelog entry (NULL when the issue's history is full),
 * then its items. Strings are copied; NULL stays null. */
sb_change_t *sb_history_begin(sb_data_t *d, sb_issue_t *is, int author, int64_t now);
void sb_history_item(sb_change_t *c, const char *field, const char *field_id, int custom, const char *from,
                     const char *from_s, const char *to, const char *to_s);

/* Labels: 0, or -1 when the issue has SB_MAX_LABELS already (add) */
int sb_label_add(sb_issue_t *is, const char *label);
void sb_label_remove(sb_issue_t *is, const char *label);
void sb_labels_clear(sb_issue_t *is);
/* Cloud's label rules: 0 when ok; else -1 and Jira's message in err. */
int sb_label_check(const char *label, char *err, size_t errsz);

/* Attachments: a new one on the issue taking ownership of bytes (NULL when full). */
sb_attachment_t *sb_attachment_add(sb_data_t *d, sb_issue_t *is, int author, const char *filename,
                                   const char *mime, unsigned char *bytes, int size, int64_t now);
/* The attachment with this id anywhere on the site; *owner gets its issue. */
sb_attachment_t *sb_attachment_find(const sb_data_t *d, long id, sb_issue_t **owner);
/* Its bytes: the uploaded ones, or deterministic ones for a seeded attachment
 * (malloc'd, size a->size; the caller frees when *owned). */
const unsigned char *sb_attachment_bytes(const sb_attachment_t *a, int *owned);

/* Watchers: 0 added (or already there), -1 full. */
int sb_watcher_add(sb_issue_t *is, int user);
void sb_watcher_remove(sb_issue_t *is, int user);

/* Links: the new link's index, -1 when full. */
int sb_link_add(sb_data_t *d, int type, int outward, int inward);
int sb_linktype_find(const char *id_or_name);

/* Site custom fields: index by id ("customfield_N"), -1 when none. */
int sb_xfield_find(const sb_data_t *d, const char *id);
/* Option index of a select field by option id or value; -1 when none. */
int sb_xfield_option(const sb_xfield_t *f, const char *id_or_value);
/* 1 when the field's context covers the project (index). */
int sb_xfield_in_project(const sb_xfield_t *f, int project);

/* Temporary attachments: the slot, or NULL when all are taken. */
sb_tempfile_t *sb_tempfile_add(sb_data_t *d, int project, int uploader, const char *filename, const char *mime,
                               unsigned char *bytes, int size, int64_t now);
sb_tempfile_t *sb_tempfile_find(sb_data_t *d, const char *id);
void sb_tempfile_release(sb_tempfile_t *t); /* frees its bytes, the slot is free again */

/* Case-insensitive substring search, for text ~ and searchTerm. */
int sb_icontains(const char *hay, const char *needle);
/* Cloud's user search match: needle is a case-insensitive prefix of s or of
 * one of its space-separated words ("hoff" finds "Lena Hoffmann", "ena" does
 * not; an email matches from its start only). */
int sb_prefix_match(const char *s, const char *needle);
/* Users as a caller sees them: the email/time zone when the profile shows them. */
const char *sb_user_email(const sb_data_t *d, int user, int viewer);
const char *sb_user_tz(const sb_data_t *d, int user, int viewer);

#endif
