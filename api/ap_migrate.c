/* ap_migrate: see ap_migrate.h. */
#include "ap_migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed.h"
#include "log.h"
#include "pgpool.h"

extern const embed_file_t api_embedded[];

#define MIGRATION_LOCK_ID "7305221"  /* pg_advisory_xact_lock key for migrations */

static int exec_ok(PGconn *c, const char *sql, int nparams, const char *const *params, char *err, size_t errsz)
{
    PGresult *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    int ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        snprintf(err, errsz, "%s", PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

/* "migrations/012_name.sql" -> 12, or -1. */
static int version_of(const char *name)
{
    const char *base = strrchr(name, '/');
    base = base ? base + 1 : name;
    if (strncmp(name, "migrations/", 11) != 0 || strlen(base) < 5)
        return -1;
    char *end;
    long v = strtol(base, &end, 10);
    return (end != base && *end == '_' && v > 0 && v < 100000) ? (int)v : -1;
}

static int applied(PGconn *c, int version, int *out, char *err, size_t errsz)
{
    char v[16];
    snprintf(v, sizeof v, "%d", version);
    const char *p[1] = {v};
    PGresult *r = PQexecParams(c, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errsz, "%s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    *out = PQntuples(r) > 0;
    PQclear(r);
    return 0;
}

int ap_migrate(const char *conninfo, char *err, size_t errsz)
{
    PGconn *c = pgpool_connect_blocking(conninfo, err, errsz);
    if (!c)
        return -1;
    int count = 0;
    if (exec_ok(c, "CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL,"
                   " applied_at timestamptz NOT NULL DEFAULT now())", 0, NULL, err, errsz) != 0)
        goto fail;
    /* Files are embedded in sorted order (the Makefile sorts them). */
    for (const embed_file_t *f = api_embedded; f->name; f++) {
        int v = version_of(f->name), done;
        if (v < 0)
            continue;
        if (exec_ok(c, "BEGIN", 0, NULL, err, errsz) != 0 ||
            exec_ok(c, "SELECT pg_advisory_xact_lock(" MIGRATION_LOCK_ID ")", 0, NULL, err, errsz) != 0 ||
            applied(c, v, &done, err, errsz) != 0)
            goto rollback;
        if (done) {
            exec_ok(c, "ROLLBACK", 0, NULL, err, errsz);
            continue;
        }
        char vs[16];
        snprintf(vs, sizeof vs, "%d", v);
        const char *p[2] = {vs, f->name};
        PGresult *r = PQexec(c, f->data);
        if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
            char msg[400];
            snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
            PQclear(r);
            snprintf(err, errsz, "%s: %s", f->name, msg);
            goto rollback;
        }
        PQclear(r);
        if (exec_ok(c, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2, p, err, errsz) != 0 ||
            exec_ok(c, "COMMIT", 0, NULL, err, errsz) != 0)
            goto rollback;
        LOG_INFO("migrate", "applied", "migration", f->name, NULL);
        count++;
    }
    PQfinish(c);
    return count;
rollback:
    {
        char ignore[64];
        exec_ok(c, "ROLLBACK", 0, NULL, ignore, sizeof ignore);
    }
fail:
    PQfinish(c);
    return -1;
}
