/* jsontext_speed: common/jsontext's own parser and serializer against jansson's, on the
 * same inputs in one run (bench/jsontext.sh; issue 4's per-call CPU). For each
 * input: jsontext_parse vs json_loadb(JSON_DECODE_ANY | JSON_REJECT_DUPLICATES),
 * both including json_decref of the tree, and jsontext_dump vs
 * json_dumps(JSON_COMPACT | JSON_ENCODE_ANY), both including free().
 * Each figure is the best of 5 runs of ~0.2 s (the machine is shared).
 * Inputs: the upstream Jira issue the worker fetches for
 * get_single_..._issue_by_id (bench/data/issue-itsm-994.json), a search
 * response holding 8 copies of it (~32 KB), and a small JSON-RPC request.
 * Usage: jsontext_speed [issue.json] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "jsontext.h"

static double now_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

typedef enum { OP_JU_PARSE, OP_JANSSON_PARSE, OP_JU_DUMP, OP_JANSSON_DUMP } op_t;

static volatile size_t sink;

static void run_op(op_t op, const char *text, size_t n, const json_t *tree)
{
    char err[256];
    json_t *v;
    char *s;
    switch (op) {
    case OP_JU_PARSE:
        v = jsontext_parse(text, n, 64, err, sizeof err);
        sink += v != NULL;
        json_decref(v);
        break;
    case OP_JANSSON_PARSE:
        v = json_loadb(text, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
        sink += v != NULL;
        json_decref(v);
        break;
    case OP_JU_DUMP:
        s = jsontext_dump(tree);
        sink += s != NULL;
        free(s);
        break;
    case OP_JANSSON_DUMP:
        s = json_dumps(tree, JSON_COMPACT | JSON_ENCODE_ANY);
        sink += s != NULL;
        free(s);
        break;
    }
}

/* Best microseconds per operation over 5 runs of about 0.2 s each. */
static double time_op(op_t op, const char *text, size_t n, const json_t *tree)
{
    double best = 1e30;
    for (int r = 0; r < 5; r++) {
        long iters = 0;
        double t0 = now_us(), t1;
        do {
            for (int i = 0; i < 50; i++)
                run_op(op, text, n, tree);
            iters += 50;
            t1 = now_us();
        } while (t1 - t0 < 200000);
        double per = (t1 - t0) / (double)iters;
        if (per < best)
            best = per;
    }
    return best;
}

static int bench_input(const char *name, const char *text, size_t n)
{
    char err[256];
    json_t *ours = jsontext_parse(text, n, 64, err, sizeof err);
    json_t *theirs = json_loadb(text, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
    if (!ours || !theirs || !json_equal(ours, theirs)) {
        fprintf(stderr, "jsontext_speed: %s: parsers disagree (%s)\n", name, ours ? "trees" : err);
        return -1;
    }
    char *a = jsontext_dump(theirs), *b = json_dumps(theirs, JSON_COMPACT | JSON_ENCODE_ANY);
    int same = a && b && strcmp(a, b) == 0;
    free(a);
    free(b);
    if (!same) {
        fprintf(stderr, "jsontext_speed: %s: dumps differ\n", name);
        return -1;
    }
    double jp = time_op(OP_JU_PARSE, text, n, NULL);
    double jl = time_op(OP_JANSSON_PARSE, text, n, NULL);
    double jd = time_op(OP_JU_DUMP, NULL, 0, theirs);
    double js = time_op(OP_JANSSON_DUMP, NULL, 0, theirs);
    printf("%-22s %7zu B  parse: jsontext %8.2f us  jansson %8.2f us  x%.1f   "
           "dump: jsontext %8.2f us  jansson %8.2f us  x%.1f\n",
           name, n, jp, jl, jl / jp, jd, js, js / jd);
    json_decref(ours);
    json_decref(theirs);
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "bench/data/issue-itsm-994.json";
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return 1;
    }
    static char issue[1 << 16];
    size_t n = fread(issue, 1, sizeof issue, f);
    fclose(f);
    while (n && (issue[n - 1] == '\n' || issue[n - 1] == ' '))
        n--;

    buf_t search;
    buf_init(&search, 1 << 20);
    buf_append_str(&search, "{\"expand\":\"schema,names\",\"startAt\":0,\"maxResults\":8,\"total\":8,\"issues\":[");
    for (int i = 0; i < 8; i++) {
        if (i)
            buf_append(&search, ",", 1);
        buf_append(&search, issue, n);
    }
    buf_append_str(&search, "]}");

    static const char rpc[] =
        "{\"jsonrpc\":\"2.0\",\"id\":17,\"method\":\"tools/call\",\"params\":{\"name\":"
        "\"get_single_jira_service_management_issue_by_id\",\"arguments\":{\"issue_id_or_key\":"
        "\"ITSM-994\"}}}";

    int rc = 0;
    rc |= bench_input("issue (Jira issue)", issue, n);
    rc |= bench_input("search (8 issues)", search.data, search.len);
    rc |= bench_input("JSON-RPC request", rpc, sizeof rpc - 1);
    buf_free(&search);
    return rc ? 1 : 0;
}
