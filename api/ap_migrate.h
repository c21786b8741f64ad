/* ap_migrate: applies the numbered, forward-only SQL files embedded from
 * migrations/ (NNN_name.sql), each in its own transaction, recorded in
 * schema_migrations, so a second run is a no-op. An advisory lock makes
 * concurrent starts of several API replicas safe. Blocking: start-up only. */
#ifndef JSMCP_AP_MIGRATE_H
#define JSMCP_AP_MIGRATE_H

#include <stddef.h>

/* Returns the number of migrations applied (>= 0) or -1 with err set. */
int ap_migrate(const char *conninfo, char *err, size_t errsz);

#endif
