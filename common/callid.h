/* callid: a tool call's id (call_id), time-ordered.
 *
 * A call_id names one tool call for its whole life: the worker's spool, the
 * audit stream and the primary key of tool_calls (exactly one row per call).
 * It only has to be unique, not secret. Its 16 bytes are laid out like a
 * UUIDv7 (RFC 9562), so that ids made later sort later:
 *
 *   bytes 0-5    milliseconds since 1970 (big-endian), never less than the
 *                generator's last one (a clock stepped back does not reorder)
 *   byte  6      0x7 (version) and 4 random bits
 *   byte  7      8 random bits
 *   byte  8      0b10 (variant) and 6 random bits
 *   bytes 9-11   24 random bits
 *   bytes 12-15  a counter (big-endian), +1 per id
 *
 * The 42 random bits are drawn once per generator (per process in the
 * worker), not per call: (random bits, counter) never repeats within a
 * generator, and the bits are drawn again when the counter wraps, so two ids
 * of one generator always differ; two generators (processes) differ by their
 * random bits. Why time first: PostgreSQL inserts each new key of a b-tree
 * next to the previous ones, at the right end of tool_calls' primary key,
 * where it fills leaf pages to 90% and takes its fast path; ids that start
 * with per-process random bytes insert at one spot per process, each filling
 * pages to half (BENCHMARKS.md, "Audit drain, narrower rows"). */
#ifndef JSMCP_CALLID_H
#define JSMCP_CALLID_H

#include <stdint.h>

#define CALLID_HEX_LEN 32 /* 32 lowercase hex digits, a uuid without dashes */

typedef struct callid_gen_s {
    unsigned char rnd[6]; /* 42 of these bits are used (see above) */
    uint64_t last_ms;
    uint32_t seq;
    int seeded;
} callid_gen_t;

/* Draws the generator's random bits and starts its counter over
 * (libsodium's randombytes_buf). A zeroed generator seeds itself on first
 * use; seed again after fork() so the child's ids differ from the parent's. */
void callid_seed(callid_gen_t *g);
/* The next id for a call made at now_ms (ms since 1970) into out
 * (CALLID_HEX_LEN + 1 bytes). */
void callid_next(callid_gen_t *g, uint64_t now_ms, char *out);

#endif
