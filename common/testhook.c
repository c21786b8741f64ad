/* testhook: see testhook.h. Hooks exist in the test build only
 * (testbuild.h: make SAN=1, what make test uses). */
#include "testhook.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "log.h"
#include "testbuild.h"

#define TH_ON JSMCP_TEST_BUILD

#define TH_POLL_MS 5

static const char *hook_dir(void)
{
    const char *d = getenv("JSMCP_TEST_HOOK_DIR");
    return d && *d ? d : NULL;
}

int testhook_check(const char *prog)
{
    if (!TH_ON && hook_dir()) {
        fprintf(stderr, "%s: JSMCP_TEST_HOOK_DIR is set, but this build has no test hooks (a test-only "
                        "variable; unset it)\n", prog);
        return -1;
    }
    return 0;
}

static void path_of(char *out, size_t outsz, const char *point, const char *ext)
{
    snprintf(out, outsz, "%s/%s.%s", hook_dir(), point, ext);
}

int th_armed(const char *point)
{
    char p[1024];
    if (!TH_ON || !hook_dir())
        return 0;
    path_of(p, sizeof p, point, "pause");
    return access(p, F_OK) == 0;
}

static void mark(const char *point, int reached)
{
    char p[1024];
    path_of(p, sizeof p, point, "reached");
    if (!reached) {
        unlink(p);
        return;
    }
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0)
        close(fd);
}

typedef struct th_op_s {
    uv_timer_t timer;
    char point[128];
    void (*cont)(void *ud);
    void *ud;
} th_op_t;

static void on_closed(uv_handle_t *h)
{
    th_op_t *op = h->data;
    void (*cont)(void *) = op->cont;
    void *ud = op->ud;
    free(op);
    cont(ud);
}

static void on_poll(uv_timer_t *t)
{
    th_op_t *op = t->data;
    if (th_armed(op->point))
        return;
    mark(op->point, 0);
    LOG_INFO("testhook", "released", "point", op->point, NULL);
    uv_timer_stop(t);
    uv_close((uv_handle_t *)t, on_closed);
}

int th_wait(uv_loop_t *loop, const char *point, void (*cont)(void *ud), void *ud)
{
    if (!th_armed(point))
        return 0;
    th_op_t *op = mem_calloc(1, sizeof *op);
    snprintf(op->point, sizeof op->point, "%s", point);
    op->cont = cont;
    op->ud = ud;
    op->timer.data = op;
    uv_timer_init(loop, &op->timer);
    LOG_INFO("testhook", "paused", "point", point, NULL);
    mark(point, 1);
    uv_timer_start(&op->timer, on_poll, TH_POLL_MS, TH_POLL_MS);
    return 1;
}

void th_wait_blocking(const char *point)
{
    if (!th_armed(point))
        return;
    LOG_INFO("testhook", "paused", "point", point, NULL);
    mark(point, 1);
    while (th_armed(point)) {
        struct timespec ts = {0, TH_POLL_MS * 1000000L};
        nanosleep(&ts, NULL);
    }
    mark(point, 0);
    LOG_INFO("testhook", "released", "point", point, NULL);
}
