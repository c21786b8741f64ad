/* sb_render_jsm: the servicedeskapi answers (jsm-rest-api.md §3): service
 * desks, queues (with their issue count), queue issues (a platform bean
 * limited to the queue's fields), customer requests with their expands,
 * request comments and attachments. Above sb_render (platform beans) and
 * sb_render_sd (the pieces both families share). Every function returns a
 * new reference and only reads the data set.
 */
#ifndef JSMCP_SB_RENDER_JSM_H
#define JSMCP_SB_RENDER_JSM_H

#include <jansson.h>

#include "sb.h"

json_t *sb_desk_json(const sb_call_t *c, int project);
/* with_count: runs the queue's JQL to add "issueCount". */
json_t *sb_queue_json(const sb_call_t *c, const sb_queue_t *q, int with_count);
/* Queue issue: platform-style bean limited to the queue's fields. */
json_t *sb_queue_issue_json(const sb_call_t *c, const sb_queue_t *q, const sb_issue_t *is);
/* expand: comma-separated (participant, status, sla, requestType,
 * serviceDesk, attachment, action, comment); NULL or "" = none. */
json_t *sb_request_json(const sb_call_t *c, const sb_issue_t *is, const char *expand);
json_t *sb_jsm_comment_json(const sb_call_t *c, const sb_issue_t *is, const sb_comment_t *cm);
json_t *sb_jsm_attachment_json(const sb_call_t *c, const sb_attachment_t *a);

#endif
