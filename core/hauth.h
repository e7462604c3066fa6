/* The handler link's authentication (docs/handler-protocol.md): a handler
 * given a secret sends a CHALLENGE with a random nonce, and runs calls only
 * for a peer whose PROOF is HMAC-SHA256(secret, nonce). Shared by the daemon
 * (the proof) and the C shim (the nonce, the secret file, the check). */
#ifndef TF_HAUTH_H
#define TF_HAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hproto.h"

/* A secret the daemon makes: 64 lowercase hex digits (256 random bits). */
#define HAUTH_SECRET_CHARS 64
/* The largest secret file a handler reads. */
#define HAUTH_KEY_MAX 4096

/* Writes a new secret, HAUTH_SECRET_CHARS hex digits and a NUL, to out.
 * Return 0 or -errno (no randomness). */
int hauth_new_secret(char out[HAUTH_SECRET_CHARS + 1]);

/* Fills out with n random bytes. Return 0 or -errno. */
int hauth_random(uint8_t *out, size_t n);

/* The PROOF of nonce under key: HMAC-SHA256(key, nonce). */
void hauth_proof(const void *key, size_t key_len, const uint8_t nonce[HPROTO_NONCE_BYTES],
                 uint8_t mac[HPROTO_MAC_BYTES]);

/* Whether mac is the proof of nonce under key; the compare takes the same
 * time whichever byte differs. */
bool hauth_check(const void *key, size_t key_len, const uint8_t nonce[HPROTO_NONCE_BYTES],
                 const uint8_t mac[HPROTO_MAC_BYTES]);

/* Reads the secret file at path into key[0..HAUTH_KEY_MAX): its bytes as they
 * are, whitespace at the end stripped. Return the key's length, or -errno:
 * -EINVAL when nothing is left, -EFBIG when the file is larger. */
int hauth_read_key(const char *path, uint8_t key[HAUTH_KEY_MAX]);

#endif
