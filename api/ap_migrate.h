/* ap_migrate: applies the numbered, forward-only SQL files embedded from
 * migrations/ (NNN_name.sql) in order, each recorded in schema_migrations
 * once it is complete, so a second run is a no-op.
 *
 * A file runs in one transaction, the row recording it included, unless its
 * first line is the marker
 *     -- migrate: no-transaction
 * Such a file (CREATE/DROP INDEX CONCURRENTLY, which PostgreSQL refuses
 * inside a transaction) runs one statement at a time, each ending with a
 * line that ends in ';' (lines starting with "--" left out; no dollar
 * quoting); it is recorded only after its last
 * statement, so a crash in the middle makes the next start run it again:
 * every statement must be idempotent (IF [NOT] EXISTS). Before a statement
 * CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS <name>, an INVALID index
 * of that name (left by an interrupted concurrent build) is dropped, so it
 * is rebuilt and not skipped.
 *
 * One runner at a time: the whole run holds a session advisory lock, taken
 * by polling pg_try_advisory_lock, never by waiting in a statement: a
 * second API's waiting statement would hold a snapshot that a concurrent
 * index build waits for, a deadlock. Blocking: start-up only. */
#ifndef JSMCP_AP_MIGRATE_H
#define JSMCP_AP_MIGRATE_H

#include <stddef.h>

/* Returns the number of migrations applied (>= 0) or -1 with err set. */
int ap_migrate(const char *conninfo, char *err, size_t errsz);

#endif
