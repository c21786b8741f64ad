/* wk_fixtures: the conformance profile, a test-only server profile that
 * adds the official MCP conformance suite's fixture tools, prompts and
 * resources (worker/fixtures.json: test_simple_text, test_image_content,
 * ..., test_sampling, test_elicitation, test://static-text, ...), so that
 * every scenario of the suite runs through the worker's real transport,
 * session, dispatch and push paths.
 *
 * Offered only when all three hold: the binary is the test build
 * (common/testbuild.h), the worker was started with JSMCP_TEST_FIXTURES=1
 * (a release build refuses to start with it), and the server's config has
 * "test_fixtures": true (which the admin API accepts only under the same
 * two conditions). Fixture tools make no upstream call and write no audit
 * record: they are not JSM calls.
 */
#ifndef JSMCP_WK_FIXTURES_H
#define JSMCP_WK_FIXTURES_H

#include <jansson.h>

#include "wk_push.h"
#include "wk_proc.h"

/* Loads worker/fixtures.json (embedded); 0 or -1 with err. */
int wk_fixtures_load(char *err, size_t errsz);
void wk_fixtures_free(void);

/* 1 when a server with this config offers the fixtures (see above). */
int wk_fixtures_on(const wk_worker_t *w, const json_t *config);

/* The fixture document's arrays ("tools", "prompts", "resources",
 * "templates"), borrowed; NULL (iterates as empty) before a load. */
const json_t *wk_fixtures_get(const char *what);
/* s with {png}/{wav} and every {name} of vars (may be NULL) replaced, as a
 * new string (caller frees). Other braces stay as they are. */
char *wk_fixtures_subst(const char *s, const json_t *vars);
/* A deep copy of v with wk_fixtures_subst applied to every string. */
json_t *wk_fixtures_subst_json(const json_t *v, const json_t *vars);

/* The tools/list entries of the fixture tools (a new array). */
json_t *wk_fixtures_tools(void);
/* 1 when name is a fixture tool. */
int wk_fixtures_is_tool(const char *name);

/* Runs fixture tool name with args (borrowed; checked against its input
 * schema here): cb runs exactly once, never before this returns, with the
 * CallToolResult (stolen) or with a JSON-RPC error (code, message) when
 * the arguments are invalid. push carries the request's progress, log
 * messages and server requests; it must stay valid until cb ran. */
typedef void (*wk_fixtures_cb)(json_t *result, int code, const char *message, void *ud);
void wk_fixtures_call(wk_worker_t *w, wk_push_t *push, const char *name, const json_t *args, wk_fixtures_cb cb,
                      void *ud);

#endif
