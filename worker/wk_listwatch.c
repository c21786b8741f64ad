/* wk_listwatch: see wk_listwatch.h. */
#include "wk_listwatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsontext.h"
#include "log.h"
#include "wk_cache.h"
#include "wk_fixtures.h"
#include "wk_mcp.h"
#include "wk_prompts.h"
#include "wk_push.h"
#include "wk_resources.h"
#include "wk_session.h"

#define WK_REC_MAX (256 * 1024)

typedef struct watch_s {
    char sid[WK_SESSION_ID_LEN + 1];
    char th[SECRET_HASH_HEX_LEN + 1];
    uint64_t fp[3];             /* tools, prompts, resources */
    struct watch_s *next;
} watch_t;

typedef struct wk_listwatch_s {
    wk_worker_t *w;
    watch_t *watches;
} wk_listwatch_t;

static const char *const kinds[3] = {"tools", "prompts", "resources"};

static uint64_t tools_fingerprint(wk_worker_t *w, const json_t *config)
{
    uint64_t h = 1469598103934665603u;
    if (wk_catalog_discovery(config))
        h = (h ^ 0x5a) * 1099511628211u; /* three discovery tools, whatever the filters */
    for (size_t i = 0; i < w->catalog->n; i++) {
        if (!wk_catalog_allowed(&w->catalog->tools[i], config))
            continue;
        for (const char *c = w->catalog->tools[i].name; *c; c++)
            h = (h ^ (unsigned char)*c) * 1099511628211u;
        h = (h ^ 0xff) * 1099511628211u;
    }
    return (h ^ (uint64_t)wk_fixtures_on(w, config)) * 1099511628211u;
}

static void fingerprints(wk_worker_t *w, const json_t *config, uint64_t fp[3])
{
    fp[0] = tools_fingerprint(w, config);
    fp[1] = wk_prompts_fingerprint(w, config);
    fp[2] = wk_resources_fingerprint(w, config);
}

void wk_listwatch_open(wk_worker_t *w, const char *sid, const char *token_hash, const json_t *config)
{
    wk_listwatch_t *lw = w->listwatch;
    if (!lw)
        return;
    watch_t *e = mem_calloc(1, sizeof *e);
    str_copy(e->sid, sizeof e->sid, sid);
    str_copy(e->th, sizeof e->th, token_hash);
    fingerprints(w, config, e->fp);
    e->next = lw->watches;
    lw->watches = e;
}

void wk_listwatch_close(wk_worker_t *w, const char *sid)
{
    wk_listwatch_t *lw = w->listwatch;
    for (watch_t **p = lw ? &lw->watches : NULL; p && *p; p = &(*p)->next)
        if (strcmp((*p)->sid, sid) == 0) {
            watch_t *e = *p;
            *p = e->next;
            free(e);
            return;
        }
}

typedef struct reread_s {
    wk_worker_t *w;
    char th[SECRET_HASH_HEX_LEN + 1];
} reread_t;

/* The server's record as it is now: notify the streams whose lists changed. */
static void on_record(redisReply *reply, const char *err, void *ud)
{
    reread_t *rr = ud;
    wk_worker_t *w = rr->w;
    wk_listwatch_t *lw = w->listwatch;
    json_t *rec = NULL;
    char perr[128];
    if (lw && reply && reply->type == REDIS_REPLY_STRING && reply->len <= WK_REC_MAX)
        rec = jsontext_parse(reply->str, reply->len, 16, perr, sizeof perr);
    wk_server_t srv;
    if (rec && !json_is_true(json_object_get(rec, "tombstone")) && wk_server_parse(&srv, rec, rr->th) == 0) {
        uint64_t fp[3];
        fingerprints(w, srv.config, fp);
        for (watch_t *e = lw->watches; e; e = e->next) {
            if (strcmp(e->th, rr->th) != 0)
                continue;
            for (int k = 0; k < 3; k++) {
                if (e->fp[k] == fp[k])
                    continue;
                char method[64];
                snprintf(method, sizeof method, "notifications/%s/list_changed", kinds[k]);
                wk_push_session(w, e->sid, json_pack("{s:s,s:s}", "jsonrpc", "2.0", "method", method));
                metrics_inc(w->metrics, "jsmcp_worker_list_changed_total", k == 0 ? "list=\"tools\""
                                                                           : k == 1 ? "list=\"prompts\""
                                                                                    : "list=\"resources\"", 1);
                e->fp[k] = fp[k];
            }
        }
        wk_server_clear(&srv);
    } else {
        json_decref(rec); /* gone, a tombstone, or unreadable: its sessions end anyway */
    }
    free(rr);
}

/* Redis announced a change of srv:<th> (wk_cache's subscription). */
static void on_server_change(wk_worker_t *w, const char *th)
{
    wk_listwatch_t *lw = w->listwatch;
    if (!lw || strlen(th) != SECRET_HASH_HEX_LEN)
        return;
    int watched = 0;
    for (watch_t *e = lw->watches; e && !watched; e = e->next)
        watched = strcmp(e->th, th) == 0;
    if (!watched)
        return;
    reread_t *rr = mem_calloc(1, sizeof *rr);
    rr->w = w;
    str_copy(rr->th, sizeof rr->th, th);
    char k[160];
    rcli_key(w->redis, k, sizeof k, "srv:%s", th);
    if (rcli_command(w->redis, on_record, rr, "GET %s", k) != 0)
        free(rr);
}

int wk_listwatch_start(wk_worker_t *w)
{
    wk_listwatch_t *lw = mem_calloc(1, sizeof *lw);
    lw->w = w;
    w->listwatch = lw;
    wk_cache_on_server_change(w, on_server_change);
    return 0;
}

void wk_listwatch_free(wk_worker_t *w)
{
    wk_listwatch_t *lw = w->listwatch;
    while (lw && lw->watches) {
        watch_t *e = lw->watches;
        lw->watches = e->next;
        free(e);
    }
    free(lw);
    w->listwatch = NULL;
}
