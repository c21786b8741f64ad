/* ap_events: see ap_events.h. */
#include "ap_events.h"

#include <stdio.h>
#include <string.h>

/* SQL: one event as the API shows it (the names the dashboard's audit page
 * reads: created_at, action, object_type, object_id, key_prefix, client_ip,
 * diff). */
#define EVENT_JSON                                                                                      \
    "json_build_object('id', id, 'created_at', to_char(created_at AT TIME ZONE 'UTC',"                 \
    " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'action', action, 'object_type', object_type,"             \
    " 'object_id', object_id, 'key_id', key_id, 'key_prefix', key_prefix, 'client_ip', client_ip,"     \
    " 'diff', diff)::text"

/* action: what the triggers write, "<object_type>.<verb>". */
static int action_ok(const char *s)
{
    size_t n = strlen(s);
    return n >= 3 && n <= 64 && strspn(s, "abcdefghijklmnopqrstuvwxyz_.") == n && strchr(s, '.');
}

static void events_list(ap_req_t *r)
{
    char object_id[AP_UUID_LEN + 2], action[72], since[40], until[40];
    ap_page_t pg;
    int rc;
    if ((rc = ap_qparam(r, "object_id", object_id, sizeof object_id, "an object id (a UUID)")) < 0)
        return;
    if (rc && !ap_is_uuid(object_id)) {
        ap_qbad(r, "object_id", "an object id (a UUID)");
        return;
    }
    static const char act_what[] = "an action such as server.created or account.needs_reauth";
    if ((rc = ap_qparam(r, "action", action, sizeof action, act_what)) < 0)
        return;
    if (rc && !action_ok(action)) {
        ap_qbad(r, "action", act_what);
        return;
    }
    if (ap_qtime(r, "since", since, sizeof since) < 0 || ap_qtime(r, "until", until, sizeof until) < 0 ||
        ap_page_parse(r, &pg) != 0)
        return;
    const char *p[8] = {r->ws_id,
                        object_id[0] ? object_id : NULL,
                        action[0] ? action : NULL,
                        since[0] ? since : NULL,
                        until[0] ? until : NULL,
                        ap_page_ts(&pg),
                        ap_page_id(&pg),
                        pg.limit_plus_one};
    ap_query_page(r,
                  "SELECT " EVENT_JSON ", created_at::text, id FROM admin_events WHERE workspace_id = $1"
                  " AND ($2::uuid IS NULL OR object_id = $2::uuid) AND ($3::text IS NULL OR action = $3)"
                  " AND ($4::timestamptz IS NULL OR created_at >= $4::timestamptz)"
                  " AND ($5::timestamptz IS NULL OR created_at < $5::timestamptz)"
                  " AND " AP_PAGE_BEFORE("$6", "$7") " ORDER BY created_at DESC, id DESC LIMIT $8::int",
                  8, p);
}

const ap_route_t ap_events_routes[] = {
    {"GET", "/audit-events", AP_ROLE_WORKSPACE, events_list, "audit_events"},
    {NULL, NULL, AP_ROLE_NONE, NULL, NULL},
};
