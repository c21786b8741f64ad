/* wk_script: see wk_script.h. */
#include "wk_script.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define WK_SCRIPT_ARGS 16

typedef struct script_op_s {
    defer_entry_t later; /* not sent (Redis unavailable, too many arguments): answered from the loop */
    const char *err;
    wk_worker_t *w;
    wk_script_t *sc;
    int nkeys, argc;
    char *argv[WK_SCRIPT_ARGS];
    int evaled;     /* sent with EVAL (the script itself) */
    rcli_cb cb;
    void *ud;
} script_op_t;

static void on_loaded(redisReply *reply, const char *err, void *ud)
{
    wk_script_t *sc = ud;
    sc->loading = 0;
    if (reply && reply->type == REDIS_REPLY_STRING && reply->len < sizeof sc->sha)
        snprintf(sc->sha, sizeof sc->sha, "%s", reply->str);
}

void wk_script_load(wk_worker_t *w, wk_script_t *sc)
{
    if (sc->loading)
        return;
    sc->loading = rcli_command(w->redis, on_loaded, sc, "SCRIPT LOAD %s", sc->src) == 0;
}

static void op_free(script_op_t *op)
{
    for (int i = 0; i < op->argc; i++)
        free(op->argv[i]);
    free(op);
}

static void on_reply(redisReply *reply, const char *err, void *ud);

static int op_send(script_op_t *op)
{
    const char *argv[WK_SCRIPT_ARGS + 3];
    char nk[16];
    int n = 0;
    snprintf(nk, sizeof nk, "%d", op->nkeys);
    if (!op->sc->sha[0])
        wk_script_load(op->w, op->sc); /* for the next runs */
    op->evaled = !op->sc->sha[0] || op->evaled;
    argv[n++] = op->evaled ? "EVAL" : "EVALSHA";
    argv[n++] = op->evaled ? op->sc->src : op->sc->sha;
    argv[n++] = nk;
    for (int i = 0; i < op->argc; i++)
        argv[n++] = op->argv[i];
    return rcli_command_argv(op->w->redis, on_reply, op, n, argv, NULL);
}

static void on_reply(redisReply *reply, const char *err, void *ud)
{
    script_op_t *op = ud;
    if (reply && reply->type == REDIS_REPLY_ERROR && !op->evaled && strncmp(reply->str, "NOSCRIPT", 8) == 0) {
        /* Redis restarted or was flushed: send the script, and load it again. */
        op->sc->sha[0] = 0;
        wk_script_load(op->w, op->sc);
        op->evaled = 1;
        if (op_send(op) == 0)
            return;
        reply = NULL;
        err = "redis unavailable";
    }
    op->cb(reply, err, op->ud);
    op_free(op);
}

static void run_later(defer_entry_t *e)
{
    script_op_t *op = (script_op_t *)((char *)e - offsetof(script_op_t, later));
    on_reply(NULL, op->err, op);
}

void wk_script_run(wk_worker_t *w, wk_script_t *sc, int nkeys, int argc, const char *const *argv, rcli_cb cb,
                   void *ud)
{
    script_op_t *op = mem_calloc(1, sizeof *op);
    op->w = w;
    op->sc = sc;
    op->nkeys = nkeys;
    op->cb = cb;
    op->ud = ud;
    if (argc > WK_SCRIPT_ARGS) {
        op->err = "too many script arguments"; /* a caller's bug: never a partial command */
        defer_call(&w->defer, w->loop, &op->later, run_later);
        return;
    }
    op->argc = argc;
    for (int i = 0; i < op->argc; i++)
        op->argv[i] = mem_strdup(argv[i]);
    if (op_send(op) != 0) {
        op->err = "redis unavailable";
        defer_call(&w->defer, w->loop, &op->later, run_later);
    }
}
