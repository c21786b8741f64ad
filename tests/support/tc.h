/* tc: the invariant checker of PostgreSQL against Redis (issue 21), for
 * integration tests. Blocking libpq and hiredis, like the rest of
 * tests/support. Each check returns NULL when the invariant holds, else a
 * description of every violation found (caller frees), so a test can
 * cr_assert(!msg, "%s", msg) and print all of them.
 *
 * Publication (tc_check_publication):
 *  - every MCP server row whose expiry has not passed has a live record
 *    (not a tombstone) under srv:<token_hash>, and, while a rotation's
 *    overlap lasts, under srv:<prev_token_hash>; each equals the row: id,
 *    workspace, account, name, config, require_api_token_auth,
 *    expires_at_ms (the previous token's: the earlier of expires_at and the
 *    end of the overlap), its Redis expiry (that plus the tombstone TTL,
 *    JSMCP_TOMBSTONE_TTL_MS of the test's environment or its default), and
 *    version;
 *  - every token of a row past its expiry (the server's, or its overlap's)
 *    has no record a worker accepts;
 *  - every integrated account row has a live acct:<id> record with its
 *    version whose sealed content (opened with the keyring) has the row's
 *    site_url, auth_type, status, cloud_id and pace;
 *  - every workspace API key row has a live wskey:<key_hash> record with
 *    its workspace, version, expires_at_ms and Redis expiry (as a
 *    server's), and no key past its expiry has a record a worker accepts;
 *  - every srv:*, acct:* and wskey:* key under the prefix that no row
 *    accounts for is a tombstone.
 * Records without a version (the format before migration 007) are compared
 * on content only, so the checker also runs against older builds.
 *
 * The audit half (every call answered with a result has exactly one
 * tool_calls row) is tests/node/lib/checker.mjs: the tests making tool
 * calls are Node tests. */
#ifndef JSMCP_TC_H
#define JSMCP_TC_H

#include <stddef.h>

char *tc_check_publication(const char *db_url, const char *redis_prefix, const char *master_keys);

/* The sealed text of an acct: value in either format ({"version":N,
 * "sealed":"..."} or the bare sealed string); NULL for a tombstone or
 * NULL. Takes v (frees it). Caller frees the result. */
char *tc_sealed(char *v);

/* 1 when the Redis value v is a live record (not NULL, not a tombstone). */
int tc_live(const char *v);

/* 1 when a worker accepts the record v at now_ms: live, and its
 * expires_at_ms (a srv: record's) not passed. */
int tc_accepts(const char *v, long long now_ms);

/* JSMCP_TOMBSTONE_TTL_MS as the API under test has it: the tests leave it
 * to its default unless they set it in their own environment too. A srv:
 * key with an expiry stays in Redis this long past it. */
long long tc_tombstone_ttl_ms(void);

#endif
