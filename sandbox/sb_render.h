/* sb_render: the platform v3 JSON shapes of the data set as Jira Cloud
 * returns them: issue beans (fields selection, expand, ADF), comments,
 * worklogs, attachments, transitions, links, /field, users' groups.
 * The servicedeskapi objects an issue's custom fields embed (request type,
 * SLA, approvals, organizations) come from sb_render_sd.h; the servicedeskapi
 * answers (desks, queues, customer requests) are sb_render_jsm.h, above this.
 * Every function returns a new reference and only reads the data set. */
#ifndef JSMCP_SB_RENDER_H
#define JSMCP_SB_RENDER_H

#include <jansson.h>

#include "sb.h"

#define SB_FS_MAX 32
typedef struct sb_fieldsel_s {
    int all, navigable, given;
    int ninc, nexc;
    char inc[SB_FS_MAX][48];
    char exc[SB_FS_MAX][48];
} sb_fieldsel_t;

/* default_all: GET issue returns all fields by default; search/jql only id. */
void sb_fieldsel_init(sb_fieldsel_t *fs, int default_all);
void sb_fieldsel_add(sb_fieldsel_t *fs, const char *spec); /* "summary,-comment,*navigable" */
/* 1 when only id/key are selected (search/jql page size may then go to 5000). */
int sb_fieldsel_ids_only(const sb_fieldsel_t *fs);

enum {
    SB_EXP_RENDERED = 1, SB_EXP_NAMES = 2, SB_EXP_SCHEMA = 4, SB_EXP_TRANSITIONS = 8,
    SB_EXP_OPERATIONS = 16, SB_EXP_EDITMETA = 32, SB_EXP_CHANGELOG = 64
};
unsigned sb_expand_parse(const char *s);

json_t *sb_issue_json(const sb_call_t *c, const sb_issue_t *is, const sb_fieldsel_t *fs, unsigned expand,
                      int comment_cap);
/* names/schema maps for the fields fs selects (search/jql top level). */
json_t *sb_names_json(const sb_call_t *c, const sb_fieldsel_t *fs);
json_t *sb_schema_json(const sb_call_t *c, const sb_fieldsel_t *fs);
json_t *sb_comment_json(const sb_call_t *c, const sb_issue_t *is, const sb_comment_t *cm, int rendered);
json_t *sb_worklog_json(const sb_call_t *c, const sb_issue_t *is, const sb_worklog_t *w);
/* id_string: the upload answer's "id" is a string, the metadata's an integer. */
json_t *sb_attachment_json(const sb_call_t *c, const sb_attachment_t *a, int id_string);
/* with_fields: the screen's fields (expand=transitions.fields). */
json_t *sb_transition_json(const sb_call_t *c, int t, int with_fields);
json_t *sb_resolution_json(const sb_call_t *c, int r);
json_t *sb_change_json(const sb_call_t *c, const sb_change_t *ch);
json_t *sb_linktype_json(const sb_call_t *c, int t);
/* An issue link as seen from issue index from (-1: GET issueLink/{id}, both sides). */
json_t *sb_issuelink_json(const sb_call_t *c, const sb_link_t *l, int from);
/* Site custom fields: one value (null when unset), one select option. */
json_t *sb_xvalue_json(const sb_call_t *c, const sb_issue_t *is, int xf);
json_t *sb_xoption_json(const sb_call_t *c, const sb_xfield_t *f, int opt);
json_t *sb_status_json(const sb_call_t *c, int status);
json_t *sb_issuetype_json(const sb_call_t *c, int it);
json_t *sb_project_json(const sb_call_t *c, int project);
json_t *sb_fields_json(const sb_call_t *c);
json_t *sb_field_schema(const sb_call_t *c, const char *id); /* NULL when unknown */
const char *sb_field_name(const sb_call_t *c, const char *id);

/* Groups of a user: [GroupName]; the expand=groups form {"size","items","max-results"}. */
json_t *sb_groups_json(const sb_call_t *c, int user);
json_t *sb_user_groups_page(const sb_call_t *c, int user);

/* Pieces the servicedeskapi answers share (sb_render_jsm.h). */
json_t *sb_priority_json(const sb_call_t *c, int priority);
/* "<p>text</p>" with HTML escaped and line breaks as Jira renders them. */
json_t *sb_html_json(const char *text);

#endif
