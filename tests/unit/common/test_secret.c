/* secret: tokens, hashes, base64, keyring parsing (spec, env, file) and
 * sealing with rotation. */
#include <criterion/criterion.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secret.h"

/* Two fixed 32-byte keys: 0x01.. and 0x02.., as standard and url base64. */
static char K1[64], K2[64];

static void setup(void)
{
    cr_assert_eq(secret_init(), 0);
    unsigned char a[32], b[32];
    memset(a, 1, sizeof a);
    for (int i = 0; i < 32; i++)
        b[i] = (unsigned char)(0xf0 + i % 16); /* gives '-' / '_' in url base64 */
    sodium_bin2base64(K1, sizeof K1, a, 32, sodium_base64_VARIANT_ORIGINAL);
    sodium_bin2base64(K2, sizeof K2, b, 32, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    unsetenv("JSMCP_MASTER_KEYS");
    unsetenv("JSMCP_MASTER_KEY_FILE");
}

TestSuite(secret, .init = setup);

static secret_keyring_t *ring(const char *fmt, ...)
{
    char spec[512], err[256] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(spec, sizeof spec, fmt, ap);
    va_end(ap);
    secret_keyring_t *k = secret_keyring_parse(spec, err, sizeof err);
    cr_assert_not_null(k, "parse failed: %s", err);
    return k;
}

Test(secret, token_format)
{
    char t1[SECRET_TOKEN_LEN + 1], t2[SECRET_TOKEN_LEN + 1];
    secret_token(t1);
    secret_token(t2);
    cr_assert_eq(strlen(t1), 43);
    cr_assert_str_neq(t1, t2);
    for (size_t i = 0; i < 43; i++)
        cr_assert(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
                         t1[i]),
                  "bad char %c", t1[i]);
    unsigned char raw[40];
    size_t n = 0;
    cr_assert_eq(secret_b64_decode_any(t1, raw, sizeof raw, &n), 0);
    cr_assert_eq(n, 32);

    char small[8];
    secret_random_b64(32, small, sizeof small);
    cr_assert_str_eq(small, "", "too small a buffer gives an empty string");
    char r[32];
    secret_random_b64(16, r, sizeof r);
    cr_assert_eq(strlen(r), 22);
}

Test(secret, hash_hex_and_equal)
{
    char h[SECRET_HASH_HEX_LEN + 1];
    secret_hash_hex("abc", 3, h);
    cr_assert_str_eq(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    secret_hash_hex("", 0, h);
    cr_assert_str_eq(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    cr_assert_eq(secret_equal("abc", "abc"), 0);
    cr_assert_neq(secret_equal("abc", "abd"), 0);
    cr_assert_neq(secret_equal("abc", "abcd"), 0);
}

Test(secret, b64)
{
    char out[16];
    cr_assert_eq(secret_b64url_encode("\xfb\xff", 2, out, sizeof out), 3);
    cr_assert_str_eq(out, "-_8");
    cr_assert_eq(secret_b64url_encode("abcdef", 6, out, 8), -1, "needs 9 bytes");
    unsigned char b[8];
    size_t n;
    cr_assert_eq(secret_b64_decode_any("-_8", b, sizeof b, &n), 0);
    cr_assert_eq(n, 2);
    cr_assert_eq(secret_b64_decode_any("+/8=", b, sizeof b, &n), 0);
    cr_assert(n == 2 && b[0] == 0xfb && b[1] == 0xff);
    cr_assert_eq(secret_b64_decode_any("+/8", b, sizeof b, &n), 0);
    cr_assert_eq(secret_b64_decode_any("a*b", b, sizeof b, &n), -1);
}

Test(secret, seal_open_round_trip)
{
    secret_keyring_t *k = ring("k1:%s", K1);
    cr_assert_str_eq(secret_keyring_active_kid(k), "k1");
    const char msg[] = "{\"password\":\"s3cr\\u0000et\"}";
    char *s = secret_seal(k, "acct:42", msg, sizeof msg - 1);
    cr_assert_not_null(s);
    cr_assert_eq(strncmp(s, "v1.k1.", 6), 0, "%s", s);
    cr_assert_null(strstr(s, "password"));
    char *s2 = secret_seal(k, "acct:42", msg, sizeof msg - 1);
    cr_assert_str_neq(s, s2, "fresh nonce every time");

    size_t n = 0;
    char kid[16] = "";
    char *pt = secret_open(k, "acct:42", s, &n, kid, sizeof kid);
    cr_assert_not_null(pt);
    cr_assert_eq(n, sizeof msg - 1);
    cr_assert_str_eq(pt, msg);
    cr_assert_str_eq(kid, "k1");
    free(pt);

    /* Empty plaintext and NULL ad work too. */
    char *e = secret_seal(k, NULL, "", 0);
    pt = secret_open(k, NULL, e, &n, NULL, 0);
    cr_assert(pt && n == 0 && pt[0] == '\0');
    free(pt);
    free(e);
    free(s);
    free(s2);
    secret_keyring_free(k);
}

Test(secret, open_failures)
{
    secret_keyring_t *k = ring("k1:%s", K1);
    char *s = secret_seal(k, "acct:1", "hello", 5);
    size_t n;
    cr_assert_null(secret_open(k, "acct:2", s, &n, NULL, 0), "wrong ad");
    cr_assert_null(secret_open(k, NULL, s, &n, NULL, 0), "missing ad");

    /* Flip one character in the body (keep it valid base64url). */
    char *t = strdup(s);
    size_t pos = strlen(t) - 5;
    t[pos] = t[pos] == 'A' ? 'B' : 'A';
    cr_assert_null(secret_open(k, "acct:1", t, &n, NULL, 0), "tampered");
    free(t);

    t = strdup(s);
    t[strlen(t) - 10] = '\0';
    cr_assert_null(secret_open(k, "acct:1", t, &n, NULL, 0), "truncated");
    free(t);

    cr_assert_null(secret_open(k, "acct:1", "v1.k1.", &n, NULL, 0));
    cr_assert_null(secret_open(k, "acct:1", "v1.k1", &n, NULL, 0));
    cr_assert_null(secret_open(k, "acct:1", "v2.k1.AAAA", &n, NULL, 0));
    cr_assert_null(secret_open(k, "acct:1", "", &n, NULL, 0));
    cr_assert_null(secret_open(k, "acct:1", "v1.k1.!!!!", &n, NULL, 0));

    /* Unknown kid: same body under another name. */
    char *u = malloc(strlen(s) + 8);
    sprintf(u, "v1.k9.%s", s + 6);
    cr_assert_null(secret_open(k, "acct:1", u, &n, NULL, 0), "unknown kid");
    free(u);

    /* Another key with the same kid cannot open it. */
    secret_keyring_t *other = ring("k1:%s", K2);
    cr_assert_null(secret_open(other, "acct:1", s, &n, NULL, 0));
    secret_keyring_free(other);
    free(s);
    secret_keyring_free(k);
}

Test(secret, rotation)
{
    secret_keyring_t *old = ring("k1:%s", K1);
    char *s1 = secret_seal(old, "acct:7", "payload", 7);
    secret_keyring_t *k = ring("k2:%s, k1:%s", K2, K1);
    cr_assert_str_eq(secret_keyring_active_kid(k), "k2");
    char kid[16];
    size_t n;
    char *pt = secret_open(k, "acct:7", s1, &n, kid, sizeof kid);
    cr_assert_not_null(pt);
    cr_assert_str_eq(pt, "payload");
    cr_assert_str_eq(kid, "k1", "tells the caller it was sealed with an old key");
    char *s2 = secret_seal(k, "acct:7", pt, n);
    cr_assert_eq(strncmp(s2, "v1.k2.", 6), 0);
    free(pt);
    pt = secret_open(k, "acct:7", s2, &n, kid, sizeof kid);
    cr_assert_str_eq(pt, "payload");
    cr_assert_str_eq(kid, "k2");
    free(pt);
    cr_assert_null(secret_open(old, "acct:7", s2, &n, NULL, 0), "old ring lacks k2");
    free(s1);
    free(s2);
    secret_keyring_free(old);
    secret_keyring_free(k);
}

static void parse_fails(const char *spec, const char *want)
{
    char err[256] = "";
    secret_keyring_t *k = secret_keyring_parse(spec, err, sizeof err);
    cr_assert_null(k, "'%s' should be rejected", spec);
    cr_assert_not_null(strstr(err, want), "error for '%s' is '%s', expected '%s'", spec, err,
                       want);
}

Test(secret, bad_keyring_specs)
{
    char spec[256];
    parse_fails("", "no key given");
    parse_fails(" , ", "no key given");
    parse_fails("nokey", "expected kid:base64key");
    snprintf(spec, sizeof spec, ":%s", K1);
    parse_fails(spec, "key id must be");
    snprintf(spec, sizeof spec, "a.b:%s", K1);
    parse_fails(spec, "key id must be");
    snprintf(spec, sizeof spec, "averyveryverylongkid:%s", K1);
    parse_fails(spec, "key id must be");
    parse_fails("k1:AAAA", "exactly 32 bytes");
    parse_fails("k1:not base64!", "exactly 32 bytes");
    /* 33 bytes */
    parse_fails("k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEB", "exactly 32 bytes");
    snprintf(spec, sizeof spec, "k1:%s,k1:%s", K1, K2);
    parse_fails(spec, "duplicate key id 'k1'");
    snprintf(spec, sizeof spec, "k1:%s,k2", K1);
    parse_fails(spec, "entry 2");
    /* The error never echoes the key. */
    char err[256];
    snprintf(spec, sizeof spec, "k1:%.40s", K1);
    cr_assert_null(secret_keyring_parse(spec, err, sizeof err));
    cr_assert_null(strstr(err, "AQEB"), "%s", err);

    /* More than SECRET_MAX_KEYS */
    spec[0] = '\0';
    char many[1024] = "";
    for (int i = 0; i <= SECRET_MAX_KEYS; i++) {
        size_t l = strlen(many);
        snprintf(many + l, sizeof many - l, "%sk%d:%s", i ? "," : "", i, K1);
    }
    cr_assert_null(secret_keyring_parse(many, err, sizeof err));
    cr_assert_not_null(strstr(err, "more than"), "%s", err);
}

Test(secret, from_env_and_file)
{
    char err[256] = "";
    cr_assert_null(secret_keyring_from_env(err, sizeof err));
    cr_assert_not_null(strstr(err, "JSMCP_MASTER_KEYS or JSMCP_MASTER_KEY_FILE is required"));

    char spec[256];
    snprintf(spec, sizeof spec, "env1:%s", K2);
    setenv("JSMCP_MASTER_KEYS", spec, 1);
    secret_keyring_t *k = secret_keyring_from_env(err, sizeof err);
    cr_assert_not_null(k, "%s", err);
    cr_assert_str_eq(secret_keyring_active_kid(k), "env1");
    secret_keyring_free(k);

    char path[] = "/tmp/jsmcp-secret-XXXXXX";
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    dprintf(fd, "file1:%s\nfile0:%s\n", K1, K2);
    close(fd);
    setenv("JSMCP_MASTER_KEY_FILE", path, 1);
    cr_assert_null(secret_keyring_from_env(err, sizeof err), "both set is ambiguous");
    cr_assert_not_null(strstr(err, "only one"), "%s", err);
    unsetenv("JSMCP_MASTER_KEYS");
    k = secret_keyring_from_env(err, sizeof err);
    cr_assert_not_null(k, "%s", err);
    cr_assert_str_eq(secret_keyring_active_kid(k), "file1");
    secret_keyring_free(k);
    unlink(path);
    cr_assert_null(secret_keyring_from_env(err, sizeof err));
    cr_assert_not_null(strstr(err, "No such file"), "%s", err);
    unsetenv("JSMCP_MASTER_KEY_FILE");
}
