/* secret: tokens, hashes and encryption at rest (libsodium).
 *
 * - Tokens: 32 random bytes, base64url without padding (43 chars).
 * - Token hashes: SHA-256 hex (64 chars). Tokens are high-entropy, so a
 *   fast hash is right; only the hash is ever stored.
 * - Sealing: XChaCha20-Poly1305 (AEAD) under a 32-byte master key with a
 *   key id. Sealed text: "v1.<kid>.<base64url(nonce || ciphertext)>". The
 *   additional data binds a ciphertext to its row ("account:<id>") so a
 *   sealed blob cannot be moved to another record.
 * - Keyring: the active key seals; every configured key can open (rotation).
 *   JSMCP_MASTER_KEYS="kid1:base64key,kid2:base64key" (first is active) or
 *   JSMCP_MASTER_KEY_FILE with the same content.
 */
#ifndef JSMCP_SECRET_H
#define JSMCP_SECRET_H

#include <stddef.h>

#define SECRET_TOKEN_LEN 43
#define SECRET_HASH_HEX_LEN 64
#define SECRET_MAX_KEYS 8

typedef struct secret_keyring_s secret_keyring_t;

int secret_init(void); /* sodium_init; 0 or -1 */

/* out must hold SECRET_TOKEN_LEN + 1 bytes. */
void secret_token(char *out);
/* nbytes random bytes as base64url into out (outsz incl. NUL). */
void secret_random_b64(size_t nbytes, char *out, size_t outsz);
/* SHA-256 hex of data; out must hold 65 bytes. */
void secret_hash_hex(const char *data, size_t len, char *out);
/* Constant-time string compare of equal-length strings (0 = equal). */
int secret_equal(const char *a, const char *b);
/* Overwrites a secret NUL-terminated string (may be NULL) before it is freed. */
void secret_wipe(char *s);

/* Parses "kid:base64,kid2:base64" (standard or url base64 of 32 bytes). */
secret_keyring_t *secret_keyring_parse(const char *spec, char *err, size_t errsz);
/* From JSMCP_MASTER_KEYS or JSMCP_MASTER_KEY_FILE. */
secret_keyring_t *secret_keyring_from_env(char *err, size_t errsz);
void secret_keyring_free(secret_keyring_t *k);
const char *secret_keyring_active_kid(const secret_keyring_t *k);

/* Returns a malloc'd sealed string or NULL. */
char *secret_seal(const secret_keyring_t *k, const char *ad, const void *pt, size_t ptlen);
/* Opens a sealed string; returns malloc'd plaintext (NUL-terminated, length
 * in *ptlen) or NULL (unknown kid, tampered, wrong ad). kid_out optional (>= 16 bytes). */
char *secret_open(const secret_keyring_t *k, const char *ad, const char *sealed, size_t *ptlen,
                  char *kid_out, size_t kid_outsz);

/* base64url without padding helpers. */
int secret_b64url_encode(const void *in, size_t n, char *out, size_t outsz);
int secret_b64_decode_any(const char *in, void *out, size_t outsz, size_t *outlen);

#endif
