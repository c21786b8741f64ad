/* sb_seed: builds the sandbox's data set (sb_data.h) from a seed: the same
 * seed and the same anchor time give the same site, byte for byte. Service
 * desks, request types, queues and knowledge base articles come from
 * constant tables (Jira Service Management's "IT service" templates);
 * users, issues, comments, worklogs, approvals, links and the rest from a
 * splitmix64 stream seeded with the seed. Above sb_data: it writes through
 * sb_data's functions; nothing below calls it.
 */
#ifndef JSMCP_SB_SEED_H
#define JSMCP_SB_SEED_H

#include <stdint.h>

#include "sb_data.h"

/* Builds the data set. caller_email names the agent whose credentials the
 * sandbox accepts (gets a fixed display name). Never fails (aborts on OOM).
 * Freed with sb_data_free(). */
sb_data_t *sb_seed_data(uint64_t seed, int64_t anchor_ms, const char *caller_email);

#endif
