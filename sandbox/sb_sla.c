/* sb_sla: see sb_sla.h. */
#include "sb_sla.h"

#include <string.h>

#define MIN_MS (60LL * 1000)
#define HOUR_MS (60 * MIN_MS)

const char *const sb_sla_names[SB_NSLA] = {"Time to first response", "Time to resolution"};

/* ---- SLA ---- */
static const int64_t SLA_GOALS[SB_NSLA][5] = {
    {1 * HOUR_MS, 2 * HOUR_MS, 4 * HOUR_MS, 8 * HOUR_MS, 8 * HOUR_MS},
    {4 * HOUR_MS, 8 * HOUR_MS, 24 * HOUR_MS, 48 * HOUR_MS, 72 * HOUR_MS},
};

static void sla_fill(sb_sla_t *c, int64_t start, int64_t stop, int64_t goal, int64_t now)
{
    c->start = start;
    c->stop = stop;
    c->goal_ms = goal;
    c->elapsed_ms = (stop ? stop : now) - start;
    if (c->elapsed_ms < 0)
        c->elapsed_ms = 0;
    c->remaining_ms = goal - c->elapsed_ms;
    c->breached = c->remaining_ms < 0;
}

/* Appends a cycle keeping the newest max ones. */
static void push_cycle(sb_sla_t *out, int max, int *n, int64_t start, int64_t stop, int64_t goal, int64_t now)
{
    if (max <= 0)
        return;
    if (*n == max) {
        memmove(out, out + 1, (size_t)(max - 1) * sizeof *out);
        (*n)--;
    }
    sla_fill(&out[(*n)++], start, stop, goal, now);
}

int sb_issue_sla_cycles(const sb_issue_t *is, int metric, int64_t now, sb_sla_t *out, int max)
{
    int64_t goal = SLA_GOALS[metric][is->priority], start = is->created, first_done = 0;
    int n = 0, open = 1;
    /* Walk the status changes: entering done completes a cycle, leaving
     * done (a reopen) starts the next one. */
    for (int h = 0; h < is->nhistory; h++)
        for (int i = 0; i < is->history[h].nitems; i++) {
            const sb_change_item_t *it = &is->history[h].items[i];
            if (strcmp(it->field, "status") != 0)
                continue;
            int to = sb_status_find(it->to), done = to >= 0 && sb_statuses[to].cat == SB_CAT_DONE;
            int64_t t = is->history[h].created;
            if (done && open) {
                if (!first_done)
                    first_done = t;
                if (metric == 1)
                    push_cycle(out, max, &n, start, t, goal, now);
                open = 0;
            } else if (!done && !open) {
                start = t;
                open = 1;
            }
        }
    if (metric == 0) { /* one cycle: the first public agent reply, else the first resolution */
        int64_t stop = is->first_response ? is->first_response : first_done;
        if (max > 0)
            sla_fill(&out[0], is->created, stop, goal, now);
        return max > 0;
    }
    if (open)
        push_cycle(out, max, &n, start, 0, goal, now);
    else if (!n) /* history cut short (SB_MAX_HISTORY): the latest resolution */
        push_cycle(out, max, &n, is->created, is->resolved ? is->resolved : now, goal, now);
    return n;
}

void sb_issue_sla(const sb_issue_t *is, int metric, int64_t now, sb_sla_t *out)
{
    sb_sla_t cyc[SB_MAX_SLA_CYCLES];
    int n = sb_issue_sla_cycles(is, metric, now, cyc, SB_MAX_SLA_CYCLES);
    if (n)
        *out = cyc[n - 1];
    else
        memset(out, 0, sizeof *out);
}
