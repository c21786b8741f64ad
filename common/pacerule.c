/* pacerule: see pacerule.h. */
#include "pacerule.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PACE_MAX_BURST 100000L
#define PACE_MAX_RATE 100000.0 /* per second */

int pace_rule_parse(const char *spec, pace_rule_t *out, char *err, size_t errsz)
{
    out->per_s = 0;
    out->burst = 0;
    if (!spec || !*spec || strcmp(spec, "off") == 0)
        return 0;
    if (strlen(spec) > PACE_RULE_MAX_LEN) {
        snprintf(err, errsz, "pacing rule: longer than %d characters", PACE_RULE_MAX_LEN);
        return -1;
    }
    char *end;
    double rate = strtod(spec, &end);
    double unit = 0;
    if (end != spec && strncmp(end, "/s", 2) == 0)
        unit = 1;
    else if (end != spec && strncmp(end, "/m", 2) == 0)
        unit = 60;
    if (!unit || !(rate > 0) || rate / unit > PACE_MAX_RATE) {
        snprintf(err, errsz, "pacing rule \"%.64s\": expected \"<rate>/s [burst <n>]\", \"<rate>/m [burst <n>]\" "
                 "or \"off\" with 0 < rate <= %.0f per second", spec, PACE_MAX_RATE);
        return -1;
    }
    out->per_s = rate / unit;
    out->burst = (long)out->per_s + (out->per_s > (double)(long)out->per_s); /* rounded up */
    const char *p = end + 2;
    while (isspace((unsigned char)*p))
        p++;
    if (strncmp(p, "burst", 5) == 0) {
        p += 5;
        long n = strtol(p, &end, 10);
        if (end == p || n < 1 || n > PACE_MAX_BURST) {
            snprintf(err, errsz, "pacing rule \"%.64s\": burst must be an integer from 1 to %ld", spec,
                     PACE_MAX_BURST);
            return -1;
        }
        out->burst = n;
        p = end;
    }
    while (isspace((unsigned char)*p))
        p++;
    if (*p) {
        snprintf(err, errsz, "pacing rule \"%.64s\": unexpected \"%.32s\"", spec, p);
        return -1;
    }
    return 0;
}
