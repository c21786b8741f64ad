/* sb_render_sd: the servicedeskapi objects that appear in both API
 * families: as servicedeskapi answers and inside platform issue beans, as
 * the values of JSM custom fields (Request Type, the SLA fields, Approvals,
 * Organizations). Below sb_render (platform) and sb_render_jsm
 * (servicedeskapi); uses only the data set and the call's base URL and
 * clock. Every function returns a new reference and only reads.
 */
#ifndef JSMCP_SB_RENDER_SD_H
#define JSMCP_SB_RENDER_SD_H

#include <jansson.h>

#include "sb.h"

json_t *sb_status_category_jsm(int status); /* "NEW" / "INDETERMINATE" / "DONE" */
/* {"status","statusCategory","statusDate"} of the request's status now. */
json_t *sb_current_status_json(const sb_issue_t *is);
json_t *sb_rtype_json(const sb_call_t *c, const sb_rtype_t *rt);
/* One SLA metric (0 first response, 1 resolution): completed cycles
 * oldest first, then the ongoing one while the request is open. */
json_t *sb_sla_json(const sb_call_t *c, const sb_issue_t *is, int metric);
json_t *sb_approval_json(const sb_call_t *c, const sb_issue_t *is, const sb_approval_t *a);
json_t *sb_org_json(const sb_call_t *c, const sb_org_t *o);

#endif
