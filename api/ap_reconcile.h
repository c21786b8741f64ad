/* ap_reconcile: makes Redis converge to PostgreSQL, in content as well as
 * in presence (docs/architecture.md, "Reconcile").
 *
 * Every write publishes its own records after COMMIT (ap_publish.h); the
 * triggers of migration 007 also put each change in publish_outbox, in the
 * writer's transaction. Reconcile runs two kinds of passes, each through
 * the versioned publish script, so neither can overwrite a newer record or
 * bring a deleted row back:
 *
 * - Incremental, every JSMCP_RECONCILE_INTERVAL_MS (default 1 s) and when
 *   PostgreSQL notifies jsmcp_publish (LISTEN on a connection of its own,
 *   ap_listen.h; a hint, the timer runs anyway; hints share one pass per
 *   JSMCP_RECONCILE_HINT_GAP_MS, default 50 ms): in one
 *   transaction, takes up to RC_OUTBOX_BATCH outbox rows (DELETE ... FOR
 *   UPDATE SKIP LOCKED, so API replicas share the work), reads the current
 *   rows they name, publishes them (tombstones for rows gone and tokens no
 *   longer used), and COMMITs only once Redis answered: a failure leaves
 *   the rows in the outbox. Its cost follows the number of changes, not of
 *   rows.
 * - Full, at start and every JSMCP_RECONCILE_FULL_INTERVAL_MS (default
 *   1 h): SCANs srv:*, acct:* and wskey:* and turns keys no row accounts
 *   for into tombstones (first: a deleted server a snapshot brought back
 *   stops working at once), then walks accounts, API keys, then servers in
 *   id order (a server comes back after a loss only once its account and
 *   keys have), RC_CHUNK rows a query
 *   (plain reads: no lock, creates go on; after each chunk it rests as long
 *   as the chunk took, so it never takes more than half of the API's and
 *   its backend's time), compares their versions with
 *   the ones Redis holds (one script call per chunk), republishes what is
 *   missing or older. It repairs what the outbox cannot know
 *   (a flushed Redis, a restored backup, keys written by hand).
 *
 * Both passes read rows by id and turn them into records through one piece
 * of code (rc_query_rows, rc_pub_row in ap_reconcile.c).
 * A pass holds one context (inc_t, full_t) freed in one place. Test hooks
 * (common/testhook.h): "reconcile_read" after an incremental pass's reads,
 * "reconcile_full_read" after the first chunk's reads of a full pass, both
 * before their writes; "reconcile_full_chunk" after each chunk a full pass
 * published, before its rest.
 *
 * Callbacks: ap_reconcile_stop's done runs from the loop, never before the
 * call returns (the contract of the whole tree, like libuv's).
 */
#ifndef JSMCP_AP_RECONCILE_H
#define JSMCP_AP_RECONCILE_H

#include "ap_req.h"

/* Starts the timer (first passes soon after start) and the LISTEN connection. */
void ap_reconcile_start(ap_app_t *app);
/* Stops; done runs once no pass is in flight and the handles are closed. */
void ap_reconcile_stop(ap_app_t *app, void (*done)(void *arg), void *arg);

#endif
