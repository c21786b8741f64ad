/* callid: see callid.h. */
#include "callid.h"

#include <sodium.h>

void callid_seed(callid_gen_t *g)
{
    randombytes_buf(g->rnd, sizeof g->rnd);
    g->seq = 0;
    g->seeded = 1;
}

void callid_next(callid_gen_t *g, uint64_t now_ms, char *out)
{
    if (!g->seeded || g->seq == UINT32_MAX)
        callid_seed(g); /* a wrapped counter would repeat an id of the same bits */
    if (now_ms > g->last_ms)
        g->last_ms = now_ms;
    uint32_t seq = ++g->seq;
    unsigned char u[16];
    for (int i = 0; i < 6; i++)
        u[i] = (unsigned char)(g->last_ms >> (40 - 8 * i));
    u[6] = (unsigned char)(0x70 | (g->rnd[0] & 0x0f));
    u[7] = g->rnd[1];
    u[8] = (unsigned char)(0x80 | (g->rnd[2] & 0x3f));
    u[9] = g->rnd[3];
    u[10] = g->rnd[4];
    u[11] = g->rnd[5];
    for (int i = 0; i < 4; i++)
        u[12 + i] = (unsigned char)(seq >> (24 - 8 * i));
    sodium_bin2hex(out, CALLID_HEX_LEN + 1, u, sizeof u);
}
