/* pgpool: the parts of pgpool.h that need no pool: the notice processor
 * and a blocking connection for start-up (migrations, tests). The pool is in the
 * files pgpool_int.h lists; this one is at their bottom, so that every one
 * of them may include pgpool.h.
 */
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "pgpool.h"

void pgpool_notice_sink(void *arg, const char *message)
{
    LOG_DEBUG("pgpool", "notice", "message", message, NULL);
}

PGconn *pgpool_connect_blocking(const char *conninfo, char *err, size_t errsz)
{
    PGconn *pg = PQconnectdb(conninfo);
    if (pg && PQstatus(pg) == CONNECTION_OK) {
        PQsetNoticeProcessor(pg, pgpool_notice_sink, NULL);
        return pg;
    }
    snprintf(err, errsz, "%s", pg ? PQerrorMessage(pg) : "out of memory");
    err[strcspn(err, "\n")] = '\0';
    PQfinish(pg);
    return NULL;
}
