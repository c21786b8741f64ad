/* wk_store: the Redis records the admin API publishes, read by workers:
 * srv:<token_hash>, acct:<account_id> (sealed), wskey:<key_hash> (records
 * carry the version of their row first; a tombstone {"version":N,
 * "tombstone":true} means there is no such record: api/ap_publish.h).
 *
 * Callback rule (the tree's): every function calls cb exactly once, never
 * before it returns (a cache hit and Redis unavailable too are answered
 * from the loop, defer.h), with rc 1 (found), 0 (not there) or -1 (Redis
 * error or unreadable record).
 */
#ifndef JSMCP_WK_STORE_H
#define JSMCP_WK_STORE_H

#include "wk_record.h"
#include "wk_proc.h"

/* rc 1: found, *srv is the caller's (wk_server_clear it); 0: no such
 * server (no record, or a tombstone); -1: unavailable (Redis failed, or
 * holds no record while the API's reconcile marker says Redis lost its
 * data and is not rebuilt yet: the URL may well be valid). */
typedef void (*wk_store_server_cb)(int rc, wk_server_t *srv, void *ud);
void wk_store_server(wk_worker_t *w, const char *token_hash, wk_store_server_cb cb, void *ud);

/* On rc 1, acct is valid during the callback only. err says why on rc <= 0
 * (never contains a secret). */
typedef void (*wk_store_account_cb)(int rc, const wk_account_t *acct, const char *err, void *ud);
void wk_store_account(wk_worker_t *w, const char *account_id, wk_store_account_cb cb, void *ud);
/* The same, always asking Redis (JSMCP_ACCOUNT_CACHE bypassed): a call
 * waiting for a refreshed access token must see the newest blob. */
void wk_store_account_fresh(wk_worker_t *w, const char *account_id, wk_store_account_cb cb, void *ud);

/* Whether key_hash is among the workspace's live API key hashes. */
typedef void (*wk_store_flag_cb)(int rc, void *ud);
void wk_store_wskey(wk_worker_t *w, const char *workspace_id, const char *key_hash,
                    wk_store_flag_cb cb, void *ud);

/* Frees the worker's cache of decrypted accounts (at exit). */
void wk_store_cleanup(wk_worker_t *w);

#endif
