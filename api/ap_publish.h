/* ap_publish: the Redis projection of PostgreSQL that workers read, and the
 * one way anything writes it (docs/architecture.md, "Publication").
 *
 * Order: PostgreSQL first, Redis after COMMIT. A record is never in Redis
 * for a change PostgreSQL rolled back, and a change PostgreSQL committed
 * but Redis did not get (the writer died, Redis failed) is in the outbox
 * (migration 007), which reconcile (ap_reconcile.h) republishes.
 *
 * Versions: every server and account row has a version, bumped by every
 * write that changes what is published (a trigger). Every record carries
 * the version of the row it was built from, as its first member:
 *   srv:<token_hash>  {"version":N,"id":..,"workspace_id":..,"account_id":..,
 *                      "name":..,"config":{..},"expires_at_ms":..|null,
 *                      "require_api_token_auth":..}
 *   acct:<id>         {"version":N,"sealed":"<secret_seal of the account>"}
 *   wskey:<key_hash>  {"version":N,"workspace_id":..,"expires_at_ms":..|null}
 *                      (a workspace API key, the second factor of servers
 *                      that require one; workers refuse it after its expiry)
 *   tombstone         {"version":N,"tombstone":true}   (a deleted row: N is
 *                      its last version + 1; a token no longer in use: the
 *                      row's version when it stopped being used)
 * Every writer (create, PATCH, rotate, delete, the sweeper, the OAuth
 * refresher, rotate-keys, reconcile) sends its records through one Lua
 * script (PUBLISH_LUA in ap_publish.c) that writes a record only when its
 * version is newer than what Redis holds, so a writer holding an older read
 * of a row can never overwrite a newer one, nor bring a deleted one back.
 * A tombstone expires after JSMCP_TOMBSTONE_TTL_MS; the script refuses a
 * batch read more than half of that ago (STALE), so no writer can outlive
 * the tombstone it races with. Workers treat a tombstone as no record.
 *
 * Both tokens of a rotated server are one server: every publication of a
 * server writes its current token's record and, while the overlap lasts,
 * the previous token's, in one script call (ap_pub_server).
 *
 * Callbacks (ap_pub_send, ap_pub_versions): never before the call returns;
 * a call that cannot send says so by its return value and its callback
 * never runs (the contract of the whole tree, like libuv's).
 */
#ifndef JSMCP_AP_PUBLISH_H
#define JSMCP_AP_PUBLISH_H

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdint.h>

#include "pgpool.h"
#include "rcli.h"
#include "secret.h"

/* SQL expression of a srv:<hash> record over a row of mcp_servers, with
 * the given expiry expression: the worker refuses the token after
 * expires_at_ms itself, whatever Redis' TTL says. version comes first: the
 * script reads it from the start of the value. */
#define AP_SRV_REDIS_JSON_EXP(exp)                                                                \
    "json_build_object('version', version, 'id', id, 'workspace_id', workspace_id,"              \
    " 'account_id', account_id, 'name', name, 'config', config,"                                  \
    " 'expires_at_ms', (extract(epoch FROM " exp ") * 1000)::bigint,"                             \
    " 'require_api_token_auth', require_api_token_auth)::text"
/* The current token lives until expires_at; a rotated-out one until the
 * end of its overlap (LEAST ignores a NULL expires_at). */
#define AP_SRV_PREV_EXPIRES "LEAST(expires_at, prev_token_expires_at)"
#define AP_SRV_PREV_LIVE "(prev_token_hash IS NOT NULL AND prev_token_expires_at > now())"
/* The columns of a server's publication, over a row of mcp_servers (no
 * alias: unqualified names): version, token_hash, its record, its expiry
 * (ms, NULL none), the previous token's hash while its overlap lasts (else
 * NULL), its record and its expiry. ap_pub_server reads them. */
#define AP_SRV_PUB_COLS                                                                            \
    "version, token_hash, " AP_SRV_REDIS_JSON_EXP("expires_at") ","                               \
    " (extract(epoch FROM expires_at) * 1000)::bigint,"                                            \
    " CASE WHEN " AP_SRV_PREV_LIVE " THEN prev_token_hash END,"                                    \
    " CASE WHEN " AP_SRV_PREV_LIVE " THEN " AP_SRV_REDIS_JSON_EXP(AP_SRV_PREV_EXPIRES) " END,"      \
    " CASE WHEN " AP_SRV_PREV_LIVE " THEN (extract(epoch FROM " AP_SRV_PREV_EXPIRES ") * 1000)::bigint END"
#define AP_SRV_PUB_NCOLS 7
/* The columns of an account's publication, over a row of
 * integrated_accounts: version, site_url, auth_type, status, cloud_id,
 * pace, credentials_sealed. ap_pub_account_row reads them. */
#define AP_ACCT_PUB_COLS "version, site_url, auth_type, status, cloud_id, pace, credentials_sealed"
#define AP_ACCT_PUB_NCOLS 7

/* A batch of records for the publish script. */
typedef struct ap_pub_s ap_pub_t;

/* read_ms: the writer's clock (clock_now_ms) when it read the rows the
 * records come from (before sending the query). */
ap_pub_t *ap_pub_new(const char *prefix, int64_t read_ms);
void ap_pub_free(ap_pub_t *p);
size_t ap_pub_count(const ap_pub_t *p);
/* A record (suffix: "srv:<hash>", "acct:<id>"; value starts with its
 * version), expiring at exp_ms (0: never). */
void ap_pub_record(ap_pub_t *p, const char *suffix, const char *value, int64_t exp_ms);
/* A tombstone of the given version. */
void ap_pub_tombstone(ap_pub_t *p, const char *suffix, long long version);
/* A key no row accounts for (reconcile): a tombstone above whatever
 * version Redis holds, unless it holds a tombstone already. */
void ap_pub_orphan(ap_pub_t *p, const char *suffix);
/* A server from the AP_SRV_PUB_COLS of row at column col: its live tokens'
 * records, and tombstones (at the row's version) for the hashes in dead
 * that are not one of them (tokens the write stopped using). */
void ap_pub_server(ap_pub_t *p, const PGresult *res, int row, int col, const char *const *dead, size_t ndead);
/* A deleted server: tombstones of version for its hashes. */
void ap_pub_server_gone(ap_pub_t *p, const char *const *hashes, size_t n, long long version);
/* An account from the AP_ACCT_PUB_COLS of row at column col, its
 * credentials opened with keys. -1 when they do not open (logged). */
int ap_pub_account_row(ap_pub_t *p, secret_keyring_t *keys, const char *id, const PGresult *res, int row, int col);

/* An API key's record wskey:<key_hash> (its row's version), expiring at
 * exp_ms (0: never): workers refuse the key from then on, as the API does. */
void ap_pub_wskey(ap_pub_t *p, const char *key_hash, const char *workspace_id, long long version, int64_t exp_ms);

/* The acct:<id> record: {"version":N,"sealed":...} where sealed holds
 * {"site_url","auth_type","status","cloud_id"?,"pace"?} merged with the
 * credentials, less any refresh_token. cloud_id and pace (the account's
 * own pacing rule) NULL or "" when it has none. Caller frees; NULL on
 * failure. */
char *ap_account_record(secret_keyring_t *keys, const char *id, long long version, const char *site_url,
                        const char *auth_type, const char *status, const char *cloud_id, const char *pace,
                        const json_t *creds);

/* Sends the batch and frees it. Returns 0 when cb will run (once, from the
 * loop: written is the number of records the script wrote, those newer than
 * Redis's, or -1 with err), 1 for an empty batch and -1 when Redis is
 * unavailable (cb does not run). */
typedef void (*ap_pub_cb)(long written, const char *err, void *ud);
int ap_pub_send(ap_pub_t *p, rcli_t *redis, ap_pub_cb cb, void *ud);
/* The same on a blocking connection (command-line tools). */
long ap_pub_send_blocking(ap_pub_t *p, redisContext *c, char *err, size_t errsz);

/* Reads the versions Redis holds for keys (full names): versions[i] is the
 * version, 0 for a record without one, -1 for none; NULL with err on
 * failure. One call, no writes. Returns -1 (cb does not run) when Redis is
 * unavailable. */
typedef void (*ap_versions_cb)(const long long *versions, size_t n, const char *err, void *ud);
int ap_pub_versions(rcli_t *redis, char **keys, size_t n, ap_versions_cb cb, void *ud);

/* The reconcile marker, <prefix>reconcile:marker: "<T> pending <run_id>"
 * or "<T> done <run_id>", T the time (Redis's, ms) Redis was found without
 * (some of) the data it held, run_id the Redis process's. Missing (flushed,
 * restarted empty, new), naming another process (a restart from a
 * snapshot, a failover) or malformed, it is set "<now> pending <run_id>"
 * by whoever finds it so (AP_PUB_MARKER_LUA in ap_publish.c). The publish
 * script refuses a batch read before T, and the batch that found it to
 * set: versions and tombstones went with the data, and a writer's older
 * read would bring back what a newer write changed. While it is pending
 * every API replica runs full passes; the first that completes, having
 * started after T and published every row, marks it done
 * (ap_reconcile.c). */
#define AP_PUB_MARKER_KEY "reconcile:marker"
/* Reads the marker, setting it (pending, T = now) when it is missing,
 * another process's or malformed: cb(t, done, created, NULL), or cb(-1, 0,
 * 0, err). -1 when Redis is unavailable (cb does not run). */
typedef void (*ap_marker_cb)(long long t, int done, int created, const char *err, void *ud);
int ap_pub_marker(rcli_t *redis, ap_marker_cb cb, void *ud);
/* A full pass that started after the loss at t completed: marks the marker
 * done if it is still that loss's. No reply (a failure leaves it pending,
 * and another pass runs). */
void ap_pub_marker_done(rcli_t *redis, long long t);

/* Configuration shared by every writer: the tombstone TTL and the oldest
 * read the script accepts (half of it). */
int64_t ap_pub_tombstone_ttl_ms(void);

#endif
