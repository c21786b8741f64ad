/* wk_scope: config.projects, the projects an MCP server is limited to, as
 * the request builder (arguments) and the result shaping (answers) check
 * it. Pure.
 */
#ifndef JSMCP_WK_SCOPE_H
#define JSMCP_WK_SCOPE_H

#include <jansson.h>
#include <stddef.h>

#include "wk_catalog.h"

/* 1 when the project key (its first n bytes) is one of projects (an array
 * of keys, compared without case). */
int wk_scope_project_allowed(const json_t *projects, const char *key, size_t n);

/* 1 when an upstream item (or payload) is of another project than
 * projects allows, by the scope sc declares; an item that does not say is
 * out. 0 without projects or without a declared path. */
int wk_scope_out(const wk_scope_t *sc, const json_t *projects, const json_t *item);

/* The pre-checks of config.projects: the service desk or the issue an
 * argument names is looked up and its project checked before the tool
 * runs. The issue check covers the tools whose answer does not say its
 * project (comments, transitions, SLAs, writes ...): a key of an allowed
 * project may name an issue that moved to another one (Jira follows the
 * old key), and a numeric id names any issue. */
enum wk_scope_check { WK_SCOPE_CHECK_DESK, WK_SCOPE_CHECK_ISSUE };

/* 1 when tool t needs the issue pre-check with this config (its answer
 * does not say its project, and config.projects is set). */
int wk_scope_needs_issue_check(const wk_tool_t *t, const json_t *config);

/* The GET path of pre-check k, with argument arg as its {arg}. */
void wk_scope_check_path(enum wk_scope_check k, const char *arg, char *path, size_t pathsz);

/* 0 when the pre-check's answer item is of an allowed project, else 1 with
 * the agent-facing msg and *hint (value: the argument's value, may be NULL). */
int wk_scope_check_answer(enum wk_scope_check k, const json_t *projects, const json_t *item, const char *arg,
                          const char *value, char *msg, size_t msgsz, const char **hint);

#endif
