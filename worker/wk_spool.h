/* wk_spool: a worker process's local append-only spool of audit records.
 *
 * Why: a tool call may be answered only once its audit record cannot be
 * lost by a kill -9 of the worker. Waiting for Redis to acknowledge the
 * XADD costs a network round trip per call; a line copied into a local file
 * (mapped, or with one write()) costs a microsecond or two and survives the
 * death of the process (the data is in the page cache). So wk_audit writes each record here, answers,
 * then sends the XADD and notes the acknowledgement here.
 *
 * Layout: <dir>/<sub>/audit-<slot>-<pid>-<random>.spool, where <sub> names
 * the Redis destination (wk_audit.c), so processes writing to different
 * Redis servers or prefixes can share <dir> without replaying each other's
 * records into the wrong place. Each process holds flock(LOCK_EX) on its
 * own files for as long as it has them open: a file nobody can be locking
 * belongs to a process that died, and any process (of any worker master
 * sharing the directory) may take it over (wk_spool_find) and replay it.
 *
 * Format: one line per record or acknowledgement, each copied whole into
 * the file's mapping (a file this process created) or written with one
 * write() on an O_APPEND descriptor (a file taken over, or one that could
 * not be mapped); a mapped file is followed by NUL bytes up to its
 * reserved length until a clean close cuts them:
 *   R <call_id> <argc> <arg>... <checksum of the line up to here, 16 hex>\n
 *   A <call_id>\n
 * The checksum is wk_spool.c's sum64; lines of older workers end with 8 hex
 * digits of FNV-1a instead, and are still read (a file they left replays).
 * call_id is 32 lowercase hex characters; args are the XADD command's
 * arguments, percent-encoded (bytes outside '!'..'~' and '%' as %XX). A
 * line that is cut off (no newline: the process died mid-write, or the
 * machine lost the tail of the file), malformed or failing its checksum is
 * skipped. A record with an A line is in Redis; one without may or may not
 * be, so replay can duplicate a record: call_id makes that harmless (the
 * API's drain keeps one row per call_id).
 *
 * Size: a file is rotated once it passes WK_SPOOL_SEGMENT_BYTES, and a
 * file whose records are all acknowledged is removed (or, the current one,
 * emptied once past WK_SPOOL_TRUNCATE_BYTES), so in normal operation a
 * process holds a few MiB at most; WK_SPOOL_MAX_BYTES bounds a long Redis
 * outage. Everything here runs on the loop and is a few syscalls, except
 * wk_spool_find, which reads files and is for the thread pool. */
#ifndef JSMCP_WK_SPOOL_H
#define JSMCP_WK_SPOOL_H

#include <stddef.h>
#include <stdint.h>

#define WK_SPOOL_ID_LEN 32                  /* call_id: 16 bytes as hex, time-ordered (common/callid.h) */
#define WK_SPOOL_MAX_ARGS 64                /* arguments of one record */
#define WK_SPOOL_MAX_LINE 16384             /* longest record line; longer records are not spooled */
#define WK_SPOOL_SEGMENT_BYTES (4u << 20)   /* a file past this is rotated */
#define WK_SPOOL_TRUNCATE_BYTES (64u << 10) /* the current file is emptied past this when all is acknowledged */
#define WK_SPOOL_FILE_MAX (32u << 20)       /* one file never grows past this (rotation failing) */
#define WK_SPOOL_MAX_BYTES (256u << 20)     /* this process's files together, by default */
#define WK_SPOOL_ACK_BUF 4096               /* acknowledgements are written in batches of this */

typedef struct wk_spool_s wk_spool_t;
typedef struct wk_spool_seg_s wk_spool_seg_t;         /* one spool file this process holds */
typedef struct wk_spool_orphan_s wk_spool_orphan_t;   /* a dead process's file, locked and read */

/* A record's command: argc strings and their lengths. */
typedef struct wk_spool_args_s {
    int argc;
    const char **argv;
    size_t *len;
} wk_spool_args_t;

/* One zeroed allocation of head bytes followed by a copy of argv: the
 * pointer array (at head, which must keep pointers aligned), the length
 * array, then the NUL-terminated strings. The wk_spool_args_t at offset
 * args_off in the head describes the copy. One free() releases it all. */
void *wk_spool_args_dup(size_t head, size_t args_off, int argc, const char **argv, const size_t *len);

/* A fresh call_id into out (WK_SPOOL_ID_LEN + 1 bytes). */
void wk_spool_new_id(char *out);

/* Creates <dir> and <dir>/<sub> (0700; <dir>/<sub> must end up owned by
 * this user and closed to others) and this process's first file. Returns
 * NULL with the reason in err. */
wk_spool_t *wk_spool_open(const char *dir, const char *sub, int slot, char *err, size_t errsz);
/* The directory holding the files (<dir>/<sub>). */
const char *wk_spool_dir(const wk_spool_t *s);

/* Writes one record with one write(). Returns the file holding it (for
 * wk_spool_ack), or NULL when it was not written (over the limits, or the
 * write failed: *why says which). */
wk_spool_seg_t *wk_spool_write(wk_spool_t *s, const char *call_id, int argc, const char **argv,
                               const size_t *len, const char **why);
/* Redis has the record call_id of seg: notes it (batched) and removes or
 * empties the file once nothing in it waits. */
void wk_spool_ack(wk_spool_t *s, wk_spool_seg_t *seg, const char *call_id);
/* Writes the acknowledgements noted so far (one write() per file). */
void wk_spool_flush(wk_spool_t *s);
/* Bytes in this process's files. */
uint64_t wk_spool_bytes(const wk_spool_t *s);
/* The most this process's files may hold together (default WK_SPOOL_MAX_BYTES). */
void wk_spool_set_max(wk_spool_t *s, uint64_t bytes);
/* 1 while a record of the longest size still fits. */
int wk_spool_has_room(const wk_spool_t *s);
/* Writes the acknowledgements, removes the files whose records are all
 * acknowledged and closes (so unlocks) the others, left for another
 * process to replay. Returns the number of records left. */
size_t wk_spool_close(wk_spool_t *s);

/* A record of a spool file: seg is NULL from wk_spool_parse. A visitor,
 * not a callback of the tree's rule (defer.h): wk_spool_parse and
 * wk_spool_adopt call it during the call, once per record, never after. */
typedef void (*wk_spool_rec_fn)(void *ud, wk_spool_seg_t *seg, const char *call_id, int argc,
                                const char **argv, const size_t *len);

/* Calls fn, in file order, for every well-formed record of data that has
 * no acknowledgement line. Returns the number of lines skipped (cut off,
 * malformed or failing the checksum). */
size_t wk_spool_parse(const char *data, size_t len, wk_spool_rec_fn fn, void *ud);

/* Blocking (for the thread pool; uses no wk_spool_t): locks and reads up
 * to max_files files of dir whose owner is gone. NULL when there are none. */
wk_spool_orphan_t *wk_spool_find(const char *dir, size_t max_files);
/* On the loop: takes the orphan o over as one of s's files (the lock moves
 * with it), calls fn for each record in it not yet acknowledged (to be
 * acknowledged with wk_spool_ack as usual), and removes the file at once
 * when there is none. Frees o. Returns the number of records; *bad gets
 * the number of lines skipped. */
size_t wk_spool_adopt(wk_spool_t *s, wk_spool_orphan_t *o, wk_spool_rec_fn fn, void *ud, size_t *bad);
/* The next orphan of a list from wk_spool_find (read before adopting). */
wk_spool_orphan_t *wk_spool_orphan_next(const wk_spool_orphan_t *o);
/* Unlocks and frees orphans not adopted (their owner's records stay). */
void wk_spool_orphans_free(wk_spool_orphan_t *o);

#endif
