/* secret: see secret.h for the contract.
 *
 * Design notes
 * - Key material lives only in secret_keyring_t (and short-lived stack
 *   buffers while parsing); every such buffer is wiped with sodium_memzero
 *   before it goes away. Error messages name the entry and the kid, never a
 *   byte of the key.
 * - A kid is 1..15 characters of [A-Za-z0-9_-]: it appears in the sealed
 *   text between dots, and secret_open() copies it into a 16-byte kid_out.
 */
#include "secret.h"

#include <ctype.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define SECRET_KEY_LEN crypto_aead_xchacha20poly1305_ietf_KEYBYTES
#define SECRET_NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define SECRET_TAG_LEN crypto_aead_xchacha20poly1305_ietf_ABYTES
#define SECRET_KID_MAX 15
#define SECRET_KEYFILE_MAX 65536
#define SECRET_SEALED_MAX (64u << 20) /* refuse absurd inputs before allocating */

typedef struct secret_key_s {
    char kid[SECRET_KID_MAX + 1];
    unsigned char key[SECRET_KEY_LEN];
} secret_key_t;

struct secret_keyring_s {
    int n;
    secret_key_t keys[SECRET_MAX_KEYS]; /* keys[0] is the active one */
};

int secret_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

int secret_b64url_encode(const void *in, size_t n, char *out, size_t outsz)
{
    const int v = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
    size_t need = sodium_base64_ENCODED_LEN(n, v); /* includes the NUL */
    if (outsz < need)
        return -1;
    sodium_bin2base64(out, outsz, in, n, v);
    return (int)(need - 1);
}

int secret_b64_decode_any(const char *in, void *out, size_t outsz, size_t *outlen)
{
    /* Accept what people paste: url or standard alphabet, padded or not. */
    static const int variants[] = {
        sodium_base64_VARIANT_URLSAFE_NO_PADDING, sodium_base64_VARIANT_URLSAFE,
        sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING,
    };
    size_t inlen = strlen(in);
    for (size_t i = 0; i < sizeof variants / sizeof variants[0]; i++) {
        size_t got = 0;
        const char *end = NULL;
        if (sodium_base642bin(out, outsz, in, inlen, NULL, &got, &end, variants[i]) == 0 &&
            end == in + inlen) {
            if (outlen)
                *outlen = got;
            return 0;
        }
    }
    return -1;
}

void secret_random_b64(size_t nbytes, char *out, size_t outsz)
{
    unsigned char raw[256];
    if (outsz == 0)
        return;
    /* A too-small out or too many bytes is a programming error: give "" so
     * it cannot be mistaken for a random value. */
    if (nbytes > sizeof raw ||
        outsz < sodium_base64_ENCODED_LEN(nbytes, sodium_base64_VARIANT_URLSAFE_NO_PADDING)) {
        out[0] = '\0';
        return;
    }
    randombytes_buf(raw, nbytes);
    secret_b64url_encode(raw, nbytes, out, outsz);
    sodium_memzero(raw, sizeof raw);
}

void secret_token(char *out)
{
    secret_random_b64(32, out, SECRET_TOKEN_LEN + 1);
}

void secret_hash_hex(const char *data, size_t len, char *out)
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)data, len);
    sodium_bin2hex(out, SECRET_HASH_HEX_LEN + 1, h, sizeof h);
}

void secret_wipe(char *s)
{
    if (s)
        sodium_memzero(s, strlen(s));
}

int secret_equal(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la != lb)
        return 1;
    return sodium_memcmp(a, b, la) == 0 ? 0 : 1;
}

/* ------------------------------------------------------------ keyring */

static int kid_valid(const char *s, size_t n)
{
    if (n == 0 || n > SECRET_KID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '-')
            return 0;
    return 1;
}

static const secret_key_t *keyring_find(const secret_keyring_t *k, const char *kid, size_t n)
{
    for (int i = 0; i < k->n; i++)
        if (strlen(k->keys[i].kid) == n && memcmp(k->keys[i].kid, kid, n) == 0)
            return &k->keys[i];
    return NULL;
}

/* Parses one "kid:base64" entry (trimmed, in a writable copy) into k. */
static int keyring_add(secret_keyring_t *k, char *ent, int idx, char *err, size_t errsz)
{
    char *colon = strchr(ent, ':');
    if (!colon) {
        snprintf(err, errsz, "master keys: entry %d: expected kid:base64key", idx);
        return -1;
    }
    size_t kidlen = (size_t)(colon - ent);
    if (!kid_valid(ent, kidlen)) {
        snprintf(err, errsz,
                 "master keys: entry %d: key id must be 1-%d characters of A-Z a-z 0-9 _ -",
                 idx, SECRET_KID_MAX);
        return -1;
    }
    if (keyring_find(k, ent, kidlen)) {
        snprintf(err, errsz, "master keys: entry %d: duplicate key id '%.*s'", idx, (int)kidlen,
                 ent);
        return -1;
    }
    if (k->n == SECRET_MAX_KEYS) {
        snprintf(err, errsz, "master keys: more than %d keys", SECRET_MAX_KEYS);
        return -1;
    }
    /* One spare byte so that a 33-byte key is seen as too long, not as a
     * decode error. */
    unsigned char raw[SECRET_KEY_LEN + 1];
    size_t got = 0;
    int rc = secret_b64_decode_any(colon + 1, raw, sizeof raw, &got);
    if (rc != 0 || got != SECRET_KEY_LEN) {
        sodium_memzero(raw, sizeof raw);
        snprintf(err, errsz, "master keys: key '%.*s' must be base64 of exactly %d bytes",
                 (int)kidlen, ent, (int)SECRET_KEY_LEN);
        return -1;
    }
    secret_key_t *key = &k->keys[k->n++];
    memcpy(key->kid, ent, kidlen);
    key->kid[kidlen] = '\0';
    memcpy(key->key, raw, SECRET_KEY_LEN);
    sodium_memzero(raw, sizeof raw);
    return 0;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

secret_keyring_t *secret_keyring_parse(const char *spec, char *err, size_t errsz)
{
    if (!spec) {
        snprintf(err, errsz, "master keys: empty");
        return NULL;
    }
    secret_keyring_t *k = mem_calloc(1, sizeof *k);
    char *copy = mem_strdup(spec);
    size_t copylen = strlen(copy);
    int idx = 0, ok = 1;
    char *save = NULL;
    /* Entries are separated by commas or newlines (a key file may list one
     * per line). */
    for (char *ent = strtok_r(copy, ",\n", &save); ent; ent = strtok_r(NULL, ",\n", &save)) {
        char *t = trim(ent);
        idx++;
        if (!*t)
            continue;
        if (keyring_add(k, t, idx, err, errsz) != 0) {
            ok = 0;
            break;
        }
    }
    if (ok && k->n == 0) {
        snprintf(err, errsz, "master keys: no key given (expected kid:base64key[,kid2:...])");
        ok = 0;
    }
    sodium_memzero(copy, copylen);
    free(copy);
    if (!ok) {
        secret_keyring_free(k);
        return NULL;
    }
    return k;
}

secret_keyring_t *secret_keyring_from_env(char *err, size_t errsz)
{
    const char *spec = getenv("JSMCP_MASTER_KEYS");
    const char *file = getenv("JSMCP_MASTER_KEY_FILE");
    if (spec && *spec && file && *file) {
        snprintf(err, errsz, "set only one of JSMCP_MASTER_KEYS and JSMCP_MASTER_KEY_FILE");
        return NULL;
    }
    if (spec && *spec)
        return secret_keyring_parse(spec, err, errsz);
    if (!file || !*file) {
        snprintf(err, errsz, "JSMCP_MASTER_KEYS or JSMCP_MASTER_KEY_FILE is required");
        return NULL;
    }
    FILE *f = fopen(file, "rb");
    if (!f) {
        snprintf(err, errsz, "JSMCP_MASTER_KEY_FILE %s: %s", file, strerror(errno));
        return NULL;
    }
    char *data = mem_alloc(SECRET_KEYFILE_MAX + 1);
    size_t n = fread(data, 1, SECRET_KEYFILE_MAX + 1, f);
    int rerr = ferror(f);
    fclose(f);
    secret_keyring_t *k = NULL;
    if (rerr)
        snprintf(err, errsz, "JSMCP_MASTER_KEY_FILE %s: read error", file);
    else if (n > SECRET_KEYFILE_MAX)
        snprintf(err, errsz, "JSMCP_MASTER_KEY_FILE %s: larger than %d bytes", file,
                 SECRET_KEYFILE_MAX);
    else {
        data[n] = '\0';
        k = secret_keyring_parse(data, err, errsz);
    }
    sodium_memzero(data, SECRET_KEYFILE_MAX + 1);
    free(data);
    return k;
}

void secret_keyring_free(secret_keyring_t *k)
{
    if (!k)
        return;
    sodium_memzero(k, sizeof *k);
    free(k);
}

const char *secret_keyring_active_kid(const secret_keyring_t *k)
{
    return k->keys[0].kid;
}

/* ------------------------------------------------------------ sealing */

char *secret_seal(const secret_keyring_t *k, const char *ad, const void *pt, size_t ptlen)
{
    if (!k || k->n == 0 || ptlen > SECRET_SEALED_MAX)
        return NULL;
    const secret_key_t *key = &k->keys[0];
    if (!ad)
        ad = "";
    size_t rawlen = SECRET_NONCE_LEN + ptlen + SECRET_TAG_LEN;
    unsigned char *raw = mem_alloc(rawlen);
    randombytes_buf(raw, SECRET_NONCE_LEN);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(raw + SECRET_NONCE_LEN, &clen, pt, ptlen,
                                               (const unsigned char *)ad, strlen(ad), NULL, raw,
                                               key->key);
    size_t b64sz =
        sodium_base64_ENCODED_LEN(rawlen, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    size_t pre = 3 + strlen(key->kid) + 1; /* "v1." kid "." */
    char *out = mem_alloc(pre + b64sz);
    snprintf(out, pre + 1, "v1.%s.", key->kid);
    secret_b64url_encode(raw, rawlen, out + pre, b64sz);
    free(raw);
    return out;
}

char *secret_open(const secret_keyring_t *k, const char *ad, const char *sealed, size_t *ptlen,
                  char *kid_out, size_t kid_outsz)
{
    if (!k || !sealed || strncmp(sealed, "v1.", 3) != 0)
        return NULL;
    const char *kid = sealed + 3;
    const char *dot = strchr(kid, '.');
    if (!dot)
        return NULL;
    const secret_key_t *key = keyring_find(k, kid, (size_t)(dot - kid));
    if (!key)
        return NULL;
    const char *b64 = dot + 1;
    size_t b64len = strlen(b64);
    if (b64len > SECRET_SEALED_MAX)
        return NULL;
    size_t rawcap = b64len / 4 * 3 + 3;
    unsigned char *raw = mem_alloc(rawcap);
    size_t rawlen = 0;
    const char *end = NULL;
    char *pt = NULL;
    if (sodium_base642bin(raw, rawcap, b64, b64len, NULL, &rawlen, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        end != b64 + b64len || rawlen < SECRET_NONCE_LEN + SECRET_TAG_LEN)
        goto out;
    if (!ad)
        ad = "";
    pt = mem_alloc(rawlen - SECRET_NONCE_LEN - SECRET_TAG_LEN + 1);
    unsigned long long mlen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(
            (unsigned char *)pt, &mlen, NULL, raw + SECRET_NONCE_LEN, rawlen - SECRET_NONCE_LEN,
            (const unsigned char *)ad, strlen(ad), raw, key->key) != 0) {
        free(pt);
        pt = NULL;
        goto out;
    }
    pt[mlen] = '\0';
    if (ptlen)
        *ptlen = (size_t)mlen;
    if (kid_out && kid_outsz > 0)
        snprintf(kid_out, kid_outsz, "%s", key->kid);
out:
    free(raw);
    return pt;
}
