/* sb_data: the sandbox's in-memory JSM site: users, service desks (one
 * project each), request types, queues, issues with comments, worklogs,
 * attachments, SLA timestamps and approvals, organizations and customers.
 *
 * sb_data_new() builds a deterministic data set from a seed: the same seed
 * and the same anchor time give the same site, byte for byte. All times are
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
} sb_transition_t;

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

typedef struct sb_user_s {
    char account_id[80];
    char display_name[64];
    char email[96];
    char time_zone[40];
    int customer; /* accountType customer (portal-only) vs atlassian (agent) */
    int active;
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

typedef struct sb_rtype_s {
    int id;
    int project;     /* project index */
    int issuetype;   /* issue type index */
    int group_id;
    int approval;    /* requests of this type get an approval */
    char name[64];
    char desc[160];
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
    char filename[64];
    const char *mime;
    int size;
    int64_t created;
} sb_attachment_t;

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
    char labels[4][24];
    int nlabels;
    int participants[SB_MAX_PARTICIPANTS];
    int nparticipants;
    sb_comment_t *comments;
    int ncomments, comments_cap;
    sb_worklog_t *worklogs;
    int nworklogs, worklogs_cap;
    sb_attachment_t *attachments;
    int nattachments;
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
    int next_comment_id, next_worklog_id, next_approval_id, next_attachment_id;
} sb_data_t;

#define SB_ISSUE_ID0 10000

/* Builds the data set. caller_email names the agent whose credentials the
 * sandbox accepts (gets a fixed display name). Never fails (aborts on OOM). */
sb_data_t *sb_data_new(uint64_t seed, int64_t anchor_ms, const char *caller_email);
void sb_data_free(sb_data_t *d);

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
/* Moves the issue to status index to, maintaining resolution and dates. */
void sb_issue_set_status(sb_issue_t *is, int to, int64_t now);
/* Transitions available from the issue's current status (indices into sb_transitions). */
int sb_transitions_for(const sb_issue_t *is, int *out, int max);

/* SLA metrics: 0 = time to first response, 1 = time to resolution. */
#define SB_NSLA 2
typedef struct sb_sla_s {
    int64_t start, stop;   /* stop 0 = ongoing */
    int64_t goal_ms;
    int64_t elapsed_ms;
    int64_t remaining_ms;  /* negative after a breach */
    int breached;
} sb_sla_t;
extern const char *const sb_sla_names[SB_NSLA];
void sb_issue_sla(const sb_issue_t *is, int metric, int64_t now, sb_sla_t *out);

/* Plain text of an ADF document (text nodes; paragraphs joined by blank
 * lines). Returns a malloc'd string or NULL when doc is not ADF-like. */
char *sb_adf_text(const json_t *doc);
/* ADF doc built from plain text (paragraphs on blank lines, lines as hardBreak). */
json_t *sb_adf_from_text(const char *text);
/* Case-insensitive substring search, for text ~ and searchTerm. */
int sb_icontains(const char *hay, const char *needle);

#endif
