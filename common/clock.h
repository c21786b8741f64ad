/* clock: time utilities (wall clock in ms, RFC 3339 parse/format). */
#ifndef JSMCP_TU_H
#define JSMCP_TU_H

#include <stddef.h>
#include <stdint.h>

int64_t clock_now_ms(void);               /* CLOCK_REALTIME in ms */
uint64_t clock_mono_ns(void);             /* CLOCK_MONOTONIC in ns */
/* Parses RFC 3339 / ISO 8601 date-times: "2026-12-31T23:59:59Z",
 * "...59.123+01:00", "...+0100", and "2026-03-26T16:00Z" (no seconds).
 * Returns 0 and epoch ms, or -1. Refused too: what PostgreSQL would not
 * cast to timestamptz and RFC 3339 cannot write: year 0000, an offset
 * beyond +-15:59 or with minutes over 59, and an instant outside
 * 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59.999Z once the offset is
 * applied (so clock_format_iso always writes four digits for it). */
int clock_parse_iso(const char *s, int64_t *out_ms);
/* Days since 1970-01-01 of a date of the proleptic Gregorian calendar
 * (Howard Hinnant's algorithm; any year, negative too). */
int64_t clock_days_from_civil(int y, int m, int d);
/* Formats epoch ms as "2026-12-31T23:59:59Z" (ms_precision: ".123Z"). */
void clock_format_iso(int64_t ms, int ms_precision, char *out, size_t outsz);

#endif
