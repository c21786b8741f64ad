/* tr: a small HTTP receiver on 127.0.0.1 for tests of outgoing requests
 * (webhook deliveries). One thread; each connection carries one request,
 * answered by a script of statuses, then closed. Every request is kept
 * (method, path, headers, body, arrival time); connections are counted,
 * so a test can tell "nothing connected" from "nothing was sent".
 *
 *     tr_t *t = tr_start();
 *     tr_script(t, (int[]){500, 500}, 2, 200, 0);   // two 500s, then 200s
 *     ... make the code under test send to http://127.0.0.1:<tr_port(t)>/x ...
 *     cr_assert(tr_wait(t, 3, 20000));
 *     tr_req_t q; tr_get(t, 0, &q); ...; tr_req_free(&q);
 *     tr_stop(t);
 */
#ifndef JSMCP_TR_H
#define JSMCP_TR_H

#include <stddef.h>
#include <stdint.h>

typedef struct tr_s tr_t;

typedef struct tr_req_s {
    char method[16];
    char path[512];
    char *headers;     /* the raw header lines */
    char *body;        /* NUL-terminated */
    size_t body_len;
    int64_t at_ms;     /* arrival (clock_now_ms) */
    int answered;      /* the status it got */
} tr_req_t;

tr_t *tr_start(void);
int tr_port(const tr_t *t);
/* Answers request i (from now on, counting all received so far) with
 * statuses[i], later ones with then; each answer waits delay_ms first.
 * A 3xx answer carries Location: location (tr_redirect). */
void tr_script(tr_t *t, const int *statuses, size_t n, int then, int delay_ms);
void tr_redirect(tr_t *t, const char *location);
/* The body of every answer from now on (len bytes; NULL: "ok"). */
void tr_body(tr_t *t, const char *body, size_t len);
/* From now on requests are read and counted but not answered: their
 * connections stay open (a receiver that never answers) until
 * tr_release answers each as scripted and closes it. */
void tr_hold(tr_t *t);
void tr_release(tr_t *t);
size_t tr_count(tr_t *t);
size_t tr_connections(tr_t *t);
/* Waits until at least n requests arrived; 1 when they did, 0 after timeout_ms. */
int tr_wait(tr_t *t, size_t n, long timeout_ms);
/* A copy of request i (0 when there is none); free with tr_req_free. */
int tr_get(tr_t *t, size_t i, tr_req_t *out);
void tr_req_free(tr_req_t *q);
/* A header's value (case-insensitive name) into out; NULL when absent. */
const char *tr_header(const tr_req_t *q, const char *name, char *out, size_t outsz);
void tr_stop(tr_t *t);

#endif
