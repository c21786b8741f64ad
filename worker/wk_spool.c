/* wk_spool: see wk_spool.h.
 *
 * A file this process holds is a wk_spool_seg_t: its descriptor (O_APPEND,
 * holding the flock), its size, how many of its records Redis has not yet
 * acknowledged, and the acknowledgement lines not yet written. s->cur is
 * where new records go; older files (rotated, or taken over from a dead
 * process) stay in s->segs until their last record is acknowledged.
 *
 * A file this process creates is mapped (MAP_SHARED, WK_SPOOL_MAP_BYTES,
 * the blocks reserved first with posix_fallocate) and lines are copied
 * into the mapping: that is as safe against the process's death as
 * write() (the pages are the file's, in the page cache) and, at one call
 * in flight, about 3 us less per tool call than a write() system call.
 * The file's lines end at its first NUL byte (records never contain one):
 * a NUL always follows the last line, a clean close cuts the file there,
 * and a process taking over a dead one's file cuts it there too. Emptying
 * a mapped file only moves the end back to 0: truncating it would drop its
 * pages, and on ext4 the first store to each new page of a shared mapping
 * costs some 50 us (block conversion in page_mkwrite), on the answer's
 * path. A file that cannot be reserved or mapped (or lives on a filesystem
 * where a reservation does not hold, reserve_holds), and a taken-over
 * file, is written with write().
 *
 * Every write() that comes back short is undone (ftruncate to the old
 * size): a cut line left in the middle of a file would swallow the line
 * written after it. */
#include "wk_spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "buf.h"
#include "callid.h"
#include "clock.h"

_Static_assert(WK_SPOOL_ID_LEN == CALLID_HEX_LEN, "a spool record's call_id is a callid");

#define WK_SPOOL_PATH_MAX 512
#define WK_SPOOL_DIR_MAX 400        /* leaves room for a file name under WK_SPOOL_PATH_MAX */
#define WK_SPOOL_CREATE_TRIES 8     /* names tried for a new file */
#define WK_SPOOL_ACK_LINE (2 + WK_SPOOL_ID_LEN + 1)
/* What wk_spool_find reads of one file at most: a file never grows past
 * WK_SPOOL_FILE_MAX plus the record that crossed it. */
#define WK_SPOOL_READ_MAX ((size_t)WK_SPOOL_FILE_MAX + WK_SPOOL_MAX_LINE)
/* A mapped file's length: a rotation happens before a record would cross
 * WK_SPOOL_SEGMENT_BYTES; the rest is room for acknowledgement batches.
 * When rotating fails, a full mapped file takes no more (the call then
 * waits for Redis, like any spool failure). */
#define WK_SPOOL_MAP_BYTES ((size_t)WK_SPOOL_SEGMENT_BYTES + 4 * WK_SPOOL_ACK_BUF)

struct wk_spool_seg_s {
    struct wk_spool_seg_s *next;
    int fd;
    char *map;          /* WK_SPOOL_MAP_BYTES of the file, or NULL: write() */
    uint64_t size;      /* bytes of lines in the file */
    size_t unacked;     /* its records Redis has not acknowledged */
    size_t nacks;       /* bytes waiting in acks */
    char acks[WK_SPOOL_ACK_BUF];
    char path[WK_SPOOL_PATH_MAX];
};

struct wk_spool_s {
    char dir[WK_SPOOL_DIR_MAX];
    uint64_t max_bytes;   /* this process's files together (JSMCP_AUDIT_SPOOL_MAX_MB) */
    int slot;
    wk_spool_seg_t *segs; /* every file held, cur among them */
    wk_spool_seg_t *cur;
    uint64_t total;       /* bytes in them */
    char line[WK_SPOOL_MAX_LINE + 1];
};

/* A record read from a dead process's file, for the loop to replay. */
typedef struct orec_s {
    struct orec_s *next;
    char id[WK_SPOOL_ID_LEN + 1];
    wk_spool_args_t args;
} orec_t;

struct wk_spool_orphan_s {
    struct wk_spool_orphan_s *next;
    int fd;
    uint64_t size;
    orec_t *recs, *last;
    size_t nrecs, bad;
    char path[WK_SPOOL_PATH_MAX];
};

/* call_id: time-ordered (common/callid.h), from one generator per process.
 * Its random bits are drawn once, not per tool call (no getrandom() system
 * call per call); a child forked after the first id draws its own
 * (id_forked), so two processes never share them. */
static callid_gen_t id_gen;

static void id_forked(void)
{
    id_gen.seeded = 0;
}

void wk_spool_new_id(char *out)
{
    static int atfork_set;
    if (!atfork_set && pthread_atfork(NULL, NULL, id_forked) == 0)
        atfork_set = 1;
    callid_next(&id_gen, (uint64_t)clock_now_ms(), out);
}

void *wk_spool_args_dup(size_t head, size_t args_off, int argc, const char **argv, const size_t *len)
{
    size_t sz = head + (size_t)argc * (sizeof(char *) + sizeof(size_t));
    for (int i = 0; i < argc; i++)
        sz += len[i] + 1;
    char *blk = mem_calloc(1, sz);
    const char **av = (const char **)(blk + head);
    size_t *lv = (size_t *)(av + argc);
    char *p = (char *)(lv + argc);
    for (int i = 0; i < argc; i++) {
        memcpy(p, argv[i], len[i]);
        av[i] = p;
        lv[i] = len[i];
        p += len[i] + 1;
    }
    wk_spool_args_t *args = (wk_spool_args_t *)(blk + args_off);
    args->argc = argc;
    args->argv = av;
    args->len = lv;
    return blk;
}

/* FNV-1a: the checksum of lines written before sum64 (8 hex digits); still
 * read, so that a file left by an older worker replays. */
static uint32_t fnv1a(const char *p, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 16777619u;
    }
    return h;
}

/* The checksum of a record line (16 hex digits), 8 bytes a step: FNV-1a
 * waits for a multiply per byte, some 1 us per record on the answer's
 * path. Each step is a bijection of h for a given word (odd multiplier,
 * xorshift), so a line that differs from the written one in a single word
 * (a torn or damaged stretch) never gives the same sum; the length is
 * mixed in first. Words are read in host byte order: spool files stay on
 * the host that wrote them. */
static uint64_t sum64(const char *p, size_t n)
{
    const uint64_t k = 0x9E3779B97F4A7C15ULL;
    uint64_t h = 0x6A09E667F3BCC909ULL ^ (uint64_t)n, w;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, p + i, 8);
        h = (h ^ w) * k;
        h ^= h >> 29;
    }
    w = 0;
    memcpy(&w, p + i, n - i);
    h = (h ^ w) * k;
    return h ^ (h >> 32);
}

static int is_hex_id(const char *p, size_t n)
{
    if (n != WK_SPOOL_ID_LEN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
            return 0;
    return 1;
}

/* ---- files this process holds ---- */

/* Appends n bytes: a copy into the mapping, or one write() (a short one
 * is undone). */
static int seg_append(wk_spool_t *s, wk_spool_seg_t *g, const char *p, size_t n)
{
    if (g->map) {
        if (g->size + n >= WK_SPOOL_MAP_BYTES)
            return -1;
        /* Zeros first, then the line: a process killed during the copy
         * leaves a cut line and then a NUL, never a cut line running into
         * older lines of a file that was emptied (the fence keeps the
         * compiler from merging or reordering the two stores). */
        memset(g->map + g->size, 0, n + 1);
        atomic_signal_fence(memory_order_seq_cst);
        memcpy(g->map + g->size, p, n);
        g->size += n;
        s->total += n;
        return 0;
    }
    ssize_t w;
    do
        w = write(g->fd, p, n);
    while (w < 0 && errno == EINTR);
    if (w == (ssize_t)n) {
        g->size += n;
        s->total += n;
        return 0;
    }
    if (w > 0 && ftruncate(g->fd, (off_t)g->size) != 0) {
        /* The cut line stays: later lines must not follow it. */
        g->size += (uint64_t)w;
        s->total += (uint64_t)w;
        if (g == s->cur)
            s->cur = NULL;
    }
    return -1;
}

static void seg_flush(wk_spool_t *s, wk_spool_seg_t *g)
{
    if (g->nacks)
        (void)seg_append(s, g, g->acks, g->nacks); /* a lost ack line only means a duplicate on replay */
    g->nacks = 0;
}

static void seg_unlist(wk_spool_t *s, wk_spool_seg_t *g)
{
    for (wk_spool_seg_t **pp = &s->segs; *pp; pp = &(*pp)->next)
        if (*pp == g) {
            *pp = g->next;
            break;
        }
    if (s->cur == g)
        s->cur = NULL;
    s->total -= g->size;
}

/* Every record acknowledged: the file goes (unlinked while still locked,
 * so no other process can take over a file that is being removed). */
static void seg_remove(wk_spool_t *s, wk_spool_seg_t *g)
{
    seg_unlist(s, g);
    if (g->map)
        munmap(g->map, WK_SPOOL_MAP_BYTES);
    unlink(g->path);
    close(g->fd);
    free(g);
}

/* Filesystems where blocks reserved with fallocate stay reserved when
 * rewritten in place: ext4, XFS, tmpfs. On copy-on-write ones (btrfs, ZFS)
 * a rewrite needs new blocks, so a full disk would turn a store into the
 * mapping into a SIGBUS; write() gets ENOSPC there, which the spool
 * handles (the call waits for Redis). */
static int reserve_holds(int fd)
{
    struct statfs sf;
    if (fstatfs(fd, &sf) != 0)
        return 0;
    switch ((unsigned long)sf.f_type) {
    case 0xEF53UL:     /* ext2/3/4 */
    case 0x58465342UL: /* XFS */
    case 0x01021994UL: /* tmpfs */
        return 1;
    default:
        return 0;
    }
}

/* Reserves and maps WK_SPOOL_MAP_BYTES of an empty file; otherwise the
 * file stays empty and is written with write(). Reserving first matters:
 * a store into a mapped hole on a full disk would be a SIGBUS. */
static void seg_map(wk_spool_seg_t *g)
{
    if (!reserve_holds(g->fd))
        return;
    if (posix_fallocate(g->fd, 0, (off_t)WK_SPOOL_MAP_BYTES) != 0) {
        (void)ftruncate(g->fd, 0); /* a partial reservation may have grown it */
        return;
    }
    void *m = mmap(NULL, WK_SPOOL_MAP_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, g->fd, 0);
    if (m == MAP_FAILED) {
        (void)ftruncate(g->fd, 0);
        return;
    }
    g->map = m;
}

/* A mapped file given up while it still holds records (a clean stop):
 * cut to its lines, so the next owner appends right after them. */
static void seg_unmap(wk_spool_seg_t *g)
{
    if (!g->map)
        return;
    munmap(g->map, WK_SPOOL_MAP_BYTES);
    g->map = NULL;
    (void)ftruncate(g->fd, (off_t)g->size); /* else the NUL tail stays; a taker cuts it */
}

static void seg_empty(wk_spool_t *s, wk_spool_seg_t *g)
{
    if (g->map)
        g->map[0] = 0; /* the pages stay: see the top of this file */
    else if (ftruncate(g->fd, 0) != 0)
        return;
    s->total -= g->size;
    g->size = 0;
    g->nacks = 0; /* their records went with the file's content */
}

/* A new file, locked from the start. The name is unused (O_EXCL); a
 * scanning process may still lock and remove the empty file between our
 * open and our flock, which the retry catches (lock refused, or the file
 * gone from the directory). */
static wk_spool_seg_t *seg_create(wk_spool_t *s, char *err, size_t errsz)
{
    for (int i = 0; i < WK_SPOOL_CREATE_TRIES; i++) {
        unsigned char raw[4];
        char rnd[9], path[WK_SPOOL_PATH_MAX];
        randombytes_buf(raw, sizeof raw);
        sodium_bin2hex(rnd, sizeof rnd, raw, sizeof raw);
        snprintf(path, sizeof path, "%s/audit-%d-%ld-%s.spool", s->dir, s->slot, (long)getpid(), rnd);
        int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
            if (errno == EEXIST)
                continue;
            snprintf(err, errsz, "cannot create %s: %s", path, strerror(errno));
            return NULL;
        }
        struct stat st;
        if (flock(fd, LOCK_EX | LOCK_NB) != 0 || fstat(fd, &st) != 0 || st.st_nlink == 0) {
            close(fd);
            continue;
        }
        wk_spool_seg_t *g = mem_calloc(1, sizeof *g);
        g->fd = fd;
        seg_map(g);
        snprintf(g->path, sizeof g->path, "%s", path);
        g->next = s->segs;
        s->segs = g;
        return g;
    }
    snprintf(err, errsz, "cannot create a spool file in %s", s->dir);
    return NULL;
}

/* mkdir that accepts an existing directory. */
static int make_dir(const char *path, char *err, size_t errsz)
{
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        snprintf(err, errsz, "cannot create %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

wk_spool_t *wk_spool_open(const char *dir, const char *sub, int slot, char *err, size_t errsz)
{
    wk_spool_t *s = mem_calloc(1, sizeof *s);
    s->slot = slot;
    s->max_bytes = WK_SPOOL_MAX_BYTES;
    int n = dir && *dir ? snprintf(s->dir, sizeof s->dir, "%s/%s", dir, sub) : -1;
    if (n < 0 || (size_t)n >= sizeof s->dir) {
        snprintf(err, errsz, "spool directory path empty or longer than %zu bytes", sizeof s->dir - 20);
        free(s);
        return NULL;
    }
    if (make_dir(dir, err, errsz) != 0 || make_dir(s->dir, err, errsz) != 0) {
        free(s);
        return NULL;
    }
    /* The records name customers' accounts: the directory is ours alone
     * (the parent may be shared, like /tmp or a volume's root). */
    struct stat st;
    if (lstat(s->dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != geteuid() ||
        ((st.st_mode & 077) && chmod(s->dir, 0700) != 0)) {
        snprintf(err, errsz, "%s is not a directory owned by this user (mode 0700)", s->dir);
        free(s);
        return NULL;
    }
    s->cur = seg_create(s, err, errsz);
    if (!s->cur) {
        free(s);
        return NULL;
    }
    return s;
}

const char *wk_spool_dir(const wk_spool_t *s)
{
    return s->dir;
}

uint64_t wk_spool_bytes(const wk_spool_t *s)
{
    return s->total;
}

void wk_spool_set_max(wk_spool_t *s, uint64_t bytes)
{
    s->max_bytes = bytes;
}

int wk_spool_has_room(const wk_spool_t *s)
{
    return s->total + WK_SPOOL_MAX_LINE <= s->max_bytes;
}

/* A byte an argument keeps as it is: '!'..'~' but '%'. */
static int enc_plain(unsigned char c)
{
    return c > ' ' && c <= '~' && c != '%';
}

/* How many bytes of p[0..n) from the start are enc_plain: 16 at a time
 * with SSE2 (as signed bytes, "> 0x20" leaves out both <= 0x20 and
 * >= 0x80), so an argument is copied in runs, not a byte at a time. */
static size_t enc_run(const unsigned char *p, size_t n)
{
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i sp = _mm_set1_epi8(' '), del = _mm_set1_epi8(0x7f), pct = _mm_set1_epi8('%');
    for (; i + 16 <= n; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i odd = _mm_or_si128(_mm_cmpeq_epi8(x, del), _mm_cmpeq_epi8(x, pct));
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_andnot_si128(odd, _mm_cmpgt_epi8(x, sp))) ^ 0xFFFFu;
        if (m)
            return i + (size_t)__builtin_ctz(m);
    }
#endif
    while (i < n && enc_plain(p[i]))
        i++;
    return i;
}

/* "R <id> <argc> <arg>... <sum64, 16 hex>\n" into s->line; 0 when too long. */
static size_t encode(wk_spool_t *s, const char *id, int argc, const char **argv, const size_t *len)
{
    static const char hex[] = "0123456789abcdef";
    char *o = s->line;
    const size_t room = sizeof s->line - 20; /* " " + 16 hex + "\n" and the NUL */
    size_t n = 0;
    o[n++] = 'R';
    o[n++] = ' ';
    n += str_join(o + n, WK_SPOOL_ID_LEN + 1, id, NULL);
    o[n++] = ' ';
    n += fmt_uint(o + n, (unsigned)argc);
    for (int i = 0; i < argc; i++) {
        if (n + 1 + 3 * len[i] > room)
            return 0;
        o[n++] = ' ';
        const unsigned char *a = (const unsigned char *)argv[i];
        for (size_t k = 0; k < len[i];) {
            size_t r = enc_run(a + k, len[i] - k);
            memcpy(o + n, a + k, r);
            n += r;
            k += r;
            if (k < len[i]) {
                o[n++] = '%';
                o[n++] = hex[a[k] >> 4];
                o[n++] = hex[a[k] & 15];
                k++;
            }
        }
    }
    uint64_t sum = sum64(o, n);
    o[n++] = ' ';
    for (int i = 15; i >= 0; i--)
        o[n + (size_t)(15 - i)] = hex[(sum >> (4 * i)) & 15];
    n += 16;
    o[n++] = '\n';
    o[n] = 0;
    return n;
}

wk_spool_seg_t *wk_spool_write(wk_spool_t *s, const char *call_id, int argc, const char **argv,
                               const size_t *len, const char **why)
{
    char err[256];
    size_t n = argc > 0 && argc <= WK_SPOOL_MAX_ARGS ? encode(s, call_id, argc, argv, len) : 0;
    if (n == 0) {
        *why = "record longer than the spool's line limit";
        return NULL;
    }
    wk_spool_seg_t *g = s->cur;
    if (g && g->size + n > WK_SPOOL_SEGMENT_BYTES) {
        if (g->unacked == 0) {
            seg_empty(s, g); /* nothing in it waits: start it over */
        } else {
            wk_spool_seg_t *fresh = seg_create(s, err, sizeof err);
            if (fresh) /* the old file goes once its last record is acknowledged */
                s->cur = g = fresh;
        }
    }
    if (!g) {
        s->cur = g = seg_create(s, err, sizeof err);
        if (!g) {
            *why = "cannot create a spool file";
            return NULL;
        }
    }
    if (g->size + n > WK_SPOOL_FILE_MAX || s->total + n > s->max_bytes) {
        *why = "spool full";
        return NULL;
    }
    if (seg_append(s, g, s->line, n) != 0) {
        *why = "spool write failed";
        return NULL;
    }
    g->unacked++;
    return g;
}

void wk_spool_ack(wk_spool_t *s, wk_spool_seg_t *g, const char *call_id)
{
    if (g->unacked > 0)
        g->unacked--;
    if (g->unacked == 0 && g != s->cur) {
        seg_remove(s, g);
        return;
    }
    if (g->unacked == 0 && g->size >= WK_SPOOL_TRUNCATE_BYTES) {
        seg_empty(s, g);
        if (g->size == 0)
            return;
    }
    if (g->nacks + WK_SPOOL_ACK_LINE > sizeof g->acks)
        seg_flush(s, g);
    char *o = g->acks + g->nacks;
    o[0] = 'A';
    o[1] = ' ';
    memcpy(o + 2, call_id, WK_SPOOL_ID_LEN);
    o[WK_SPOOL_ACK_LINE - 1] = '\n';
    g->nacks += WK_SPOOL_ACK_LINE;
}

void wk_spool_flush(wk_spool_t *s)
{
    for (wk_spool_seg_t *g = s->segs; g; g = g->next)
        seg_flush(s, g);
}

size_t wk_spool_close(wk_spool_t *s)
{
    size_t left = 0;
    if (!s)
        return 0;
    while (s->segs) {
        wk_spool_seg_t *g = s->segs;
        if (g->unacked == 0) {
            seg_remove(s, g);
            continue;
        }
        seg_flush(s, g);
        seg_unmap(g);
        left += g->unacked;
        s->segs = g->next;
        close(g->fd); /* unlocks it: the next process to scan replays it */
        free(g);
    }
    free(s);
    return left;
}

/* ---- reading a file ---- */

/* n (even, <= 16) hex digits at p into *v; 0, or -1 when one is not. */
static int hex_value(const char *p, int n, uint64_t *v)
{
    unsigned char raw[8];
    size_t got = 0;
    if (sodium_hex2bin(raw, sizeof raw, p, (size_t)n, NULL, &got, NULL) != 0 || got != (size_t)n / 2)
        return -1;
    uint64_t x = 0;
    for (size_t i = 0; i < got; i++)
        x = x << 8 | raw[i];
    *v = x;
    return 0;
}

/* One record line (without its newline) into id, argv and len, decoded
 * into scratch (at least n + WK_SPOOL_MAX_ARGS bytes). Returns argc, or -1
 * when the line is not a whole record. */
static int decode(const char *l, size_t n, char *id, const char **argv, size_t *len, char *scratch)
{
    if (n < 2 + WK_SPOOL_ID_LEN + 3 + 9 || n > WK_SPOOL_MAX_LINE || l[0] != 'R' || l[1] != ' ')
        return -1;
    /* The checksum: " " + 16 hex digits (sum64), or 8 (fnv1a, older lines). */
    const char *end = l + n - 17;
    uint64_t want = 0;
    if (n >= 2 + WK_SPOOL_ID_LEN + 3 + 17 && *end == ' ' && hex_value(end + 1, 16, &want) == 0) {
        if (want != sum64(l, (size_t)(end - l)))
            return -1;
    } else {
        end = l + n - 9;
        if (*end != ' ' || hex_value(end + 1, 8, &want) != 0 || want != fnv1a(l, (size_t)(end - l)))
            return -1;
    }
    const char *p = l + 2;
    if (!is_hex_id(p, WK_SPOOL_ID_LEN) || p[WK_SPOOL_ID_LEN] != ' ')
        return -1;
    memcpy(id, p, WK_SPOOL_ID_LEN);
    id[WK_SPOOL_ID_LEN] = 0;
    p += WK_SPOOL_ID_LEN + 1;
    int argc = 0;
    while (p < end && *p >= '0' && *p <= '9' && argc <= WK_SPOOL_MAX_ARGS)
        argc = argc * 10 + (*p++ - '0');
    if (argc < 1 || argc > WK_SPOOL_MAX_ARGS)
        return -1;
    char *o = scratch;
    for (int i = 0; i < argc; i++) {
        if (p >= end || *p != ' ')
            return -1; /* fewer arguments than announced */
        p++;
        argv[i] = o;
        while (p < end && *p != ' ') {
            if (*p == '%') {
                unsigned char byte;
                size_t got = 0;
                if (p + 2 >= end || sodium_hex2bin(&byte, 1, p + 1, 2, NULL, &got, NULL) != 0 || got != 1)
                    return -1;
                *o++ = (char)byte;
                p += 3;
            } else if ((unsigned char)*p > ' ' && (unsigned char)*p <= '~') {
                *o++ = *p++;
            } else {
                return -1;
            }
        }
        len[i] = (size_t)(o - argv[i]);
        *o++ = 0;
    }
    return p == end ? argc : -1;
}

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, WK_SPOOL_ID_LEN);
}

size_t wk_spool_parse(const char *data, size_t len, wk_spool_rec_fn fn, void *ud)
{
    size_t bad = 0, nacked = 0;
    char (*acked)[WK_SPOOL_ID_LEN] = NULL;
    /* Acknowledgements first: they follow their records in the file. */
    for (size_t b = 0; b < len;) {
        const char *nl = memchr(data + b, '\n', len - b);
        if (!nl)
            break;
        size_t n = (size_t)(nl - (data + b));
        if (n == WK_SPOOL_ACK_LINE - 1 && data[b] == 'A' && data[b + 1] == ' ' &&
            is_hex_id(data + b + 2, WK_SPOOL_ID_LEN)) {
            if ((nacked & (nacked - 1)) == 0) /* grow at powers of two */
                acked = mem_realloc(acked, (nacked ? nacked * 2 : 16) * sizeof *acked);
            memcpy(acked[nacked++], data + b + 2, WK_SPOOL_ID_LEN);
        }
        b += n + 1;
    }
    if (nacked)
        qsort(acked, nacked, sizeof *acked, cmp_id);
    char *scratch = mem_alloc(WK_SPOOL_MAX_LINE + WK_SPOOL_MAX_ARGS + 1);
    const char *argv[WK_SPOOL_MAX_ARGS];
    size_t lens[WK_SPOOL_MAX_ARGS];
    char id[WK_SPOOL_ID_LEN + 1];
    size_t b = 0;
    while (b < len) {
        const char *nl = memchr(data + b, '\n', len - b);
        if (!nl) {
            bad++; /* the last line, cut off */
            break;
        }
        size_t n = (size_t)(nl - (data + b));
        const char *l = data + b;
        b += n + 1;
        if (n == WK_SPOOL_ACK_LINE - 1 && l[0] == 'A' && l[1] == ' ' && is_hex_id(l + 2, WK_SPOOL_ID_LEN))
            continue;
        int argc = decode(l, n, id, argv, lens, scratch);
        if (argc < 0) {
            bad++;
            continue;
        }
        if (!nacked || !bsearch(id, acked, nacked, sizeof *acked, cmp_id))
            fn(ud, NULL, id, argc, argv, lens);
    }
    free(scratch);
    free(acked);
    return bad;
}

/* ---- taking over a dead process's files ---- */

static void orphan_rec(void *ud, wk_spool_seg_t *seg, const char *call_id, int argc, const char **argv,
                       const size_t *len)
{
    wk_spool_orphan_t *o = ud;
    (void)seg;
    orec_t *r = wk_spool_args_dup(sizeof *r, offsetof(orec_t, args), argc, argv, len);
    memcpy(r->id, call_id, sizeof r->id);
    if (o->last)
        o->last->next = r;
    else
        o->recs = r;
    o->last = r;
    o->nrecs++;
}

/* Locks path if its owner is gone and reads it; NULL otherwise. */
static wk_spool_orphan_t *take(const char *path)
{
    int fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return NULL;
    struct stat st;
    /* Locked: its owner lives. Unlinked: the one that had it just removed it. */
    if (flock(fd, LOCK_EX | LOCK_NB) != 0 || fstat(fd, &st) != 0 || st.st_nlink == 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return NULL;
    }
    size_t want = (size_t)st.st_size < WK_SPOOL_READ_MAX ? (size_t)st.st_size : WK_SPOOL_READ_MAX;
    char *data = mem_alloc(want + 1);
    size_t got = 0;
    while (got < want) {
        ssize_t r = pread(fd, data + got, want - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    /* A mapped file of a process that died has NUL bytes after its lines,
     * and perhaps a line cut off before them: both are cut off the file,
     * so the acknowledgements appended to it from now on are lines. */
    size_t len = strnlen(data, got), keep = len;
    while (keep > 0 && data[keep - 1] != '\n')
        keep--;
    wk_spool_orphan_t *o = mem_calloc(1, sizeof *o);
    o->fd = fd;
    int whole = len < got || got == (size_t)st.st_size; /* else a file past WK_SPOOL_READ_MAX: left as it is */
    o->size = whole && (keep == (size_t)st.st_size || ftruncate(fd, (off_t)keep) == 0) ? keep : (uint64_t)st.st_size;
    snprintf(o->path, sizeof o->path, "%s", path);
    o->bad = wk_spool_parse(data, len, orphan_rec, o);
    free(data);
    return o;
}

wk_spool_orphan_t *wk_spool_find(const char *dir, size_t max_files)
{
    DIR *d = opendir(dir);
    if (!d)
        return NULL;
    wk_spool_orphan_t *list = NULL;
    size_t n = 0;
    struct dirent *e;
    while (n < max_files && (e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (strncmp(e->d_name, "audit-", 6) != 0 || l < 7 || strcmp(e->d_name + l - 6, ".spool") != 0)
            continue;
        char path[WK_SPOOL_PATH_MAX];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path)
            continue;
        wk_spool_orphan_t *o = take(path);
        if (o) {
            o->next = list;
            list = o;
            n++;
        }
    }
    closedir(d);
    return list;
}

wk_spool_orphan_t *wk_spool_orphan_next(const wk_spool_orphan_t *o)
{
    return o->next;
}

static void orecs_free(orec_t *r)
{
    while (r) {
        orec_t *next = r->next;
        free(r);
        r = next;
    }
}

size_t wk_spool_adopt(wk_spool_t *s, wk_spool_orphan_t *o, wk_spool_rec_fn fn, void *ud, size_t *bad)
{
    wk_spool_seg_t *g = mem_calloc(1, sizeof *g);
    g->fd = o->fd;
    g->size = o->size;
    g->unacked = o->nrecs; /* all counted before fn runs, so no early removal */
    snprintf(g->path, sizeof g->path, "%s", o->path);
    g->next = s->segs;
    s->segs = g;
    s->total += g->size;
    size_t n = o->nrecs;
    *bad = o->bad;
    for (orec_t *r = o->recs; r; r = r->next)
        fn(ud, g, r->id, r->args.argc, r->args.argv, r->args.len);
    orecs_free(o->recs);
    free(o);
    if (n == 0)
        seg_remove(s, g); /* everything in it had reached Redis */
    return n;
}

void wk_spool_orphans_free(wk_spool_orphan_t *o)
{
    while (o) {
        wk_spool_orphan_t *next = o->next;
        close(o->fd);
        orecs_free(o->recs);
        free(o);
        o = next;
    }
}
