/* Remembered CoAP client endpoints: for each, the last answers it got, so a
 * retransmitted request (RFC 7252 4.5) is answered again and never runs its
 * function twice, however many devices talk in between.
 *
 * Keyed by the endpoint's address, not by libcoap's session, so libcoap may
 * forget idle sessions (their memory is the bound that counts at 20 000
 * devices) without losing a duplicate. What an endpoint costs is fixed: one
 * record of TF_COAP_PEER_BYTES, small answers' bodies included; larger
 * bodies draw from a byte budget shared with the copies libcoap holds for
 * block-wise answers.
 * Loop thread only. */
#ifndef TF_COAP_PEERS_H
#define TF_COAP_PEERS_H

#include <coap3/coap.h>
#include <stddef.h>
#include <stdint.h>

#include "coap_answer.h"

/* RFC 7252 4.8.2's EXCHANGE_LIFETIME: how long after its last answer an
 * endpoint's answers are kept. */
#define TF_COAP_PEER_KEEP_MS 247000

/* Answers kept per endpoint: a client that waits for each answer before its
 * next request (NSTART 1, RFC 7252's default) needs one; two leave room for
 * a second request in flight. */
#define TF_COAP_PEER_ANSWERS 2

/* Endpoints remembered at most; past it the one quiet the longest goes. */
#define TF_COAP_PEERS_MAX 32768

/* A remembered endpoint's record, allocator overhead included (documented). */
#define TF_COAP_PEER_BYTES 128

/* Default byte budget for kept answer bodies and block-wise copies. */
#define TF_COAP_ANSWER_BYTES_DEFAULT (8u << 20)

struct tf_coap_peers;

int tf_coap_peers_create(size_t answer_bytes, struct tf_coap_peers **out);
void tf_coap_peers_free(struct tf_coap_peers *ps);

/* The answer kept for message mid from addr, or NULL. */
const struct tf_coap_answer *tf_coap_peers_find(struct tf_coap_peers *ps,
                                                const coap_address_t *addr, uint16_t mid);

/* Keeps a (taking its blob) as addr's newest answer. A body over the budget
 * is dropped (the answer's code stays); older bodies are evicted first. */
void tf_coap_peers_remember(struct tf_coap_peers *ps, const coap_address_t *addr,
                            struct tf_coap_answer *a, int64_t now_ms);

/* Draws n bytes from the budget for a copy held elsewhere, evicting kept
 * bodies if need be. Returns 0, or -1 when n does not fit even then. */
int tf_coap_peers_reserve(struct tf_coap_peers *ps, size_t n);

/* Returns n bytes drawn with tf_coap_peers_reserve. */
void tf_coap_peers_release(struct tf_coap_peers *ps, size_t n);

/* Forgets endpoints quiet for TF_COAP_PEER_KEEP_MS. Returns the ms until the
 * next one is due, or -1 when none is kept. */
int64_t tf_coap_peers_expire(struct tf_coap_peers *ps, int64_t now_ms);

/* Endpoints remembered, and budget bytes in use (for tests and the log). */
size_t tf_coap_peers_count(const struct tf_coap_peers *ps);
size_t tf_coap_peers_bytes(const struct tf_coap_peers *ps);

#endif
