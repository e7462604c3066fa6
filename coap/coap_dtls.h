/* CoAP over DTLS with pre-shared keys (RFC 7252 section 9.1.3.1): the device
 * keys file and a DTLS endpoint on an existing libcoap context, so requests
 * over DTLS reach the same resource handlers as plain CoAP.
 *
 * Keys file: one device per line, "IDENTITY KEY", separated by spaces or tabs.
 *   IDENTITY  1..128 bytes, no whitespace; unique within the file.
 *   KEY       "hex:" followed by an even number of hex digits, or else the raw
 *             ASCII key as written (no whitespace); 1..64 bytes either way.
 *             A raw key cannot begin with "hex:"; write it in hex instead.
 * Lines whose first non-blank character is '#' are comments; blank lines are
 * skipped; a trailing '\r' is ignored. Example:
 *   # sensor in hall 3
 *   dev1 secret1
 *   dev2 hex:00112233445566778899aabbccddeeff
 */
#ifndef TF_COAP_DTLS_H
#define TF_COAP_DTLS_H

#include <coap3/coap.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define PSK_IDENTITY_MAX 128
#define PSK_KEY_MAX      64

struct psk_keys;

/* Reads the keys file at path into *out; on error fills err (TF_ERR_INVALID
 * with the file and line, TF_ERR_NOT_FOUND when there is no file). */
int psk_keys_load(const char *path, struct psk_keys **out, tf_err *err);

/* Wipes the keys from memory and frees them; keys may be NULL. */
void psk_keys_free(struct psk_keys *keys);

/* The key for identity (len bytes), or NULL if there is none. Only an exact,
 * whole-length match counts: a prefix of an identity finds nothing. */
const coap_bin_const_t *psk_keys_find(const struct psk_keys *keys, const uint8_t *identity,
                                      size_t len);

/* How many devices the keys hold. */
size_t psk_keys_count(const struct psk_keys *keys);

/* Adds a DTLS-PSK endpoint on 0.0.0.0:port to ctx, accepting exactly the
 * identities in keys. keys must outlive ctx; call on the thread that runs
 * ctx, and at most once per ctx. */
int tf_coap_dtls_listen(coap_context_t *ctx, int port, const struct psk_keys *keys, tf_err *err);

#endif
