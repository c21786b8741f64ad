/* wk_scope: see wk_scope.h. */
#include "wk_scope.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "projection.h"

int wk_scope_project_allowed(const json_t *projects, const char *key, size_t n)
{
    size_t i;
    const json_t *v;
    json_array_foreach(projects, i, v)
        if (json_string_length(v) == n && strncasecmp(json_string_value(v), key, n) == 0)
            return 1;
    return 0;
}

/* An upstream item (or payload) of another project than config.projects
 * allows, by the scope sc declares; an item that does not say is out. */
int wk_scope_out(const wk_scope_t *sc, const json_t *projects, const json_t *item)
{
    if (!projects || !sc->path)
        return 0;
    const char *v = json_string_value(proj_path(item, sc->path));
    if (!v && sc->path2)
        v = json_string_value(proj_path(item, sc->path2));
    if (!v)
        return 1;
    size_t n = strlen(v);
    if (sc->issue_key) {
        const char *dash = strrchr(v, '-');
        if (!dash)
            return 1;
        n = (size_t)(dash - v);
    }
    return !wk_scope_project_allowed(projects, v, n);
}

static const struct {
    const char *path;   /* GET, with the argument as {arg} */
    wk_scope_t scope;   /* where the answer says its project */
    const char *what, *hint;
} CHECKS[] = {
    {"/rest/servicedeskapi/servicedesk/{%s}", {"projectKey", NULL, 0}, "service desk",
     "Use a service desk of an allowed project (list_all_jira_service_management_service_desks)."},
    {"/rest/api/3/issue/{%s}", {"fields.project.key", NULL, 0}, "issue",
     "Use an issue of an allowed project (list_all_jira_service_management_search_issues)."},
};

void wk_scope_check_path(enum wk_scope_check k, const char *arg, char *path, size_t pathsz)
{
    snprintf(path, pathsz, CHECKS[k].path, arg);
}

int wk_scope_check_answer(enum wk_scope_check k, const json_t *projects, const json_t *item, const char *arg,
                          const char *value, char *msg, size_t msgsz, const char **hint)
{
    if (!wk_scope_out(&CHECKS[k].scope, projects, item))
        return 0;
    snprintf(msg, msgsz, "%s: this MCP server is limited to the projects in its config.projects; "
             "%s %.40s belongs to another project", arg, CHECKS[k].what, value ? value : "?");
    *hint = CHECKS[k].hint;
    return 1;
}

int wk_scope_needs_issue_check(const wk_tool_t *t, const json_t *config)
{
    return t->scope_issue && !t->scope_object.path && json_array_size(json_object_get(config, "projects")) > 0;
}
