/* Replays saved fuzz inputs through one target, once each: `make test`
 * runs every target over its corpus (fuzz/corpus/<name>/) on the
 * ASan+UBSan build (tests/run.sh), so what fuzzing found once keeps being
 * checked. Linked with a fuzz/fuzz_<name>.c instead of libFuzzer's main.
 * Arguments: files or directories (their files, in name order). A crash or
 * sanitizer report ends the run; a run that replayed nothing fails. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t replayed;

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    size_t cap = 4096, n = 0;
    uint8_t *data = malloc(cap);
    for (size_t r; data && (r = fread(data + n, 1, cap - n, f)) > 0;) {
        n += r;
        if (n == cap)
            data = realloc(data, cap *= 2);
    }
    fclose(f);
    if (!data)
        return -1;
    /* An exact-size copy: a read past the input is an ASan report, as in libFuzzer. */
    uint8_t *exact = malloc(n ? n : 1);
    memcpy(exact, data, n);
    free(data);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    replayed++;
    return 0;
}

static int replay(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        perror(path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return replay_file(path);
    struct dirent **names;
    int n = scandir(path, &names, NULL, alphasort);
    if (n < 0) {
        perror(path);
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (names[i]->d_name[0] != '.' && rc == 0) {
            char p[4096];
            snprintf(p, sizeof p, "%s/%s", path, names[i]->d_name);
            rc = replay(p);
        }
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (replay(argv[i]) != 0)
            return 1;
    printf("replayed %zu inputs\n", replayed);
    return replayed ? 0 : 1;
}
