/* rcli_cmd: the commands of rcli.h (rcli_command, rcli_command_argv): one
 * cmd_t each, freed only in on_cmd_reply; one timer on the oldest for the
 * command timeout (rcli_int.h's design notes).
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "rcli_int.h"

/* ------------------------------------------------------------ commands */

static void cmd_unlink(rcli_t *r, cmd_t *k)
{
    if (k->prev)
        k->prev->next = k->next;
    else
        r->head = k->next;
    if (k->next)
        k->next->prev = k->prev;
    else
        r->tail = k->prev;
    k->prev = k->next = NULL;
}

static void on_cmd_timer(uv_timer_t *t);

static void cmd_timer_arm(rcli_t *r)
{
    if (!r->head || r->closing || !r->command_timeout_ms)
        return;
    uint64_t now = uv_now(r->loop);
    uv_timer_start(&r->cmd_timer, on_cmd_timer,
                   r->head->deadline > now ? r->head->deadline - now : 0, 0);
}

/* The one place a cmd_t ends: hiredis calls it once per command. */
static void on_cmd_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    cmd_t *k = privdata;
    rcli_t *r = k->r;
    r->npending--;
    if (!reply)
        rcli_conn_gone(&r->cmd, ac, r->cmd.state == S_READY ? RCLI_ERR_LOST : RCLI_ERR_DOWN);
    if (!k->done) {
        cmd_unlink(r, k);
        if (k->cb)
            k->cb(reply, reply ? NULL : r->cmd.gone_err, k->ud);
    }
    free(k);
}

static void on_cmd_timer(uv_timer_t *t)
{
    rcli_t *r = t->data;
    cmd_t *k = r->head;
    if (!k || r->closing)
        return;
    if (k->deadline > uv_now(r->loop)) {
        cmd_timer_arm(r);
        return;
    }
    cmd_unlink(r, k);
    k->done = 1; /* on_cmd_reply frees it without calling back */
    rcli_cb cb = k->cb;
    void *ud = k->ud;
    LOG_WARN("rcli", "command timed out, reconnecting", NULL);
    /* Drop first (this frees k): the callback then sees the client down,
     * and the commands behind this one fail with the same error. */
    rcli_conn_drop(&r->cmd, RCLI_ERR_TIMEOUT);
    if (cb)
        cb(NULL, RCLI_ERR_TIMEOUT, ud);
    cmd_timer_arm(r);
}

static cmd_t *cmd_new(rcli_t *r, rcli_cb cb, void *ud)
{
    if (r->closing || !rcli_conn_accepts(&r->cmd) || r->npending >= RCLI_MAX_PENDING)
        return NULL;
    cmd_t *k = mem_calloc(1, sizeof *k);
    k->r = r;
    k->cb = cb;
    k->ud = ud;
    return k;
}

/* hiredis took the command: track it for the timeout. */
static void cmd_sent(rcli_t *r, cmd_t *k)
{
    r->npending++;
    k->deadline = uv_now(r->loop) + r->command_timeout_ms;
    k->prev = r->tail;
    if (r->tail)
        r->tail->next = k;
    else
        r->head = k;
    r->tail = k;
    if (k == r->head)
        cmd_timer_arm(r);
}

int rcli_command(rcli_t *r, rcli_cb cb, void *ud, const char *fmt, ...)
{
    cmd_t *k = cmd_new(r, cb, ud);
    if (!k)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int rc = redisvAsyncCommand(r->cmd.ac, on_cmd_reply, k, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK) {
        free(k);
        return -1;
    }
    cmd_sent(r, k);
    return 0;
}

/* The command in RESP ("*<argc>\r\n" then "$<len>\r\n<arg>\r\n" per
 * argument) into out, or its length when out is NULL. hiredis formats an
 * argv with an sdscatfmt per argument; an audit record's XADD has ~35
 * arguments and goes out on every tool call, and this costs a fifth as much. */
static size_t resp_format(char *out, int argc, const char **argv, const size_t *argvlen)
{
    char num[24];
    size_t n = fmt_uint(num, (unsigned long long)argc), pos = 0;
    if (out) {
        out[0] = '*';
        memcpy(out + 1, num, n);
        memcpy(out + 1 + n, "\r\n", 2);
    }
    pos = 1 + n + 2;
    for (int i = 0; i < argc; i++) {
        size_t len = argvlen ? argvlen[i] : strlen(argv[i]);
        n = fmt_uint(num, len);
        if (out) {
            out[pos] = '$';
            memcpy(out + pos + 1, num, n);
            memcpy(out + pos + 1 + n, "\r\n", 2);
            memcpy(out + pos + 1 + n + 2, argv[i], len);
            memcpy(out + pos + 1 + n + 2 + len, "\r\n", 2);
        }
        pos += 1 + n + 2 + len + 2;
    }
    return pos;
}

int rcli_command_argv(rcli_t *r, rcli_cb cb, void *ud, int argc, const char **argv,
                      const size_t *argvlen)
{
    if (argc < 1 || !argv)
        return -1;
    cmd_t *k = cmd_new(r, cb, ud);
    if (!k)
        return -1;
    char small[4096];
    size_t len = resp_format(NULL, argc, argv, argvlen);
    char *cmd = len <= sizeof small ? small : mem_alloc(len);
    resp_format(cmd, argc, argv, argvlen);
    int rc = redisAsyncFormattedCommand(r->cmd.ac, on_cmd_reply, k, cmd, len);
    if (cmd != small)
        free(cmd);
    if (rc != REDIS_OK) {
        free(k);
        return -1;
    }
    cmd_sent(r, k);
    return 0;
}
