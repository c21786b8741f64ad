/* ap_migrate: see ap_migrate.h. */
#include "ap_migrate.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "embed.h"
#include "log.h"
#include "pgpool.h"

extern const embed_file_t api_embedded[];

#define MIGRATION_LOCK_ID "7305221"  /* advisory lock key for migrations */
#define NO_TX_MARKER "-- migrate: no-transaction"
#define LOCK_POLL_MS 200
#define LOCK_LOG_EVERY 50            /* polls between "waiting" log lines (10 s) */

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

/* Runs sql and returns the first column of its first row as 0/1 ("t"/"f",
 * or whether a row came back when want_row), -1 with err set. */
static int query_bool(PGconn *c, const char *sql, int nparams, const char *const *params, int want_row,
                      char *err, size_t errsz)
{
    PGresult *r = PQexecParams(c, sql, nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errsz, "%s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    int out = want_row ? PQntuples(r) > 0 : (PQntuples(r) > 0 && PQgetvalue(r, 0, 0)[0] == 't');
    PQclear(r);
    return out;
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

static int applied(PGconn *c, int version, char *err, size_t errsz)
{
    char v[16];
    snprintf(v, sizeof v, "%d", version);
    const char *p[1] = {v};
    return query_bool(c, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, p, 1, err, errsz);
}

static int record(PGconn *c, int version, const char *name, char *err, size_t errsz)
{
    char vs[16];
    snprintf(vs, sizeof vs, "%d", version);
    const char *p[2] = {vs, name};
    return exec_ok(c, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2, p, err, errsz);
}

/* Session lock, polled: see ap_migrate.h for why not pg_advisory_lock. */
static int lock_runner(PGconn *c, char *err, size_t errsz)
{
    for (long polls = 0;; polls++) {
        int got = query_bool(c, "SELECT pg_try_advisory_lock(" MIGRATION_LOCK_ID ")", 0, NULL, 0, err, errsz);
        if (got != 0)
            return got < 0 ? -1 : 0;
        if (polls % LOCK_LOG_EVERY == 0)
            LOG_INFO("migrate", "waiting for another process's migrations", NULL);
        struct timespec ts = {0, LOCK_POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
}

/* Whitespace and "--" comment lines skipped. */
static const char *skip_blank(const char *s)
{
    for (;;) {
        while (isspace((unsigned char)*s))
            s++;
        if (s[0] != '-' || s[1] != '-')
            return s;
        s += strcspn(s, "\n");
    }
}

/* The index name of "CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS <name>"
 * into name, or "" for any other statement. */
static void concurrent_build_name(const char *stmt, char *name, size_t namesz)
{
    static const char *const forms[] = {"CREATE INDEX CONCURRENTLY IF NOT EXISTS ",
                                        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS "};
    name[0] = '\0';
    for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
        size_t n = strlen(forms[i]);
        if (strncasecmp(stmt, forms[i], n) != 0)
            continue;
        size_t len = 0;
        while (len + 1 < namesz && (isalnum((unsigned char)stmt[n + len]) || stmt[n + len] == '_'))
            len++;
        memcpy(name, stmt + n, len);
        name[len] = '\0';
        return;
    }
}

/* An INVALID index named name (an interrupted CREATE INDEX CONCURRENTLY) is
 * dropped, so that IF NOT EXISTS builds it again instead of keeping it. */
static int drop_if_invalid(PGconn *c, const char *name, char *err, size_t errsz)
{
    const char *p[1] = {name};
    int invalid = query_bool(c, "SELECT 1 FROM pg_index WHERE indexrelid = to_regclass($1) AND NOT indisvalid",
                             1, p, 1, err, errsz);
    if (invalid <= 0)
        return invalid;
    char sql[160];
    snprintf(sql, sizeof sql, "DROP INDEX CONCURRENTLY IF EXISTS %s", name); /* name: [A-Za-z0-9_] */
    LOG_WARN("migrate", "dropping an invalid index left by an interrupted build", "index", name, NULL);
    return exec_ok(c, sql, 0, NULL, err, errsz);
}

/* One statement of a no-transaction file; an INVALID index it would build
 * is dropped first. */
static int run_statement(PGconn *c, const char *stmt, char *err, size_t errsz)
{
    char name[64];
    if (!*skip_blank(stmt))
        return 0;
    concurrent_build_name(skip_blank(stmt), name, sizeof name);
    if (name[0] && drop_if_invalid(c, name, err, errsz) != 0)
        return -1;
    PGresult *r = PQexec(c, stmt);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok)
        snprintf(err, errsz, "%s", PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

/* A no-transaction file, one statement at a time; recorded after the last. */
static int run_no_tx(PGconn *c, const embed_file_t *f, int version, char *err, size_t errsz)
{
    if (strstr(f->data, "$$")) {
        snprintf(err, errsz, "%s: dollar quoting in a no-transaction migration", f->name);
        return -1;
    }
    /* Line by line: comment lines are left out, a statement ends with the
     * line that ends in ';' (a ';' inside a comment or mid-line ends
     * nothing). stmt collects the statement's lines. */
    char *stmt = malloc(f->len + 2);
    if (!stmt) {
        snprintf(err, errsz, "out of memory");
        return -1;
    }
    int rc = 0;
    size_t n = 0;
    for (const char *line = f->data, *end = f->data + f->len; rc == 0 && line < end;) {
        size_t len = strcspn(line, "\n");
        const char *first = line;
        while (first < line + len && isspace((unsigned char)*first))
            first++;
        size_t keep = len;
        while (keep > 0 && isspace((unsigned char)line[keep - 1]))
            keep--;
        if (keep > 0 && !(first[0] == '-' && first[1] == '-')) {
            int last = line[keep - 1] == ';';
            memcpy(stmt + n, line, last ? keep - 1 : keep);
            n += last ? keep - 1 : keep;
            stmt[n++] = '\n';
            if (last) {
                stmt[n] = '\0';
                rc = run_statement(c, stmt, err, errsz);
                n = 0;
            }
        }
        line += len + (line[len] == '\n');
    }
    if (rc == 0 && n > 0) { /* a last statement without ';' */
        stmt[n] = '\0';
        rc = run_statement(c, stmt, err, errsz);
    }
    free(stmt);
    if (rc == 0)
        rc = record(c, version, f->name, err, errsz);
    if (rc != 0) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s", err);
        snprintf(err, errsz, "%s: %s", f->name, msg);
    }
    return rc;
}

/* A transactional file and its schema_migrations row, in one transaction. */
static int run_tx(PGconn *c, const embed_file_t *f, int version, char *err, size_t errsz)
{
    if (exec_ok(c, "BEGIN", 0, NULL, err, errsz) != 0)
        return -1;
    PGresult *r = PQexec(c, f->data);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(r));
        snprintf(err, errsz, "%s: %s", f->name, msg);
    }
    PQclear(r);
    if (ok && record(c, version, f->name, err, errsz) == 0 && exec_ok(c, "COMMIT", 0, NULL, err, errsz) == 0)
        return 0;
    char ignore[64];
    exec_ok(c, "ROLLBACK", 0, NULL, ignore, sizeof ignore);
    return -1;
}

int ap_migrate(const char *conninfo, char *err, size_t errsz)
{
    PGconn *c = pgpool_connect_blocking(conninfo, err, errsz);
    if (!c)
        return -1;
    int count = 0;
    if (lock_runner(c, err, errsz) != 0 ||
        exec_ok(c, "CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL,"
                   " applied_at timestamptz NOT NULL DEFAULT now())", 0, NULL, err, errsz) != 0)
        goto fail;
    /* Files are embedded in sorted order (the Makefile sorts them). */
    for (const embed_file_t *f = api_embedded; f->name; f++) {
        int v = version_of(f->name);
        if (v < 0)
            continue;
        int done = applied(c, v, err, errsz);
        if (done < 0)
            goto fail;
        if (done)
            continue;
        int no_tx = strncmp(f->data, NO_TX_MARKER, strlen(NO_TX_MARKER)) == 0;
        if ((no_tx ? run_no_tx(c, f, v, err, errsz) : run_tx(c, f, v, err, errsz)) != 0)
            goto fail;
        LOG_INFO("migrate", "applied", "migration", f->name, NULL);
        count++;
    }
    PQfinish(c); /* ends the session, and its lock */
    return count;
fail:
    PQfinish(c);
    return -1;
}
