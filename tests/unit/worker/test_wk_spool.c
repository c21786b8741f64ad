/* wk_spool: the audit spool's file format, acknowledgements, rotation, and
 * the take-over of a dead process's file (a forked child that exits
 * without closing its spool stands for a worker killed with -9: the kernel
 * closes its descriptors, which releases its locks, and the files stay). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "wk_spool.h"

typedef struct got_s {
    int n;
    char ids[16][WK_SPOOL_ID_LEN + 1];
    int argc[16];
    char args[16][10][64];
    size_t lens[16][10];
    wk_spool_seg_t *seg[16];
} got_t;

static void collect(void *ud, wk_spool_seg_t *seg, const char *call_id, int argc, const char **argv,
                    const size_t *len)
{
    got_t *g = ud;
    cr_assert_lt(g->n, 16);
    snprintf(g->ids[g->n], sizeof g->ids[0], "%s", call_id);
    g->argc[g->n] = argc;
    for (int i = 0; i < argc && i < 10; i++) {
        cr_assert_lt(len[i], 64);
        memcpy(g->args[g->n][i], argv[i], len[i]);
        g->lens[g->n][i] = len[i];
    }
    g->seg[g->n] = seg;
    g->n++;
}

/* Only counts the records (a file with more than collect keeps). */
static void collect_count(void *ud, wk_spool_seg_t *seg, const char *call_id, int argc, const char **argv,
                          const size_t *len)
{
    ((got_t *)ud)->n++;
}

static char *tmpdir_new(void)
{
    char *d = strdup("/tmp/jsmcp-spool-test-XXXXXX");
    cr_assert(mkdtemp(d));
    return d;
}

/* The length of a file. */
static off_t file_size(const char *path)
{
    struct stat st;
    cr_assert_eq(stat(path, &st), 0, "%s", path);
    return st.st_size;
}

/* The spool files of dir/sub: their number, and the lines of the last (a
 * file a live process maps is longer: NUL bytes follow its lines). */
static int files(const char *dir, char **content, size_t *len)
{
    DIR *d = opendir(dir);
    cr_assert(d, "%s", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        n++;
        if (content) {
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            FILE *f = fopen(path, "rb");
            cr_assert(f);
            free(*content);
            *content = malloc(1 << 20);
            *len = strnlen(*content, fread(*content, 1, 1 << 20, f));
            fclose(f);
        }
    }
    closedir(d);
    return n;
}

static const char *REC[] = {"XADD", "p:audit", "*", "tool", "a b%c\nd", "request_id", "", "call_id", "x"};
#define NREC 9

static wk_spool_seg_t *put(wk_spool_t *s, char *id, const char *tool)
{
    const char *argv[NREC];
    size_t len[NREC];
    memcpy(argv, REC, sizeof argv);
    wk_spool_new_id(id);
    argv[4] = tool;
    argv[8] = id;
    for (int i = 0; i < NREC; i++)
        len[i] = strlen(argv[i]);
    const char *why = NULL;
    wk_spool_seg_t *g = wk_spool_write(s, id, NREC, argv, len, &why);
    cr_assert(g, "write: %s", why ? why : "?");
    return g;
}

/* The path of the one spool file in dir. */
static void only_file(const char *dir, char *path, size_t size)
{
    DIR *d = opendir(dir);
    cr_assert(d, "%s", dir);
    struct dirent *e;
    while ((e = readdir(d)) && e->d_name[0] == '.')
        ;
    cr_assert(e, "a file in %s", dir);
    snprintf(path, size, "%s/%s", dir, e->d_name);
    closedir(d);
}

/* A "worker" killed with -9: a forked child opens a spool in dir, lets
 * work write records (and put what the test needs into out), sends out
 * back and exits without closing anything, so the kernel drops its
 * descriptors and locks and the files stay. */
static void die_after(const char *dir, void (*work)(wk_spool_t *, void *), void *out, size_t outlen)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        char err[256];
        wk_spool_t *s = wk_spool_open(dir, "dest", 0, err, sizeof err);
        if (!s)
            _exit(2);
        work(s, out);
        _exit(write(fds[1], out, outlen) == (ssize_t)outlen ? 0 : 3);
    }
    close(fds[1]);
    cr_assert_eq(read(fds[0], out, outlen), (ssize_t)outlen);
    close(fds[0]);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child status %d", st);
}

/* Puts one record and closes s cleanly, so the record stays: the file's
 * lines (caller frees) and length, its path (1024 bytes) and the spool's
 * directory (600 bytes). */
static char *close_with_one(wk_spool_t *s, char *id, const char *tool, char *sub, char *path, size_t *n)
{
    put(s, id, tool);
    snprintf(sub, 600, "%s", wk_spool_dir(s));
    cr_assert_eq(wk_spool_close(s), 1);
    char *c = NULL;
    cr_assert_eq(files(sub, &c, n), 1);
    only_file(sub, path, 1024);
    return c;
}

/* A clean close that leaves nothing: no record waits, no file stays. */
static void close_empty(wk_spool_t *s, char *dir)
{
    char sub[600];
    snprintf(sub, sizeof sub, "%s", wk_spool_dir(s));
    cr_assert_eq(wk_spool_close(s), 0);
    cr_assert_eq(files(sub, NULL, NULL), 0, "nothing left");
    rmdir(sub);
    rmdir(dir);
    free(dir);
}

Test(spool, records_round_trip_and_acks_are_honoured)
{
    char *dir = tmpdir_new(), err[256];
    wk_spool_t *s = wk_spool_open(dir, "dest", 1, err, sizeof err);
    cr_assert(s, "%s", err);
    char id[3][WK_SPOOL_ID_LEN + 1];
    wk_spool_seg_t *g0 = put(s, id[0], "a b%c\nd");
    put(s, id[1], "t\xc3\xa9");
    put(s, id[2], "plain");
    wk_spool_ack(s, g0, id[0]);
    wk_spool_flush(s);
    char *c = NULL;
    size_t n = 0;
    cr_assert_eq(files(wk_spool_dir(s), &c, &n), 1);
    /* The live file is mapped: reserved past its lines (else each record
     * would cost a write() system call). */
    char live[1024];
    only_file(wk_spool_dir(s), live, sizeof live);
    cr_assert_geq(file_size(live), (off_t)WK_SPOOL_SEGMENT_BYTES, "the file is reserved and mapped");
    got_t got = {0};
    cr_assert_eq(wk_spool_parse(c, n, collect, &got), 0, "no damaged line");
    cr_assert_eq(got.n, 2, "the acknowledged record is not replayed");
    cr_assert_str_eq(got.ids[0], id[1]);
    cr_assert_str_eq(got.ids[1], id[2]);
    cr_assert_eq(got.argc[0], NREC);
    cr_assert_str_eq(got.args[0][4], "t\xc3\xa9", "bytes outside ASCII survive");
    cr_assert_str_eq(got.args[0][8], id[1], "the call_id field is in the record");
    cr_assert_eq(got.lens[0][6], 0, "an empty argument stays empty");
    cr_assert_str_eq(got.args[1][4], "plain");

    /* The same content with the first record's newline encoded: spaces,
     * '%' and newlines inside arguments do not break lines. */
    got_t all = {0};
    char *noack = strndup(c, (size_t)(strstr(c, "\nA ") - c) + 1);
    cr_assert_eq(wk_spool_parse(noack, strlen(noack), collect, &all), 0);
    cr_assert_eq(all.n, 3);
    cr_assert_str_eq(all.args[0][4], "a b%c\nd");
    free(noack);

    /* A crash mid-write leaves the last line cut: it is skipped. */
    size_t cut = n + 40;
    char *torn = malloc(cut);
    memcpy(torn, c, n);
    memcpy(torn + n, c, 40); /* the start of a record line, no newline */
    got_t t = {0};
    cr_assert_eq(wk_spool_parse(torn, cut, collect, &t), 1, "one cut line");
    cr_assert_eq(t.n, 2);

    /* A damaged byte inside a record fails its checksum: only it is lost. */
    memcpy(torn, c, n);
    char *second = strchr(torn, '\n') + 1;
    second[10] = second[10] == 'a' ? 'b' : 'a';
    got_t d = {0};
    cr_assert_eq(wk_spool_parse(torn, n, collect, &d), 1, "one damaged line");
    cr_assert_eq(d.n, 1);
    cr_assert_str_eq(d.ids[0], id[2]);
    /* Garbage is skipped, not taken for a record. */
    const char *junk = "R 0123 2 a b 00000000\nA xyz\n\0\0\0\n";
    got_t j = {0};
    cr_assert_eq(wk_spool_parse(junk, 32, collect, &j), 3);
    cr_assert_eq(j.n, 0);
    free(torn);
    free(c);

    /* All acknowledged: the file is removed at close. */
    wk_spool_ack(s, g0, id[1]);
    wk_spool_ack(s, g0, id[2]);
    close_empty(s, dir);
}

/* Three records, Redis acknowledged the first. */
static void three_one_acked(wk_spool_t *s, void *out)
{
    char (*id)[WK_SPOOL_ID_LEN + 1] = out;
    wk_spool_seg_t *g = put(s, id[0], "one");
    put(s, id[1], "two");
    put(s, id[2], "three");
    wk_spool_ack(s, g, id[0]);
    wk_spool_flush(s);
}

Test(spool, a_dead_process_file_is_taken_over_once)
{
    char *dir = tmpdir_new(), err[256];
    char id[3][WK_SPOOL_ID_LEN + 1];
    die_after(dir, three_one_acked, id, sizeof id);

    wk_spool_t *s = wk_spool_open(dir, "dest", 0, err, sizeof err);
    cr_assert(s, "%s", err);
    cr_assert_eq(files(wk_spool_dir(s), NULL, NULL), 2, "the dead one's file and ours");
    wk_spool_orphan_t *o = wk_spool_find(wk_spool_dir(s), 4);
    cr_assert(o, "the dead process's file is found");
    cr_assert_null(wk_spool_orphan_next(o), "our own (locked) file is not");
    cr_assert_null(wk_spool_find(wk_spool_dir(s), 4), "a file being taken over is locked");
    got_t got = {0};
    size_t bad = 9;
    cr_assert_eq(wk_spool_adopt(s, o, collect, &got, &bad), 2);
    cr_assert_eq(bad, 0);
    cr_assert_eq(got.n, 2, "the acknowledged record is not replayed");
    cr_assert_str_eq(got.ids[0], id[1]);
    cr_assert_str_eq(got.ids[1], id[2]);
    cr_assert_str_eq(got.args[1][4], "three");
    cr_assert_null(wk_spool_find(wk_spool_dir(s), 4), "an adopted file stays locked");
    /* Redis took the first: the file stays until the second is in too. */
    wk_spool_ack(s, got.seg[0], got.ids[0]);
    cr_assert_eq(files(wk_spool_dir(s), NULL, NULL), 2);
    wk_spool_ack(s, got.seg[1], got.ids[1]);
    cr_assert_eq(files(wk_spool_dir(s), NULL, NULL), 1, "replayed and acknowledged: removed");

    /* A record not acknowledged when a process stops stays for the next one. */
    char k[WK_SPOOL_ID_LEN + 1], sub[600], kpath[1024];
    size_t kn = 0;
    char *kc = close_with_one(s, k, "kept", sub, kpath, &kn);
    /* A clean stop cuts the mapped file to its lines: the next owner's
     * acknowledgements follow them. */
    cr_assert_eq(file_size(kpath), (off_t)kn, "no NUL tail after a clean stop");
    free(kc);
    wk_spool_t *s2 = wk_spool_open(dir, "dest", 0, err, sizeof err);
    o = wk_spool_find(sub, 4);
    cr_assert(o);
    got_t g2 = {0};
    cr_assert_eq(wk_spool_adopt(s2, o, collect, &g2, &bad), 1);
    cr_assert_str_eq(g2.ids[0], k);
    wk_spool_ack(s2, g2.seg[0], k);
    cr_assert_eq(wk_spool_close(s2), 0);
    cr_assert_eq(files(sub, NULL, NULL), 0);
    /* Another destination is another directory: never replayed here. */
    wk_spool_t *s3 = wk_spool_open(dir, "other", 0, err, sizeof err);
    cr_assert(s3);
    cr_assert_str_neq(wk_spool_dir(s3), sub);
    wk_spool_close(s3);
    char other[600];
    snprintf(other, sizeof other, "%s/other", dir);
    rmdir(other);
    rmdir(sub);
    rmdir(dir);
    free(dir);
}

Test(spool, files_stay_bounded_under_load_with_records_always_in_flight)
{
    char *dir = tmpdir_new(), err[256];
    wk_spool_t *s = wk_spool_open(dir, "dest", 0, err, sizeof err);
    cr_assert(s, "%s", err);
    char big[900];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    /* One record stays unacknowledged while many come and go: the file
     * holding it is rotated once past WK_SPOOL_SEGMENT_BYTES. */
    char held[WK_SPOOL_ID_LEN + 1], id[WK_SPOOL_ID_LEN + 1], prev[WK_SPOOL_ID_LEN + 1];
    wk_spool_seg_t *hg = put(s, held, "held");
    wk_spool_seg_t *pg = put(s, prev, big);
    size_t n = (WK_SPOOL_SEGMENT_BYTES / sizeof big) + 100;
    for (size_t i = 0; i < n; i++) {
        wk_spool_seg_t *g = put(s, id, big);
        wk_spool_ack(s, pg, prev); /* always one more in flight */
        pg = g;
        memcpy(prev, id, sizeof id);
    }
    cr_assert_eq(files(wk_spool_dir(s), NULL, NULL), 2, "rotated once");
    cr_assert_leq(wk_spool_bytes(s), (uint64_t)WK_SPOOL_SEGMENT_BYTES * 2);
    wk_spool_ack(s, hg, held);
    cr_assert_eq(files(wk_spool_dir(s), NULL, NULL), 1, "the old file went with its last record");
    wk_spool_ack(s, pg, prev);
    /* Nothing in flight and past WK_SPOOL_TRUNCATE_BYTES: emptied. */
    cr_assert_eq(wk_spool_bytes(s), 0);
    close_empty(s, dir);
}

/* A process killed while copying a record into its mapped file leaves a
 * cut line and the NUL tail: the taker replays the whole records, counts
 * the cut one, and cuts the file after the last whole line, so the
 * acknowledgements it appends are lines of their own. */
Test(spool, a_mapped_file_cut_mid_record_is_taken_over)
{
    char *dir = tmpdir_new(), err[256];
    wk_spool_t *s0 = wk_spool_open(dir, "dest", 0, err, sizeof err);
    cr_assert(s0, "%s", err);
    char id[WK_SPOOL_ID_LEN + 1], sub[600], path[1024];
    size_t n = 0;
    char *c = close_with_one(s0, id, "whole", sub, path, &n);
    /* The dead process's file: the line, half of another, then NULs. */
    FILE *f = fopen(path, "ab");
    cr_assert(f);
    cr_assert_eq(fwrite(c, 1, n / 2, f), n / 2);
    static const char zeros[8192];
    cr_assert_eq(fwrite(zeros, 1, sizeof zeros, f), sizeof zeros);
    fclose(f);

    wk_spool_t *s = wk_spool_open(dir, "dest", 0, err, sizeof err);
    cr_assert(s, "%s", err);
    wk_spool_orphan_t *o = wk_spool_find(sub, 4);
    cr_assert(o);
    got_t got = {0};
    size_t bad = 0;
    cr_assert_eq(wk_spool_adopt(s, o, collect, &got, &bad), 1);
    cr_assert_eq(bad, 1, "the cut line");
    cr_assert_str_eq(got.ids[0], id);
    cr_assert_str_eq(got.args[0][4], "whole");
    cr_assert_eq(file_size(path), (off_t)n, "cut after the last whole line");
    /* Acknowledged: the file goes. */
    wk_spool_ack(s, got.seg[0], id);
    cr_assert_eq(files(sub, NULL, NULL), 1, "removed once acknowledged: only our own file is left");
    free(c);
    close_empty(s, dir);
}

/* An emptied mapped file keeps its old lines after the new ones (it is
 * not truncated): a NUL ends the lines, so a process that dies then
 * leaves only its new records to replay. Here: records acknowledged
 * until the file is emptied (acknowledgements still in memory go with
 * it), then two more that are not. */
static void emptied_then_two(wk_spool_t *s, void *out)
{
    char (*after)[WK_SPOOL_ID_LEN + 1] = out;
    char big[900], id[WK_SPOOL_ID_LEN + 1];
    memset(big, 'o', sizeof big - 1);
    big[sizeof big - 1] = 0;
    for (;;) {
        wk_spool_ack(s, put(s, id, big), id);
        if (wk_spool_bytes(s) == 0)
            break;
        if (wk_spool_bytes(s) > 2 * WK_SPOOL_TRUNCATE_BYTES)
            _exit(4);
    }
    put(s, after[0], "after-1");
    put(s, after[1], "after-2");
}

/* A file that cannot be reserved is written with write(): here the file
 * size limit (RLIMIT_FSIZE) is below the mapping's length, so
 * posix_fallocate fails as it does on a full disk. Such a file holds only
 * its lines, and a write() that comes back short (the limit reached in the
 * middle of a record) is undone, so the record is refused whole and the
 * next one follows whole lines. */
Test(spool, an_unreserved_file_is_written_with_write_and_a_short_write_is_undone)
{
    struct rlimit old, lim;
    cr_assert_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
    cr_assert(old.rlim_max == RLIM_INFINITY || old.rlim_max > 65536);
    signal(SIGXFSZ, SIG_IGN); /* a write past the limit then fails instead of killing us */
    lim = old;
    lim.rlim_cur = 16384;
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
    char *dir = tmpdir_new(), err[256];
    wk_spool_t *s = wk_spool_open(dir, "dest", 1, err, sizeof err);
    cr_assert(s, "%s", err);
    char path[1024];
    only_file(wk_spool_dir(s), path, sizeof path);
    cr_assert_eq(file_size(path), 0, "not reserved: the file holds nothing but its lines");

    static char id[200][WK_SPOOL_ID_LEN + 1];
    wk_spool_seg_t *seg[200];
    const char *argv[NREC];
    size_t len[NREC];
    memcpy(argv, REC, sizeof argv);
    int ok = 0;
    off_t before = 0;
    const char *why = NULL;
    for (; ok < 200; ok++) {
        wk_spool_new_id(id[ok]);
        argv[8] = id[ok];
        for (int i = 0; i < NREC; i++)
            len[i] = strlen(argv[i]);
        before = file_size(path);
        seg[ok] = wk_spool_write(s, id[ok], NREC, argv, len, &why);
        if (!seg[ok])
            break;
        cr_assert_gt(file_size(path), before, "each record is written at once");
    }
    cr_assert_lt(ok, 200, "the size limit stops the records");
    cr_assert_gt(ok, 50);
    cr_assert_str_eq(why, "spool write failed");
    cr_assert_lt(before, 16384, "the refused record was cut by the limit, not refused whole by the kernel");
    cr_assert_eq(file_size(path), before, "the cut record is taken back");

    /* Room again: the next record lands after whole lines. */
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
    seg[ok] = put(s, id[ok], "after");
    ok++;
    char *c = NULL;
    size_t n = 0;
    cr_assert_eq(files(wk_spool_dir(s), &c, &n), 1);
    cr_assert_eq((off_t)n, file_size(path), "no NUL tail: the file is not mapped");
    got_t got = {0};
    size_t bad = wk_spool_parse(c, n, collect_count, &got);
    cr_assert_eq(bad, 0, "no cut or damaged line");
    cr_assert_eq(got.n, ok);
    free(c);
    for (int i = 0; i < ok; i++)
        wk_spool_ack(s, seg[i], id[i]);
    close_empty(s, dir);
}

Test(spool, an_emptied_file_replays_only_what_came_after)
{
    char *dir = tmpdir_new(), err[256];
    char after[2][WK_SPOOL_ID_LEN + 1];
    die_after(dir, emptied_then_two, after, sizeof after);
    wk_spool_t *s = wk_spool_open(dir, "dest", 0, err, sizeof err);
    cr_assert(s, "%s", err);
    wk_spool_orphan_t *o = wk_spool_find(wk_spool_dir(s), 4);
    cr_assert(o);
    got_t got = {0};
    size_t bad = 9;
    cr_assert_eq(wk_spool_adopt(s, o, collect, &got, &bad), 2, "only the records after the emptying");
    cr_assert_eq(bad, 0);
    cr_assert_str_eq(got.ids[0], after[0]);
    cr_assert_str_eq(got.ids[1], after[1]);
    wk_spool_ack(s, got.seg[0], got.ids[0]);
    wk_spool_ack(s, got.seg[1], got.ids[1]);
    close_empty(s, dir);
}

Test(spool, a_directory_of_someone_else_is_refused)
{
    char err[256];
    wk_spool_t *s = wk_spool_open("/proc/self", "dest", 0, err, sizeof err);
    cr_assert_null(s);
    cr_assert(strstr(err, "/proc/self"), "%s", err);
    cr_assert_null(wk_spool_open("", "dest", 0, err, sizeof err));
}

/* call_id: time-ordered (common/callid.h) with random bits drawn once per
 * process and a counter; a forked child draws its own bits (the atfork
 * handler), so two processes never share ids. */
Test(spool, call_ids_differ_across_fork)
{
    char a[WK_SPOOL_ID_LEN + 1], b[WK_SPOOL_ID_LEN + 1], child[WK_SPOOL_ID_LEN + 1] = "";
    wk_spool_new_id(a);
    wk_spool_new_id(b);
    cr_assert_eq(a[12], '7', "a version 7 uuid: %s", a);
    cr_assert_eq(memcmp(a + 13, b + 13, 11), 0, "same random bits within a process: %s %s", a, b);
    cr_assert_lt(strcmp(a, b), 0, "a later id sorts later: %s %s", a, b);
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pid = fork();
    if (pid == 0) {
        char id[WK_SPOOL_ID_LEN + 1];
        wk_spool_new_id(id);
        _exit(write(fds[1], id, WK_SPOOL_ID_LEN) == WK_SPOOL_ID_LEN ? 0 : 1);
    }
    cr_assert_eq(read(fds[0], child, WK_SPOOL_ID_LEN), WK_SPOOL_ID_LEN);
    int st;
    waitpid(pid, &st, 0);
    close(fds[0]);
    close(fds[1]);
    cr_assert_neq(memcmp(a + 13, child + 13, 11), 0, "the child drew new bits: %s vs %s", a, child);
    cr_assert_eq(strcmp(child + 24, "00000001"), 0, "the child's counter starts over: %s", child);
}

/* Keeps the first argument of each record whole (any length). */
typedef struct first_arg_s {
    int n;
    char *arg[64];
    size_t len[64];
} first_arg_t;

static void collect_first(void *ud, wk_spool_seg_t *seg, const char *call_id, int argc, const char **argv,
                          const size_t *len)
{
    first_arg_t *f = ud;
    cr_assert_lt(f->n, 64);
    f->arg[f->n] = malloc(len[0] + 1);
    memcpy(f->arg[f->n], argv[0], len[0]);
    f->len[f->n++] = len[0];
}

/* The lines of the spool's live file after a flush (caller frees). */
static char *live_lines(wk_spool_t *s, size_t *n)
{
    wk_spool_flush(s);
    char *c = NULL;
    cr_assert_eq(files(wk_spool_dir(s), &c, n), 1);
    return c;
}

/* Arguments are copied in runs and a byte that needs %XX can sit at any
 * offset of a 16-byte step: every kind of byte at every offset of a 48-byte
 * argument comes back as it was written. */
Test(spool, every_byte_at_every_offset_round_trips)
{
    static const unsigned char odd[] = {0x00, ' ', '%', 0x7f, 0x80, 0xff, '\n', '~', '!'};
    char *dir = tmpdir_new(), err[256];
    wk_spool_t *s = wk_spool_open(dir, "dest", 0, err, sizeof err);
    cr_assert(s, "%s", err);
    for (size_t k = 0; k < sizeof odd; k++) {
        char ids[48][WK_SPOOL_ID_LEN + 1];
        wk_spool_seg_t *segs[48];
        unsigned char arg[48][48];
        for (int off = 0; off < 48; off++) {
            memset(arg[off], 'a' + off % 26, sizeof arg[off]);
            arg[off][off] = odd[k];
            const char *argv[] = {(const char *)arg[off], "tail"};
            size_t len[] = {sizeof arg[off], 4};
            const char *why = NULL;
            wk_spool_new_id(ids[off]);
            segs[off] = wk_spool_write(s, ids[off], 2, argv, len, &why);
            cr_assert(segs[off], "write: %s", why ? why : "?");
        }
        size_t n = 0;
        char *c = live_lines(s, &n);
        first_arg_t got = {0};
        cr_assert_eq(wk_spool_parse(c, n, collect_first, &got), 0, "byte 0x%02x: no damaged line", odd[k]);
        cr_assert_eq(got.n, 48);
        for (int off = 0; off < 48; off++) {
            cr_assert_eq(got.len[off], 48);
            cr_assert_eq(memcmp(got.arg[off], arg[off], 48), 0, "byte 0x%02x at offset %d", odd[k], off);
            free(got.arg[off]);
        }
        free(c);
        for (int off = 0; off < 48; off++)
            wk_spool_ack(s, segs[off], ids[off]);
    }
    close_empty(s, dir);
}

/* Any single damaged byte of a record line fails its checksum (the line
 * is counted as bad, nothing replays), and a line an older worker wrote
 * (FNV-1a, 8 hex digits) is still read. */
Test(spool, any_damaged_byte_is_caught_and_older_lines_still_read)
{
    char *dir = tmpdir_new(), err[256];
    wk_spool_t *s = wk_spool_open(dir, "dest", 0, err, sizeof err);
    cr_assert(s, "%s", err);
    char id[WK_SPOOL_ID_LEN + 1];
    wk_spool_seg_t *g = put(s, id, "a b%c\nd");
    size_t n = 0;
    char *c = live_lines(s, &n);
    cr_assert_eq(c[n - 1], '\n');
    cr_assert_eq(c[n - 18], ' ', "a 16-digit checksum ends the line");
    for (size_t i = 0; i + 1 < n; i++) {
        char *d = malloc(n);
        memcpy(d, c, n);
        d[i] = d[i] == 'a' ? 'b' : 'a';
        got_t got = {0};
        cr_assert_eq(wk_spool_parse(d, n, collect, &got), 1, "byte %zu changed: one bad line", i);
        cr_assert_eq(got.n, 0);
        free(d);
    }
    free(c);
    wk_spool_ack(s, g, id);

    /* An older line: "R <id> 2 ab c%20d" and the FNV-1a of those bytes. */
    char line[128];
    int len = snprintf(line, sizeof line, "R %s 2 ab c%%20d", id);
    uint32_t h = 2166136261u;
    for (int i = 0; i < len; i++) {
        h ^= (unsigned char)line[i];
        h *= 16777619u;
    }
    len += snprintf(line + len, sizeof line - (size_t)len, " %08x\n", h);
    got_t old = {0};
    cr_assert_eq(wk_spool_parse(line, (size_t)len, collect, &old), 0);
    cr_assert_eq(old.n, 1);
    cr_assert_str_eq(old.ids[0], id);
    cr_assert_str_eq(old.args[0][1], "c d");
    line[len - 2] = line[len - 2] == '0' ? '1' : '0';
    got_t bad = {0};
    cr_assert_eq(wk_spool_parse(line, (size_t)len, collect, &bad), 1, "an older line's checksum is checked too");
    close_empty(s, dir);
}
