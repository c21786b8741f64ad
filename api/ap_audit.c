/* ap_audit: drains the tool-call audit stream into PostgreSQL.
 *
 * Workers never write PostgreSQL: each tool call is one XADD to the Redis
 * stream <prefix>audit (fields in docs/architecture.md). Every API process
 * reads it through the consumer group "jsmcp-api" as consumer
 * JSMCP_AUDIT_CONSUMER (default: the host name), inserts a batch in one
 * statement (the primary key (server_id, ts, call_id), migration 032,
 * keeps each call once: a redelivered entry and a record a worker replayed
 * from its spool, same fields, new stream id, are harmless; a record
 * without call_id gets one derived from its stream id, migration 008), and
 * only then XACKs it. A restart of either side
 * loses nothing: unacknowledged entries are read again (first our own
 * pending ones, and every 30 s XAUTOCLAIM takes over those of a consumer
 * that went away). The stream is trimmed only below what the group has
 * acknowledged (TRIM_LUA: XTRIM MINID at the oldest entry still pending or
 * not yet delivered), never by length, so an outage of PostgreSQL of any
 * length loses nothing while Redis has memory. One pass is in flight at a
 * time; its context is drain_t, freed in drain_end(). The records are
 * served by ap_calls.c; usage metering and ratelimit.burst follow them in
 * PostgreSQL (migrations/022_usage.sql: triggers, in the drain's
 * transaction; the usage sums wait in usage_pending for the fold below,
 * migration 030). A batch's rows go in sorted by workspace, server and time,
 * and a tool's name is stored as the number tool_names gives it (migration
 * 028; see "tool names as numbers" below). */
#include "ap_audit.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ap_input.h"
#include "secret.h"
#include "buf.h"
#include "cfg.h"
#include "clock.h"
#include "jsontext.h"
#include "log.h"

#define AUDIT_GROUP "jsmcp-api"
#define AUDIT_BATCH_MAX 5000 /* JSMCP_AUDIT_BATCH's upper bound */
#define AUDIT_CLAIM_IDLE_MS "30000"
#define AUDIT_CLAIM_EVERY_MS 30000
#define RETENTION_BATCH "10000" /* rows per DELETE of a retention pass */
#define TOOL_IDS_MAX 1024       /* tool names stored as numbers: tool_names holds at most about this many */
#define TOOL_ID_NAME_MAX 64     /* ... each of 1 to this many bytes of TOOL_ID_CHARS */
#define TOOL_ID_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"
#define TOOL_REGISTER_MAX 32    /* new names asked for in one registration */
#define TOOL_REGISTER_PAUSE_MS 10000 /* after a registration that did not number every name asked for */
#define USAGE_FOLD_MAX 200000   /* pending usage rows one fold moves (migration 030) */

/* A tool name and its number in tool_names (decimal, as COPY's value is
 * built from it). Slots are only ever added: a number, once given, names
 * the same tool for good (migration 028). */
typedef struct tool_slot_s {
    char name[TOOL_ID_NAME_MAX + 1];
    char id[12];
} tool_slot_t;

typedef struct audit_s {
    ap_app_t *app;
    uv_timer_t timer;
    char consumer[128];
    char key[256];
    uint64_t interval_ms;
    long batch;            /* entries per read and COPY (JSMCP_AUDIT_BATCH) */
    long batch_backlog;    /* ... at most, while reads come back full (JSMCP_AUDIT_BATCH_BACKLOG) */
    long cur;              /* the count the next read asks for: batch, doubled after each full read */
    char cur_s[24];
    uint64_t retention_every_ms; /* JSMCP_RETENTION_INTERVAL_MS */
    uint64_t last_claim_ms, last_retention_ms;
    int running;           /* drains in flight: two overlap while batches come full */
    int group_ready;
    int own_pending_done;  /* our pending entries were read once after start (or after a failed insert) */
    int slow;              /* a COPY conflicted: our pending entries go through INSERT ... ON CONFLICT */
    int probe;             /* PostgreSQL refused a batch for its data: our pending entries go one at a
                            * time until none is left, and the one it refuses alone is set aside */
    int closing;
    int registering;       /* a registration of new tool names in flight */
    int register_asked;    /* ... for this many names */
    uint64_t register_after_ms; /* no registration before (tool_names full, or a race lost) */
    uint64_t fold_every_ms;     /* JSMCP_USAGE_FOLD_MS */
    uint64_t last_fold_ms;
    int folding;           /* a usage fold in flight */
    int fold_more;         /* the last fold was full: the next tick folds on */
    size_t ntools;         /* names in tools */
    tool_slot_t tools[2 * TOOL_IDS_MAX]; /* open addressing, at most half full */
    void (*done)(void *arg);
    void *done_arg;
} audit_t;

static audit_t au;

enum drain_src { SRC_OWN_PENDING, SRC_NEW, SRC_CLAIM };

typedef struct drain_s {
    enum drain_src src;
    char **ids;        /* stream ids of the batch */
    size_t nids;
    size_t full;       /* the batch was full: read again at once */
    long asked;        /* the read's COUNT */
    char **aside;      /* probing, one entry: XADD's arguments to set it aside (set_aside) */
    size_t naside;
    long long min_ts_ms; /* the oldest record's ts_ms (retention_note_inserted) */
} drain_t;

static void drain_begin(int overlap);
static void retention_note_inserted(long long min_ts_ms);
#define drain_start() drain_begin(0)

static void maybe_stopped(void)
{
    if (!au.closing || au.running || au.registering || au.folding || !au.done)
        return;
    void (*d)(void *) = au.done;
    au.done = NULL;
    d(au.done_arg);
}

static void drain_end(drain_t *d, int again)
{
    for (size_t i = 0; i < d->nids; i++)
        free(d->ids[i]);
    free(d->ids);
    for (size_t i = 0; i < d->naside; i++)
        free(d->aside[i]);
    free(d->aside);
    free(d);
    au.running--;
    if (au.closing) {
        maybe_stopped();
        return;
    }
    if (again)
        drain_begin(1);
}

static int au_send(rcli_cb cb, void *ud, int argc, const char **argv)
{
    size_t *len = mem_alloc((size_t)argc * sizeof *len);
    for (int i = 0; i < argc; i++)
        len[i] = strlen(argv[i]);
    int rc = rcli_command_argv(au.app->redis, cb, ud, argc, argv, len);
    free(len);
    return rc;
}

/* ---- after the INSERT: acknowledge the entries (TRIM_LUA removes them) ---- */

static void on_acked(redisReply *reply, const char *err, void *ud)
{
    drain_t *d = ud;
    (void)err;
    /* Not done: the entries stay pending and are read again. */
    int ok = reply && reply->type == REDIS_REPLY_INTEGER;
    drain_end(d, ok && d->full);
}

static void ack(drain_t *d)
{
    const char **argv = mem_alloc((d->nids + 3) * sizeof *argv);
    argv[0] = "XACK";
    argv[1] = au.key;
    argv[2] = AUDIT_GROUP;
    for (size_t i = 0; i < d->nids; i++)
        argv[i + 3] = d->ids[i];
    int rc = au_send(on_acked, d, (int)d->nids + 3, argv);
    free(argv);
    if (rc != 0)
        drain_end(d, 0);
}

/* 1 when PostgreSQL refused the statement for the data it carried (SQLSTATE
 * class 22, data exception, or 23, integrity constraint violation): the
 * same rows fail again however often they are sent, where a lost
 * connection, a timeout or a shutdown passes. */
static int refused_for_data(const PGresult *res)
{
    const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return st && (strncmp(st, "22", 2) == 0 || strncmp(st, "23", 2) == 0);
}

static void on_set_aside(redisReply *reply, const char *err, void *ud)
{
    drain_t *d = ud;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        /* Not kept elsewhere yet: it stays pending, and is tried again. */
        metrics_inc(au.app->metrics, "jsmcp_api_audit_errors_total", "stage=\"set_aside\"", 1);
        LOG_WARN("audit", "cannot set the refused entry aside; it stays pending and is tried again", "stream_id",
                 d->nids ? d->ids[0] : "", "err", reply && reply->str ? reply->str : err ? err : "", NULL);
        drain_end(d, 0);
        return;
    }
    metrics_inc(au.app->metrics, "jsmcp_api_audit_set_aside_total", "", 1);
    ack(d);
}

/* The copy of a refused entry. allow-oom: a Redis out of memory (under
 * noeviction) refuses a plain XADD, and then the entry stayed pending at
 * the head of our entries, which kept XTRIM MINID from freeing anything
 * behind it: the drain could not get Redis out of the OOM it was in. One
 * entry (MAXLEN ~ 10000) is little to add to a full Redis. */
static const char SET_ASIDE_LUA[] =
    "#!lua flags=allow-oom\n"
    "return redis.call('XADD', KEYS[1], 'MAXLEN', '~', '10000', '*', unpack(ARGV))\n";

/* One entry PostgreSQL refuses for its data (a value a check let through,
 * a sum the usage rollup cannot hold) would stop the drain for good: the
 * replica reads its own pending entries first, and they fail again every
 * time. It is copied to <key>:refused (at most ~10,000 kept, for an
 * operator to read), with PostgreSQL's error, then acknowledged. */
static void set_aside(drain_t *d, const char *why)
{
    LOG_ERROR("audit", "audit entry refused by PostgreSQL; set aside in the refused stream", "stream_id",
              d->nids ? d->ids[0] : "", "err", why, NULL);
    char key[sizeof au.key + 16];
    snprintf(key, sizeof key, "%s:refused", au.key);
    size_t argc = 0;
    const char **argv = mem_alloc((d->naside + 11) * sizeof *argv);
    argv[argc++] = "EVAL";
    argv[argc++] = SET_ASIDE_LUA;
    argv[argc++] = "1";
    argv[argc++] = key;
    argv[argc++] = "stream_id";
    argv[argc++] = d->nids ? d->ids[0] : "";
    argv[argc++] = "error";
    argv[argc++] = why;
    for (size_t i = 0; i < d->naside; i++)
        argv[argc++] = d->aside[i];
    int rc = au_send(on_set_aside, d, (int)argc, argv);
    free(argv);
    if (rc != 0)
        drain_end(d, 0);
}

static void on_inserted(PGresult *res, const char *err, void *ud)
{
    drain_t *d = ud;
    if (!ap_res_ok(res)) {
        const char *why = err ? err : PQresultErrorMessage(res);
        metrics_inc(au.app->metrics, "jsmcp_api_audit_errors_total", "stage=\"insert\"", 1);
        if (refused_for_data(res) && au.probe && d->aside) {
            set_aside(d, why);
            return;
        }
        LOG_WARN("audit", "insert failed; entries stay in the stream", "err", why, NULL);
        if (refused_for_data(res))
            au.probe = 1; /* find the entry it refuses: one at a time */
        au.own_pending_done = 0; /* read them again (ours, pending) */
        drain_end(d, 0);
        return;
    }
    metrics_inc(au.app->metrics, "jsmcp_api_audit_drained_total", "", (double)atol(PQcmdTuples(res)));
    retention_note_inserted(d->min_ts_ms);
    ack(d);
}

/* A COPY that failed: a call already in PostgreSQL (a record replayed
 * from a worker's spool) or another error; the entries stay pending and are
 * read again at once and inserted with ON CONFLICT. */
static void on_copied(PGresult *res, const char *err, void *ud)
{
    drain_t *d = ud;
    if (ap_res_ok(res)) {
        on_inserted(res, err, d);
        return;
    }
    metrics_inc(au.app->metrics, "jsmcp_api_audit_copy_retries_total", "", 1);
    au.slow = 1;
    if (refused_for_data(res))
        au.probe = 1; /* not a call already there: a value PostgreSQL refuses; find it */
    au.own_pending_done = 0;
    drain_end(d, res != NULL); /* a lost connection waits for the next tick */
}

/* ---- one batch of entries -> one COPY, or one INSERT ---- */

/* Fields a worker writes, the type each is checked against, and its
 * PostgreSQL type. The INSERT takes one array per column (unnest), which
 * PostgreSQL reads in about two thirds of the time of the same rows as a
 * JSON array of objects. */
static const struct {
    const char *name;
    char type; /* u uuid, b bigint, i int, n finite number, s string, h 32 hex digits, t ms since 1970 */
    int required;
    const char *sqltype;
} FIELDS[] = {
    {"ts_ms", 't', 1, "bigint"},
    {"workspace_id", 'u', 1, "uuid"},
    {"account_id", 'u', 1, "uuid"},
    {"server_id", 'u', 1, "uuid"},
    {"tool", 's', 1, "text"},
    {"args_sha256", 's', 0, "text"},
    {"upstream_status", 'i', 0, "int"},
    {"latency_ms", 'n', 0, "float8"},
    {"ratelimit_limit", 'i', 0, "int"},
    {"ratelimit_remaining", 'i', 0, "int"},
    {"ratelimit_reset_s", 'i', 0, "int"},
    {"upstream_request_id", 's', 0, "text"},
    {"error_class", 's', 0, "text"},
    {"request_id", 's', 0, "text"},
    {"result_bytes", 'b', 0, "bigint"}, /* bytes of the result returned to the model (usage metering) */
    {"call_id", 'h', 0, "uuid"}, /* 32 hex digits: a uuid without dashes; stays last */
};
#define NFIELDS (sizeof FIELDS / sizeof *FIELDS)
/* A row's columns: stream_id, FIELDS in their order, args_digest, tool_id. */
#define COL_STREAM 0
#define COL_CALL NFIELDS /* call_id, the last of FIELDS */
#define COL_DIGEST (NFIELDS + 1)
#define COL_TOOL_ID (NFIELDS + 2)
#define NCOLS (NFIELDS + 3)
#define F_TS 0   /* FIELDS' ts_ms */
#define F_WS 1   /* FIELDS' workspace_id */
#define F_SRV 3  /* FIELDS' server_id */
#define F_TOOL 4 /* FIELDS' tool */
#define F_ARGS 5 /* FIELDS' args_sha256 */
_Static_assert(F_ARGS < NFIELDS, "args_sha256 is one of FIELDS");
#define DIGEST_HEX 64 /* a SHA-256 as workers send it: 64 lowercase hex digits */

/* A column's type for COPY's binary rows: FIELDS[].type, 's' for
 * stream_id, 'x' for args_digest (64 hex digits, stored as 32 bytes), 'i'
 * for tool_id. */
static char col_type(size_t c)
{
    return c == COL_STREAM ? 's' : c == COL_DIGEST ? 'x' : c == COL_TOOL_ID ? 'i' : FIELDS[c - 1].type;
}

static char insert_sql[2048];
static char copy_sql[1024];

/* Copies the statement built in b into out and frees b. A statement that
 * does not fit (FIELDS outgrew out) is a mistake in this file: stop. */
static void sql_done(buf_t *b, char *out, size_t outsz)
{
    if (!buf_ok(b) || b->len >= outsz) {
        fputs("jsmcp: an audit SQL statement does not fit its buffer\n", stderr);
        abort();
    }
    memcpy(out, b->data, b->len + 1);
    buf_free(b);
}

/* INSERT ... SELECT FROM unnest($1::text[], $2::bigint[], ...), built once
 * from FIELDS. A second copy of a call (same call_id, server and time: the
 * primary key) skips the row. */
static void build_insert_sql(void)
{
    if (strcmp(FIELDS[F_ARGS].name, "args_sha256") != 0 || strcmp(FIELDS[COL_CALL - 1].name, "call_id") != 0 ||
        strcmp(FIELDS[F_TS].name, "ts_ms") != 0 || strcmp(FIELDS[F_WS].name, "workspace_id") != 0 ||
        strcmp(FIELDS[F_SRV].name, "server_id") != 0 || strcmp(FIELDS[F_TOOL].name, "tool") != 0) {
        fputs("jsmcp: ap_audit's FIELDS and its column constants disagree\n", stderr);
        abort();
    }
    buf_t b;
    buf_init(&b, sizeof insert_sql);
    buf_append_str(&b, "INSERT INTO tool_calls (stream_id, ts");
    for (size_t f = 1; f < NFIELDS; f++)
        buf_printf(&b, ", %s", FIELDS[f].name);
    /* ts exactly as COPY stores it, to the microsecond: a replay must meet
     * its first copy's key. to_timestamp takes a double; whole seconds
     * (times 10^6, a multiple of 64 below 2^59) stay exact, where
     * ts_ms / 1000.0 would not. */
    buf_append_str(&b, ", args_digest, tool_id) SELECT stream_id,"
                       " to_timestamp(ts_ms / 1000) + ts_ms % 1000 * interval '1 ms'");
    for (size_t f = 1; f < NFIELDS; f++)
        buf_printf(&b, ", %s", FIELDS[f].name);
    buf_append_str(&b, ", decode(args_digest, 'hex'), tool_id FROM unnest($1::text[]");
    for (size_t f = 0; f < NFIELDS; f++)
        buf_printf(&b, ", $%zu::%s[]", f + 2, FIELDS[f].sqltype);
    buf_printf(&b, ", $%zu::text[], $%zu::int[]) AS x(stream_id", NFIELDS + 2, NFIELDS + 3);
    for (size_t f = 0; f < NFIELDS; f++)
        buf_printf(&b, ", %s", FIELDS[f].name);
    buf_append_str(&b, ", args_digest, tool_id) ON CONFLICT (server_id, ts, call_id) DO NOTHING");
    sql_done(&b, insert_sql, sizeof insert_sql);
    /* COPY of new entries: the cheapest way into PostgreSQL; a copy of a
     * call already there (a spool replay) fails it as a whole, and those
     * entries are inserted again with insert_sql. Binary: PostgreSQL takes
     * each value as it will store it, where text rows must be split,
     * unescaped and parsed (uuids, timestamps, numbers) first. */
    buf_init(&b, sizeof copy_sql);
    buf_append_str(&b, "COPY tool_calls (stream_id, ts");
    for (size_t f = 1; f < NFIELDS; f++)
        buf_printf(&b, ", %s", FIELDS[f].name);
    buf_append_str(&b, ", args_digest, tool_id) FROM STDIN (FORMAT binary)");
    sql_done(&b, copy_sql, sizeof copy_sql);
}

#define MS_MAX 253402300799999LL /* 9999-12-31T23:59:59.999Z */

/* A value PostgreSQL would refuse would fail its whole batch on every
 * retry, so each is checked against its column's type and range here; an
 * invalid optional field is stored as NULL (an entry whose ts_ms is not a
 * time from 1970 to 9999 is malformed). */
/* Text PostgreSQL takes: valid UTF-8 (a byte it refuses would fail the
 * whole batch; an upstream's response header is copied as it came). */
static int utf8_text(const char *v)
{
    const unsigned char *p = (const unsigned char *)v, *end = p + strlen(v);
    while (p < end) {
        size_t n = *p < 0x80 ? 1 : jsontext_utf8_seq(p, end);
        if (n == 0)
            return 0;
        p += n;
    }
    return 1;
}

/* Bounds of the numbers the usage rollup adds up (migration 030): a batch
 * of 5,000 records and a day's sums per key must stay within bigint and
 * finite doubles. A result over a terabyte or a call of over a year is
 * not a measure. */
#define RESULT_BYTES_MAX (1LL << 40)
#define LATENCY_MS_MAX (366.0 * 24 * 3600 * 1000)

static int valid_value(char type, const char *v)
{
    char *end;
    long long i;
    double d;
    switch (type) {
    case 'u': return ap_is_uuid(v);
    case 'b': i = strtoll(v, &end, 10); return *v && !*end && strlen(v) < 19 && i >= 0 && i <= RESULT_BYTES_MAX;
    case 't': i = strtoll(v, &end, 10); return *v && !*end && strlen(v) < 19 && i >= 0 && i <= MS_MAX;
    case 'i': i = strtoll(v, &end, 10); return *v && !*end && strlen(v) < 12 && i >= INT32_MIN && i <= INT32_MAX;
    case 'n':
        d = strtod(v, &end);
        return *v && !*end && isfinite(d) && d >= 0 && d <= LATENCY_MS_MAX && strspn(v, "0123456789+-.eE") == strlen(v);
    case 'h': return strlen(v) == 32 && strspn(v, "0123456789abcdef") == 32; /* a worker's call_id */
    default: return strlen(v) <= 512 && utf8_text(v);
    }
}

/* One stream entry's values in column order (NULL: absent or invalid).
 * A digest as workers send it goes to args_digest (32 bytes in the row,
 * migration 027), anything else a worker sent as args_sha256 stays text.
 * stream_id is kept only for a record without a call_id (its call_id is
 * derived from it, derived_call_id). Returns 0, or -1 when the entry is
 * malformed or lacks a required field. */
static int entry_values(const redisReply *e, const char *val[NCOLS])
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 || e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[1]->type != REDIS_REPLY_ARRAY)
        return -1;
    memset(val, 0, NCOLS * sizeof *val);
    val[0] = e->element[0]->str;
    const redisReply *kv = e->element[1];
    for (size_t i = 0; i + 1 < kv->elements; i += 2) {
        const redisReply *k = kv->element[i], *v = kv->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        for (size_t f = 0; f < NFIELDS; f++)
            if (strcmp(k->str, FIELDS[f].name) == 0 && v->len > 0 && valid_value(FIELDS[f].type, v->str))
                val[f + 1] = v->str;
    }
    for (size_t f = 0; f < NFIELDS; f++)
        if (FIELDS[f].required && !val[f + 1])
            return -1;
    const char *args = val[F_ARGS + 1];
    if (args && strlen(args) == DIGEST_HEX && strspn(args, "0123456789abcdef") == DIGEST_HEX) {
        val[COL_DIGEST] = args;
        val[F_ARGS + 1] = NULL;
    }
    if (val[COL_CALL])
        val[COL_STREAM] = NULL;
    return 0;
}

/* The call_id of a record from a worker that had none: derived from its
 * stream id, as migration 008 did for the rows before (a redelivered entry
 * keeps its stream id, so it stays one row). out: 33 bytes. */
static void derived_call_id(const char *stream_id, char *out)
{
    char in[64], hex[SECRET_HASH_HEX_LEN + 1];
    int n = snprintf(in, sizeof in, "stream:%s", stream_id);
    if (n < 0 || (size_t)n >= sizeof in)
        n = (int)strlen(in); /* a Redis stream id is at most 41 bytes; never read past in */
    secret_hash_hex(in, (size_t)n, hex);
    memcpy(out, hex, 32);
    out[32] = 0;
}

/* One element of a PostgreSQL array literal: NULL, or the value in double
 * quotes with " and \ escaped. */
static void array_element(buf_t *b, const char *v)
{
    if (b->len > 1)
        buf_append(b, ",", 1);
    if (!v) {
        buf_append(b, "NULL", 4);
        return;
    }
    buf_append(b, "\"", 1);
    for (const char *run = v;;) {
        size_t n = strcspn(run, "\"\\");
        buf_append(b, run, n);
        if (!run[n])
            break;
        buf_append(b, "\\", 1);
        buf_append(b, run + n, 1);
        run += n + 1;
    }
    buf_append(b, "\"", 1);
}

/* ---- COPY's binary format (PostgreSQL's "COPY", "Binary Format"): a
 * header, then per row a field count and per field its length (-1: NULL)
 * and its bytes in the type's binary form, big-endian; -1 ends the data. */

static const char COPY_BIN_HEADER[19] = "PGCOPY\n\377\r\n\0" "\0\0\0\0" "\0\0\0\0"; /* signature, flags, no extension */
#define PG_EPOCH_MS 946684800000LL /* 2000-01-01T00:00:00Z, where timestamptz counts from */

static void put_be(buf_t *b, uint64_t v, int bytes)
{
    unsigned char o[8];
    for (int i = 0; i < bytes; i++)
        o[i] = (unsigned char)(v >> (8 * (bytes - 1 - i)));
    buf_append(b, o, (size_t)bytes);
}

static int hex_nibble(char c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* A uuid's 16 bytes from its 32 hex digits, dashes skipped (both forms
 * were checked by valid_value). */
static void put_uuid(buf_t *b, const char *v)
{
    unsigned char u[16];
    size_t n = 0;
    for (const char *c = v; *c && n < 32; c++) {
        if (*c == '-')
            continue;
        if (n % 2 == 0)
            u[n / 2] = (unsigned char)(hex_nibble(*c) << 4);
        else
            u[n / 2] |= (unsigned char)hex_nibble(*c);
        n++;
    }
    put_be(b, 16, 4);
    buf_append(b, u, 16);
}

/* One field of a binary row. type: FIELDS[].type ('t': ts_ms, stored as
 * a timestamptz, microseconds since 2000), or 's' for stream_id. v was
 * checked by valid_value (so it parses, and fits its column). */
static void copy_bin_value(buf_t *b, char type, const char *v)
{
    if (!v) {
        put_be(b, (uint64_t)-1, 4);
        return;
    }
    switch (type) {
    case 'u':
    case 'h':
        put_uuid(b, v);
        return;
    case 'x': { /* a digest's 64 hex digits (entry_values checked them) */
        unsigned char raw[DIGEST_HEX / 2];
        for (size_t i = 0; i < sizeof raw; i++)
            raw[i] = (unsigned char)(hex_nibble(v[2 * i]) << 4 | hex_nibble(v[2 * i + 1]));
        put_be(b, sizeof raw, 4);
        buf_append(b, raw, sizeof raw);
        return;
    }
    case 't':
        put_be(b, 8, 4);
        put_be(b, (uint64_t)((strtoll(v, NULL, 10) - PG_EPOCH_MS) * 1000), 8);
        return;
    case 'b':
        put_be(b, 8, 4);
        put_be(b, (uint64_t)strtoll(v, NULL, 10), 8);
        return;
    case 'i':
        put_be(b, 4, 4);
        put_be(b, (uint64_t)(uint32_t)(int32_t)strtoll(v, NULL, 10), 4);
        return;
    case 'n': {
        double d = strtod(v, NULL);
        uint64_t bits;
        memcpy(&bits, &d, sizeof bits); /* IEEE 754, as float8recv takes it */
        put_be(b, 8, 4);
        put_be(b, bits, 8);
        return;
    }
    default: {
        size_t n = strlen(v);
        put_be(b, n, 4);
        buf_append(b, v, n);
    }
    }
}

/* ---- tool names as numbers (migration 028) ----
 * A row stores its tool as tool_id, the number tool_names gives the name,
 * instead of the name's ~49 bytes (tool NULL); every reader shows
 * coalesce(tool, the name of tool_id). Names come from workers, so from
 * whoever calls: only a name of 1 to TOOL_ID_NAME_MAX bytes of
 * TOOL_ID_CHARS gets a number, and only while this process knows fewer than
 * TOOL_IDS_MAX (tool_names is bounded the same way); any other name is stored
 * as text, as before. The drain never waits for a number: a name not known
 * yet goes as text in its batch while a registration (one at a time, off
 * the batch's path) asks tool_names for it, adding it when it is new; the
 * batches after use the number. Replicas race on a new name harmlessly: the
 * unique name makes one number, and a replica that did not see it yet
 * keeps the text until its next registration. */

static size_t tool_hash(const char *name)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (const unsigned char *c = (const unsigned char *)name; *c; c++)
        h = (h ^ *c) * 16777619u;
    return h % (2 * TOOL_IDS_MAX);
}

static int tool_id_eligible(const char *name)
{
    size_t n = strlen(name);
    return n >= 1 && n <= TOOL_ID_NAME_MAX && strspn(name, TOOL_ID_CHARS) == n;
}

/* The slot of name: its own, or the empty one where it would go. */
static tool_slot_t *tool_slot(const char *name)
{
    size_t i = tool_hash(name);
    while (au.tools[i].name[0] && strcmp(au.tools[i].name, name) != 0)
        i = (i + 1) % (2 * TOOL_IDS_MAX);
    return &au.tools[i];
}

/* The number of name as COPY's decimal value, or NULL (not known). */
static const char *tool_id_of(const char *name)
{
    if (!tool_id_eligible(name))
        return NULL;
    tool_slot_t *t = tool_slot(name);
    return t->name[0] ? t->id : NULL;
}

/* Rows (id, name) of tool_names: remembered while there is room. */
static void on_tools_registered(PGresult *res, const char *err, void *ud)
{
    (void)ud;
    au.registering = 0;
    if (!ap_res_ok(res)) {
        if (!au.closing)
            LOG_WARN("audit", "tool name registration failed; names stay text", "err",
                     err ? err : PQresultErrorMessage(res), NULL);
    } else {
        /* Names left without a number (tool_names is full, or another
         * replica was adding them): not asked for again at every batch. */
        if (PQntuples(res) < au.register_asked)
            au.register_after_ms = uv_now(au.app->loop) + TOOL_REGISTER_PAUSE_MS;
        for (int i = 0; i < PQntuples(res); i++) {
            const char *id = PQgetvalue(res, i, 0), *name = PQgetvalue(res, i, 1);
            if (au.ntools >= TOOL_IDS_MAX || !tool_id_eligible(name) || strlen(id) >= sizeof au.tools[0].id ||
                strspn(id, "0123456789") != strlen(id) || !*id)
                continue;
            tool_slot_t *t = tool_slot(name);
            if (t->name[0])
                continue;
            snprintf(t->name, sizeof t->name, "%s", name);
            snprintf(t->id, sizeof t->id, "%s", id);
            au.ntools++;
        }
    }
    maybe_stopped();
}

static void array_element(buf_t *b, const char *v);

/* Asks tool_names for the numbers of names (n of them, distinct, not known
 * yet), adding those it lacks while it holds fewer than TOOL_IDS_MAX. */
static void tools_register(const char *const *names, size_t n)
{
    if (n == 0 || au.registering || au.closing || uv_now(au.app->loop) < au.register_after_ms)
        return;
    buf_t arr;
    buf_init(&arr, TOOL_REGISTER_MAX * (TOOL_ID_NAME_MAX + 4) + 4);
    buf_append(&arr, "{", 1);
    for (size_t i = 0; i < n; i++)
        array_element(&arr, names[i]);
    buf_append(&arr, "}", 1);
    char cap[24];
    snprintf(cap, sizeof cap, "%d", TOOL_IDS_MAX);
    const char *p[2] = {arr.data, cap};
    /* New names are added while tool_names holds fewer than TOOL_IDS_MAX
     * (replicas adding at the same moment may each add up to
     * TOOL_REGISTER_MAX past it). The statement reads one snapshot: a name
     * another replica adds meanwhile conflicts (DO NOTHING) and is not
     * returned; it is asked for again with a later batch. */
    if (buf_ok(&arr) &&
        pgpool_query(au.app->db,
                     "WITH want AS (SELECT DISTINCT unnest($1::text[]) AS name),"
                     " added AS (INSERT INTO tool_names (name) SELECT w.name FROM want w"
                     "  WHERE NOT EXISTS (SELECT 1 FROM tool_names t WHERE t.name = w.name)"
                     "  LIMIT greatest(0, $2::int - (SELECT count(*) FROM tool_names))"
                     "  ON CONFLICT (name) DO NOTHING RETURNING id, name)"
                     " SELECT id, name FROM added UNION ALL SELECT t.id, t.name FROM tool_names t JOIN want USING (name)",
                     2, p, on_tools_registered, NULL) == 0) {
        au.registering = 1;
        au.register_asked = (int)n;
    }
    buf_free(&arr);
}

/* One row of a batch, its values in column order (entry_values). */
typedef struct row_s {
    const char *val[NCOLS];
    char derived[33]; /* the call_id derived from the stream id, when the record had none */
} row_t;

/* The order a batch goes in: by workspace, server, time and call. Rows of
 * one server follow each other, so the per-server index (server_id, ts,
 * call_id) and the per-workspace one (workspace_id, ts, call_id) take a
 * batch's entries for one place one after the other, on a page just read,
 * instead of descending to a different leaf for each row in turn (batches
 * interleave many servers). */
static int row_cmp(const void *pa, const void *pb)
{
    const row_t *a = *(const row_t *const *)pa, *b = *(const row_t *const *)pb;
    int c = strcmp(a->val[F_WS + 1], b->val[F_WS + 1]);
    if (!c)
        c = strcmp(a->val[F_SRV + 1], b->val[F_SRV + 1]);
    if (!c) {
        long long ta = strtoll(a->val[F_TS + 1], NULL, 10), tb = strtoll(b->val[F_TS + 1], NULL, 10);
        c = (ta > tb) - (ta < tb);
    }
    return c ? c : strcmp(a->val[COL_CALL], b->val[COL_CALL]);
}

static void on_copied(PGresult *res, const char *err, void *ud);

static void insert_batch(drain_t *d, const redisReply *entries)
{
    buf_t col[NCOLS], copy;
    size_t rows = 0;
    /* New entries go by COPY; entries read again (ours after a restart or
     * a failure, or claimed from a consumer that went away) may be in
     * PostgreSQL already, so they go by INSERT ... ON CONFLICT. */
    int use_copy = d->src == SRC_NEW && !au.slow;
    buf_init(&copy, (size_t)AUDIT_BATCH_MAX * 16 * 1040 + 16);
    d->ids = mem_alloc(entries->elements * sizeof *d->ids);
    for (size_t c = 0; c < NCOLS; c++) {
        /* Never reached: at most AUDIT_BATCH_MAX values of <= 512 bytes,
         * each at most doubled by escaping. */
        buf_init(&col[c], AUDIT_BATCH_MAX * 1040 + 16);
        buf_append(&col[c], "{", 1);
    }
    row_t *row = mem_alloc((entries->elements ? entries->elements : 1) * sizeof *row);
    const char *unknown[TOOL_REGISTER_MAX]; /* names to register: distinct, no number yet */
    size_t nunknown = 0;
    for (size_t i = 0; i < entries->elements; i++) {
        const redisReply *e = entries->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 1 || e->element[0]->type != REDIS_REPLY_STRING)
            continue;
        d->ids[d->nids++] = mem_strdup(e->element[0]->str);
        if (au.probe && d->src == SRC_OWN_PENDING && entries->elements == 1 && e->elements == 2 &&
            e->element[1]->type == REDIS_REPLY_ARRAY) {
            /* Its fields, to set it aside if PostgreSQL refuses it alone. */
            const redisReply *kv = e->element[1];
            d->aside = mem_alloc((kv->elements ? kv->elements : 1) * sizeof *d->aside);
            for (size_t k = 0; k + 1 < kv->elements; k += 2) {
                if (kv->element[k]->type != REDIS_REPLY_STRING || kv->element[k + 1]->type != REDIS_REPLY_STRING)
                    continue;
                d->aside[d->naside++] = mem_strdup(kv->element[k]->str);
                d->aside[d->naside++] = mem_strdup(kv->element[k + 1]->str);
            }
        }
        const char **val = row[rows].val;
        const char *stream_id = e->element[0]->str;
        if (entry_values(e, val) != 0) {
            /* Deleted (nil fields) or malformed: acknowledged and dropped. */
            metrics_inc(au.app->metrics, "jsmcp_api_audit_invalid_total", "", 1);
            LOG_WARN("audit", "malformed audit entry dropped", "stream_id", e->element[0]->str, NULL);
            continue;
        }
        if (!val[COL_CALL]) {
            derived_call_id(stream_id, row[rows].derived);
            val[COL_CALL] = row[rows].derived;
        }
        const char *tool = val[F_TOOL + 1];
        if ((val[COL_TOOL_ID] = tool_id_of(tool)) != NULL) {
            val[F_TOOL + 1] = NULL;
        } else if (au.ntools < TOOL_IDS_MAX && tool_id_eligible(tool) && nunknown < TOOL_REGISTER_MAX) {
            size_t k = 0;
            while (k < nunknown && strcmp(unknown[k], tool) != 0)
                k++;
            if (k == nunknown)
                unknown[nunknown++] = tool;
        }
        rows++;
    }
    /* Pointers are sorted, not the rows: a row's call_id may point into
     * its own derived[]. */
    row_t **order = mem_alloc((rows ? rows : 1) * sizeof *order);
    for (size_t i = 0; i < rows; i++)
        order[i] = &row[i];
    qsort(order, rows, sizeof *order, row_cmp);
    d->min_ts_ms = INT64_MAX;
    for (size_t i = 0; i < rows; i++) {
        long long t = strtoll(order[i]->val[F_TS + 1], NULL, 10);
        if (t < d->min_ts_ms)
            d->min_ts_ms = t;
    }
    for (size_t i = 0; i < rows; i++) {
        if (use_copy) {
            if (copy.len == 0)
                buf_append(&copy, COPY_BIN_HEADER, sizeof COPY_BIN_HEADER);
            put_be(&copy, NCOLS, 2);
            for (size_t c = 0; c < NCOLS; c++)
                copy_bin_value(&copy, col_type(c), order[i]->val[c]);
        } else {
            for (size_t c = 0; c < NCOLS; c++)
                array_element(&col[c], order[i]->val[c]);
        }
    }
    tools_register(unknown, nunknown); /* copies the names: entries is freed after this call */
    const char *p[NCOLS];
    int whole = 1;
    for (size_t c = 0; c < NCOLS; c++) {
        buf_append(&col[c], "}", 1);
        p[c] = col[c].data;
        whole &= buf_ok(&col[c]);
    }
    if (copy.len > 0)
        put_be(&copy, (uint64_t)-1, 2); /* the end of the data */
    whole &= buf_ok(&copy);
    int rc = -1;
    /* A column cut short (see the limits above) must not be sent as NULL:
     * the batch stays unacknowledged and is read again. */
    if (!whole)
        LOG_ERROR("audit", "audit batch over its buffer limit; not inserted", NULL);
    else if (rows > 0 && use_copy)
        rc = pgpool_copy(au.app->db, copy_sql, copy.data, copy.len, on_copied, d);
    else if (rows > 0)
        rc = pgpool_query(au.app->db, insert_sql, (int)NCOLS, p, on_inserted, d);
    for (size_t c = 0; c < NCOLS; c++)
        buf_free(&col[c]); /* pgpool copied the parameters */
    buf_free(&copy);
    free(order);
    free(row);
    if (rows == 0 && d->nids > 0)
        ack(d); /* only dropped entries: nothing to insert */
    else if (rc != 0)
        drain_end(d, 0);
}

/* The next read's COUNT. A backlog (a read of new entries came back full)
 * doubles it up to batch_backlog: a statement has a cost of its own (COPY's
 * tuple slots, the triggers' transition table and their two statements,
 * the commit), so larger batches cost PostgreSQL less per record while
 * there is a backlog to catch up on; the first read that comes back short
 * goes back to batch, so a quiet stream keeps small, short statements. */
static void batch_adapt(int full)
{
    long next = full ? au.cur * 2 : au.batch;
    au.cur = next > au.batch_backlog ? au.batch_backlog : next;
    snprintf(au.cur_s, sizeof au.cur_s, "%ld", au.cur);
}

/* XREADGROUP: [[key, [entry...]]] or nil; XAUTOCLAIM: [next, [entry...], [deleted...]]. */
static void on_read(redisReply *reply, const char *err, void *ud)
{
    drain_t *d = ud;
    (void)err;
    if (!reply) {
        drain_end(d, 0);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        if (strncmp(reply->str, "NOGROUP", 7) == 0)
            au.group_ready = 0; /* the stream was flushed: create the group again */
        else
            LOG_WARN("audit", "stream read failed", "err", reply->str, NULL);
        drain_end(d, 0);
        return;
    }
    const redisReply *entries = NULL;
    if (d->src == SRC_CLAIM) {
        if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 2)
            entries = reply->element[1];
    } else if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 &&
               reply->element[0]->type == REDIS_REPLY_ARRAY && reply->element[0]->elements == 2) {
        entries = reply->element[0]->element[1];
    }
    if (!entries || entries->type != REDIS_REPLY_ARRAY || entries->elements == 0) {
        if (d->src == SRC_NEW)
            batch_adapt(0);
        if (d->src == SRC_OWN_PENDING) {
            au.own_pending_done = 1;
            au.slow = au.probe = 0;
        }
        drain_end(d, d->src != SRC_NEW); /* then read new entries */
        return;
    }
    d->full = entries->elements >= (size_t)d->asked;
    if (d->src == SRC_NEW)
        batch_adapt(d->full);
    if (d->src == SRC_OWN_PENDING)
        d->full = 1; /* keep reading our pending entries until none are left */
    int next = d->src == SRC_NEW && d->full;
    insert_batch(d, entries); /* may end d */
    if (next)
        drain_begin(1); /* the next batch is read while this one is inserted */
}

static void on_group(redisReply *reply, const char *err, void *ud)
{
    drain_t *d = ud;
    (void)err;
    if (reply && (reply->type == REDIS_REPLY_STATUS ||
                  (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "BUSYGROUP", 9) == 0))) {
        au.group_ready = 1;
        drain_end(d, 1);
        return;
    }
    if (reply && reply->type == REDIS_REPLY_ERROR && !strstr(reply->str, "requires the key to exist"))
        LOG_WARN("audit", "cannot create the consumer group", "err", reply->str, NULL);
    drain_end(d, 0); /* no stream yet: try again at the next tick */
}

/* Starts a drain pass. overlap: a full batch of new entries is being
 * inserted; the next one may be read meanwhile (two in flight), so the
 * round trips of one hide behind the other's. Every other kind of read
 * runs alone. */
static void drain_begin(int overlap)
{
    int claim_due = uv_now(au.app->loop) - au.last_claim_ms >= AUDIT_CLAIM_EVERY_MS;
    if (au.closing || !rcli_ready(au.app->redis) || !pgpool_ready(au.app->db))
        return;
    if (au.running > 0 && !(overlap && au.running == 1 && au.group_ready && au.own_pending_done && !au.slow &&
                            !claim_due))
        return;
    drain_t *d = mem_calloc(1, sizeof *d);
    d->asked = au.cur;
    au.running++;
    int rc;
    if (!au.group_ready) {
        /* From 0: entries written before the group existed are drained too.
         * No MKSTREAM: until a worker writes, there is nothing to create. */
        const char *argv[5] = {"XGROUP", "CREATE", au.key, AUDIT_GROUP, "0"};
        rc = au_send(on_group, d, 5, argv);
    } else if (!au.own_pending_done) {
        d->src = SRC_OWN_PENDING;
        d->asked = au.probe ? 1 : au.cur;
        const char *argv[9] = {"XREADGROUP", "GROUP", AUDIT_GROUP, au.consumer, "COUNT", au.probe ? "1" : au.cur_s,
                               "STREAMS", au.key, "0"};
        rc = au_send(on_read, d, 9, argv);
    } else if (claim_due) {
        au.last_claim_ms = uv_now(au.app->loop);
        d->src = SRC_CLAIM;
        const char *argv[8] = {"XAUTOCLAIM", au.key, AUDIT_GROUP, au.consumer, AUDIT_CLAIM_IDLE_MS, "0-0",
                               "COUNT", au.cur_s};
        rc = au_send(on_read, d, 8, argv);
    } else {
        d->src = SRC_NEW;
        const char *argv[9] = {"XREADGROUP", "GROUP", AUDIT_GROUP, au.consumer, "COUNT", au.cur_s,
                               "STREAMS", au.key, ">"};
        rc = au_send(on_read, d, 9, argv);
    }
    if (rc != 0)
        drain_end(d, 0);
}

/* ---- retention and lag ---- */

/* Retention: every JSMCP_RETENTION_INTERVAL_MS each replica deletes up to
 * RETENTION_BATCH tool-call records older than JSMCP_AUDIT_RETENTION_DAYS
 * and admin events (the admin audit trail, migration 023) older than
 * JSMCP_ADMIN_EVENTS_RETENTION_DAYS. A full batch means more are due: the
 * next drain tick deletes the next batch, so a backlog goes in bounded
 * statements without waiting an interval each (at the default tick, up to
 * 50,000 rows a second per table, more than the drain inserts). One
 * retention_t per table; the same code runs both.
 * - Admin events are found through their created_at index; replicas skip
 *   the rows another is deleting (SKIP LOCKED).
 * - Tool-call records through the workspace listing index, from `since` to
 *   the cutoff (migration 034, jsmcp_calls_retention): since is the cutoff
 *   of this process's last pass that left nothing due, so a pass does not
 *   walk again the index entries of the rows it deleted before (they stay
 *   until a VACUUM). A full pass (since -infinity) runs at start, after
 *   this process inserted a record already past a cutoff (it may be older
 *   than since: retention_note_inserted), and once every RETENTION_FULL_MS
 *   for good measure. */
#define RETENTION_FULL_MS (24 * 3600 * 1000ULL)

typedef struct retention_s {
    const char *table;   /* the label of jsmcp_api_retention_passes_total */
    const char *sql;     /* $1 days, $2 RETENTION_BATCH (and $3 since, when bounded); answers the rows deleted */
    const char *deleted; /* the counter of rows deleted */
    const char *logged;  /* the log line of a batch that deleted rows */
    int bounded;         /* takes since; answers (deleted, cutoff) */
    long days;
    int more;            /* the last batch was full: the next tick deletes on */
    int running;         /* a batch in flight */
    int full;            /* bounded: a full pass is under way (since -infinity) */
    uint64_t full_at;    /* ... the last one finished then */
    char since[64];      /* ... the start of the next bounded pass */
    unsigned late;       /* ... records this process inserted already older than a cutoff (counter) */
    unsigned since_late; /* ... late when since was taken; unequal: the next pass is full */
    unsigned run_late;   /* ... late when the batch in flight started */
} retention_t;

static retention_t ret_calls = {
    .table = "tool_calls", .sql = "SELECT deleted, cutoff FROM jsmcp_calls_retention($1::int, $2::int, $3::timestamptz)",
    .deleted = "jsmcp_api_tool_calls_deleted_total", .logged = "old tool-call records deleted", .bounded = 1,
    .full = 1};
static retention_t ret_events = {
    .table = "admin_events",
    .sql = "DELETE FROM admin_events WHERE id IN (SELECT id FROM admin_events"
           " WHERE created_at < now() - $1::int * interval '1 day'"
           " ORDER BY created_at LIMIT $2::int FOR UPDATE SKIP LOCKED)",
    .deleted = "jsmcp_api_admin_events_deleted_total", .logged = "old admin events deleted"};

static void on_retention(PGresult *res, const char *err, void *ud)
{
    retention_t *rt = ud;
    rt->running = 0;
    rt->more = 0;
    if (!ap_res_ok(res) || (rt->bounded && (PQntuples(res) != 1 || PQnfields(res) != 2))) {
        if (!au.closing)
            LOG_WARN("audit", "retention delete failed", "table", rt->table, "err",
                     err ? err : res && PQresultStatus(res) != PGRES_TUPLES_OK ? PQresultErrorMessage(res) : "bad answer",
                     NULL);
        return;
    }
    long n = rt->bounded ? atol(PQgetvalue(res, 0, 0)) : atol(PQcmdTuples(res));
    rt->more = n >= atol(RETENTION_BATCH);
    if (rt->bounded && !rt->more) {
        /* Nothing older than the cutoff is left, save what this process
         * inserted meanwhile (late moved: the next pass is full): the next
         * pass starts there. */
        const char *cutoff = PQgetvalue(res, 0, 1);
        if (strlen(cutoff) < sizeof rt->since) {
            snprintf(rt->since, sizeof rt->since, "%s", cutoff);
            rt->since_late = rt->run_late;
            if (rt->full)
                rt->full_at = uv_now(au.app->loop);
            rt->full = 0;
        }
    }
    char label[64];
    snprintf(label, sizeof label, "table=\"%s\"", rt->table);
    metrics_inc(au.app->metrics, "jsmcp_api_retention_passes_total", label, 1);
    if (n > 0) {
        char rows[24];
        snprintf(rows, sizeof rows, "%ld", n);
        metrics_inc(au.app->metrics, rt->deleted, "", (double)n);
        LOG_INFO("audit", rt->logged, "rows", rows, NULL);
    }
}

/* The drain inserted records whose oldest has ts min_ts_ms. One already
 * older than a cutoff (a spool replayed, a backlog drained after a long
 * outage) may be older than since too, where a bounded pass would not look:
 * the next pass is full. Replicas each see their own inserts, and each runs
 * retention, so the one that inserted a late record deletes it. The margin
 * covers a clock of PostgreSQL (the cutoff's) ahead of this one. */
static void retention_note_inserted(long long min_ts_ms)
{
    if (min_ts_ms < clock_now_ms() - ret_calls.days * 86400000LL + 3600000)
        ret_calls.late++;
}

/* One batch of rt when due (the interval passed, or the last one was full). */
static void retention_run(retention_t *rt, int due)
{
    if ((!due && !rt->more) || rt->running || au.closing || !pgpool_ready(au.app->db))
        return;
    if (rt->bounded && !rt->full &&
        (uv_now(au.app->loop) - rt->full_at >= RETENTION_FULL_MS || rt->late != rt->since_late))
        rt->full = 1;
    rt->run_late = rt->late;
    char days[24];
    snprintf(days, sizeof days, "%ld", rt->days);
    const char *p[3] = {days, RETENTION_BATCH, rt->full ? "-infinity" : rt->since};
    if (pgpool_query(au.app->db, rt->sql, rt->bounded ? 3 : 2, p, on_retention, rt) == 0)
        rt->running = 1;
}

/* The usage fold (migration 030): the drain's transactions append each
 * batch's sums per day, account, server and tool to usage_pending; every
 * JSMCP_USAGE_FOLD_MS each replica moves them into usage_daily, so a key is
 * upserted once per fold instead of once per batch (the fold function holds
 * the SQL; a fold is one statement, all or nothing; two replicas' folds
 * never count a row twice). GET /usage reads usage_all, daily plus pending:
 * exact whenever the last fold ran. A full fold (USAGE_FOLD_MAX rows) means
 * more wait: the next tick folds on. */
static void on_fold_vacuumed(PGresult *res, const char *err, void *ud)
{
    (void)ud;
    au.folding = 0;
    if (!ap_res_ok(res) && !au.closing)
        LOG_WARN("audit", "VACUUM of usage_pending failed", "err", err ? err : PQresultErrorMessage(res), NULL);
    maybe_stopped();
}

static void on_fold(PGresult *res, const char *err, void *ud)
{
    (void)ud;
    au.folding = 0;
    au.fold_more = 0;
    if (!ap_res_ok(res) || PQntuples(res) != 1) {
        if (!au.closing) { /* at stop the pool fails what is queued: not a failure of the fold */
            LOG_WARN("audit", "usage fold failed; the rows stay pending", "err",
                     err ? err : PQresultErrorMessage(res), NULL);
            metrics_inc(au.app->metrics, "jsmcp_api_usage_fold_failures_total", "", 1);
        }
        maybe_stopped();
        return;
    }
    long n = atol(PQgetvalue(res, 0, 0));
    au.fold_more = n >= USAGE_FOLD_MAX;
    metrics_inc(au.app->metrics, "jsmcp_api_usage_folds_total", "", 1);
    if (n > 0)
        metrics_inc(au.app->metrics, "jsmcp_api_usage_folded_rows_total", "", (double)n);
    /* The fold left n dead rows: without a VACUUM now, usage_pending grows
     * by every row ever pending until autovacuum's next round (a minute
     * apart), and each fold and GET /usage scans them all (126 MB after
     * 30 s at 20,000 calls/s, BENCHMARKS.md). The VACUUM frees the pages for
     * the next rows and truncates the empty end. */
    if (n > 0 && !au.closing && pgpool_query(au.app->db, "VACUUM usage_pending", 0, NULL, on_fold_vacuumed, NULL) == 0) {
        au.folding = 1;
        return;
    }
    maybe_stopped();
}

static void usage_fold(uint64_t now)
{
    if (au.folding || au.closing || !pgpool_ready(au.app->db))
        return;
    if (!au.fold_more && now - au.last_fold_ms < au.fold_every_ms)
        return;
    au.last_fold_ms = now;
    char max[24];
    snprintf(max, sizeof max, "%d", USAGE_FOLD_MAX);
    const char *p[1] = {max};
    if (pgpool_query(au.app->db, "SELECT jsmcp_usage_fold($1::int)", 1, p, on_fold, NULL) == 0)
        au.folding = 1;
}

/* Trims the stream below what the group acknowledged, and measures the
 * backlog. KEYS[1] the stream, ARGV[1] the group. Everything before the
 * oldest entry still pending (read, not yet acknowledged) or, when none is,
 * the first entry not yet delivered, has been copied to PostgreSQL: XTRIM
 * MINID removes exactly those. Returns {entries removed, age in ms of the oldest entry waiting
 * (0: none), stream length}. Never trims by length: records wait as long
 * as PostgreSQL is away. */
static const char TRIM_LUA[] =
    "local ok, groups = pcall(redis.call, 'XINFO', 'GROUPS', KEYS[1])\n"
    "if not ok then return {0, 0, 0} end\n"
    "local last\n"
    "for _, g in ipairs(groups) do\n"
    "  local name, ld\n"
    "  for i = 1, #g, 2 do\n"
    "    if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then ld = g[i + 1] end\n"
    "  end\n"
    "  if name == ARGV[1] then last = ld end\n"
    "end\n"
    "local len = redis.call('XLEN', KEYS[1])\n"
    "if not last then return {0, 0, len} end\n"
    "local oldest\n"
    "local p = redis.call('XPENDING', KEYS[1], ARGV[1])\n"
    "if p[1] > 0 then\n"
    "  oldest = p[2]\n"
    "else\n"
    "  local nxt = redis.call('XRANGE', KEYS[1], '(' .. last, '+', 'COUNT', 1)\n"
    "  if #nxt > 0 then oldest = nxt[1][1] end\n"
    "end\n"
    "local ms, sq = string.match(last, '^(%d+)-(%d+)$')\n"
    "local after = string.format('%s-%d', ms, tonumber(sq) + 1)\n"
    "local n = redis.call('XTRIM', KEYS[1], 'MINID', oldest or after)\n"
    "local age = 0\n"
    "if oldest then\n"
    "  local t = redis.call('TIME')\n"
    "  age = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(string.match(oldest, '^(%d+)'))\n"
    "end\n"
    "return {n, age, len - n}\n";

static void on_trim(redisReply *reply, const char *err, void *ud)
{
    (void)err;
    (void)ud;
    if (!reply || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3)
        return;
    if (reply->element[0]->integer > 0)
        metrics_inc(au.app->metrics, "jsmcp_api_audit_trimmed_total", "", (double)reply->element[0]->integer);
    metrics_set(au.app->metrics, "jsmcp_api_audit_backlog_age_seconds", "", (double)reply->element[1]->integer / 1000.0);
    metrics_set(au.app->metrics, "jsmcp_api_audit_stream_length", "", (double)reply->element[2]->integer);
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
    uint64_t now = uv_now(au.app->loop);
    if (rcli_ready(au.app->redis) && au.group_ready) {
        const char *argv[5] = {"EVAL", TRIM_LUA, "1", au.key, AUDIT_GROUP};
        au_send(on_trim, NULL, 5, argv);
    }
    int due = now - au.last_retention_ms >= au.retention_every_ms;
    if (due)
        au.last_retention_ms = now;
    retention_run(&ret_events, due);
    retention_run(&ret_calls, due);
    usage_fold(now);
    drain_start();
}

int ap_audit_start(ap_app_t *app)
{
    cfg_err_t ce = {0};
    char host[64] = "api";
    memset(&au, 0, sizeof au);
    au.app = app;
    au.interval_ms = cfg_ms("JSMCP_AUDIT_DRAIN_MS", 200, 10, 60000, &ce);
    /* A read takes what waits, up to this many: a quiet stream gives small
     * batches, a backlog large ones (a statement costs PostgreSQL as much as
     * some rows: about 11 us of its CPU a row in batches of 500, 7 to 8 in
     * batches of 2,000, which take some 15 ms: BENCHMARKS.md). */
    au.batch = cfg_int("JSMCP_AUDIT_BATCH", 2000, 1, AUDIT_BATCH_MAX, &ce);
    au.batch_backlog = cfg_int("JSMCP_AUDIT_BATCH_BACKLOG", AUDIT_BATCH_MAX, 1, AUDIT_BATCH_MAX, &ce);
    ret_calls.days = cfg_int("JSMCP_AUDIT_RETENTION_DAYS", 90, 1, 36500, &ce);
    ret_events.days = cfg_int("JSMCP_ADMIN_EVENTS_RETENTION_DAYS", 400, 1, 36500, &ce);
    au.retention_every_ms = cfg_ms("JSMCP_RETENTION_INTERVAL_MS", 60000, 100, 86400000, &ce);
    /* Longer: fewer upserts of the same keys, more rows pending (GET /usage
     * reads them without an index). */
    au.fold_every_ms = cfg_ms("JSMCP_USAGE_FOLD_MS", 5000, 10, 3600000, &ce);
    if (ce.n) {
        fprintf(stderr, "jsmcp-api: configuration: %s\n", ce.msg);
        return -1;
    }
    if (au.batch_backlog < au.batch)
        au.batch_backlog = au.batch;
    batch_adapt(0);
    build_insert_sql();
    gethostname(host, sizeof host - 1);
    snprintf(au.consumer, sizeof au.consumer, "%s", cfg_str("JSMCP_AUDIT_CONSUMER", host));
    rcli_key(app->redis, au.key, sizeof au.key, "audit");
    au.last_claim_ms = au.last_fold_ms = uv_now(app->loop);
    /* The first retention pass at the first tick, then one every interval
     * (uv_now counts from an arbitrary start: 0 here would put the first
     * pass off until that clock passed the interval). Unsigned: now minus
     * this is the interval even when uv_now is smaller. */
    au.last_retention_ms = uv_now(app->loop) - au.retention_every_ms;
    metrics_describe(app->metrics, "jsmcp_api_audit_drained_total", "counter", "Tool-call records written to PostgreSQL");
    metrics_describe(app->metrics, "jsmcp_api_audit_stream_length", "gauge",
                     "Entries in the audit stream not yet trimmed (the last delivered one stays)");
    metrics_describe(app->metrics, "jsmcp_api_audit_backlog_age_seconds", "gauge",
                     "Age of the oldest audit record not yet in PostgreSQL (0: none waits)");
    metrics_describe(app->metrics, "jsmcp_api_audit_trimmed_total", "counter",
                     "Audit stream entries removed once in PostgreSQL (XTRIM MINID)");
    metrics_describe(app->metrics, "jsmcp_api_audit_invalid_total", "counter", "Malformed audit entries dropped");
    metrics_describe(app->metrics, "jsmcp_api_audit_errors_total", "counter",
                     "Audit drain steps that failed, by stage (insert; set_aside: Redis refused to keep an entry "
                     "PostgreSQL refused, which stays pending); the entries stay in the stream");
    metrics_describe(app->metrics, "jsmcp_api_audit_set_aside_total", "counter",
                     "Audit entries PostgreSQL refused for their data, copied to <prefix>audit:refused and acknowledged");
    metrics_describe(app->metrics, "jsmcp_api_retention_passes_total", "counter",
                     "Retention deletes finished, by table (tool_calls, admin_events)");
    metrics_describe(app->metrics, "jsmcp_api_tool_calls_deleted_total", "counter",
                     "Tool-call records deleted by retention (JSMCP_AUDIT_RETENTION_DAYS)");
    metrics_describe(app->metrics, "jsmcp_api_admin_events_deleted_total", "counter",
                     "Admin audit events deleted by retention (JSMCP_ADMIN_EVENTS_RETENTION_DAYS)");
    metrics_describe(app->metrics, "jsmcp_api_usage_folds_total", "counter",
                     "Usage folds finished (pending usage rows moved into usage_daily)");
    metrics_describe(app->metrics, "jsmcp_api_usage_folded_rows_total", "counter",
                     "Pending usage rows moved into usage_daily");
    metrics_describe(app->metrics, "jsmcp_api_usage_fold_failures_total", "counter",
                     "Usage folds that failed (their rows stay pending, counted by GET /usage)");
    uv_timer_init(app->loop, &au.timer);
    uv_timer_start(&au.timer, on_tick, au.interval_ms, au.interval_ms);
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    (void)h;
    maybe_stopped();
}

void ap_audit_stop(void (*done)(void *arg), void *arg)
{
    au.closing = 1;
    au.done = done;
    au.done_arg = arg;
    uv_timer_stop(&au.timer);
    uv_close((uv_handle_t *)&au.timer, on_timer_closed);
}
