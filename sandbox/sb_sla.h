/* sb_sla: the two JSM SLAs of a request (time to first response, time to
 * resolution) computed from its timestamps on the sandbox clock, with goals
 * by priority. Pure: reads an issue, keeps no state.
 */
#ifndef JSMCP_SB_SLA_H
#define JSMCP_SB_SLA_H

#include <stdint.h>

#include "sb_data.h"

/* SLA metrics: 0 = time to first response, 1 = time to resolution. */
#define SB_NSLA 2
#define SB_MAX_SLA_CYCLES 16
typedef struct sb_sla_s {
    int64_t start, stop;   /* stop 0 = ongoing */
    int64_t goal_ms;
    int64_t elapsed_ms;
    int64_t remaining_ms;  /* negative after a breach */
    int breached;
} sb_sla_t;
extern const char *const sb_sla_names[SB_NSLA];
/* The SLA's current cycle: the ongoing one, else the latest completed one. */
void sb_issue_sla(const sb_issue_t *is, int metric, int64_t now, sb_sla_t *out);
/* Every cycle, oldest first: "Time to resolution" starts a new cycle each
 * time a resolved request is reopened; the last one is ongoing (stop 0)
 * while the request is open. Returns the count (at most max). */
int sb_issue_sla_cycles(const sb_issue_t *is, int metric, int64_t now, sb_sla_t *out, int max);

#endif
