/* pacerule: the syntax of a pacing rule, shared by the worker (which
 * enforces it, worker/wk_pace.h) and the admin API (which validates an
 * integrated account's own rule before storing it).
 *
 * "<rate>/s [burst <n>]" or "<rate>/m [burst <n>]": rate a positive number,
 * at most 100000 per second; burst an integer 1..100000, by default the rate
 * per second rounded up. "off" or "" is the rule "no pacing" (per_s 0).
 */
#ifndef JSMCP_PACERULE_H
#define JSMCP_PACERULE_H

#include <stddef.h>

/* Tokens per second and bucket size; per_s 0 = off. */
typedef struct pace_rule_s {
    double per_s;
    long burst;
} pace_rule_t;

#define PACE_RULE_MAX_LEN 64 /* longer specs are refused */

/* 0, or -1 with err (quotes the spec, at most 64 bytes of it). */
int pace_rule_parse(const char *spec, pace_rule_t *out, char *err, size_t errsz);

#endif
