/* Remembered CoAP client endpoints: for each, the last answers it got, so a
 * retransmitted request (RFC 7252 4.5) is answered again and never runs its
 * function twice, however many devices talk in between.
 *
 * Keyed by the endpoint's address, not by libcoap's session, so libcoap may
 * forget idle sessions (their memory is the bound that counts at 20 000
 * devices) without losing a duplicate. What an endpoint costs is fixed: one
 * record of TF_COAP_PEER_BYTES, small answers' bodies included; larger
 * bodies, which are also what block-wise answers are served from, draw from
 * a byte budget.
 * Loop thread only. */
#ifndef TF_COAP_PEERS_H
#define TF_COAP_PEERS_H

#include <coap3/coap.h>
#include <stdbool.h>
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

/* Default byte budget for kept answer bodies. */
#define TF_COAP_ANSWER_BYTES_DEFAULT (8u << 20)

/* A client endpoint: its address, packed (IPv4 in the first four bytes),
 * and the transport (plain CoAP and DTLS never share an answer). */
struct tf_coap_peer_key {
    uint8_t addr[16];
    uint16_t port;
    uint8_t family;
    uint8_t proto;
};

void tf_coap_peer_key_of(const coap_address_t *addr, coap_proto_t proto,
                         struct tf_coap_peer_key *out);

/* The key of a session's remote endpoint. */
void tf_coap_peer_key_of_session(const coap_session_t *s, struct tf_coap_peer_key *out);

struct tf_coap_peers;

int tf_coap_peers_create(size_t answer_bytes, struct tf_coap_peers **out);
void tf_coap_peers_free(struct tf_coap_peers *ps);

/* The answer kept for message mid from endpoint k, or NULL. */
const struct tf_coap_answer *tf_coap_peers_find(struct tf_coap_peers *ps,
                                                const struct tf_coap_peer_key *k, uint16_t mid);

/* k's newest answer from function name with this query that still holds a
 * body kept to be served block-wise, or NULL. */
const struct tf_coap_answer *tf_coap_peers_find_large(struct tf_coap_peers *ps,
                                                      const struct tf_coap_peer_key *k,
                                                      const char *name, const coap_string_t *query);

/* Keeps a (taking its blob) as k's newest answer. A body over the budget
 * is dropped (the answer's code stays); older bodies are evicted first. */
void tf_coap_peers_remember(struct tf_coap_peers *ps, const struct tf_coap_peer_key *k,
                            struct tf_coap_answer *a, int64_t now_ms);

/* RFC 9175 2.4: an endpoint is verified once an Echo value given to its
 * address came back from it; until then, no answer to it may be more than
 * three times its request. Verification is by IP address (not port): the
 * address is what a spoofer forges, and every client there is reachable.
 * It is remembered in a record of its own, kept while in use. */
bool tf_coap_peers_verified(struct tf_coap_peers *ps, const struct tf_coap_peer_key *k,
                            int64_t now_ms);

/* The Echo value to give k's address (the same until it comes back).
 * Returns 0, or -1 when out of memory. */
int tf_coap_peers_challenge(struct tf_coap_peers *ps, const struct tf_coap_peer_key *k,
                            int64_t now_ms, uint32_t *echo);

/* True, and k's address verified, when echo is the value it was given. */
bool tf_coap_peers_echoed(struct tf_coap_peers *ps, const struct tf_coap_peer_key *k,
                          uint32_t echo);

/* k's answer from function name with this query held until k echoed its
 * challenge, or NULL; it is handed out once. */
const struct tf_coap_answer *tf_coap_peers_take_held(struct tf_coap_peers *ps,
                                                     const struct tf_coap_peer_key *k,
                                                     const char *name, const coap_string_t *query);

/* Forgets endpoints quiet for TF_COAP_PEER_KEEP_MS. Returns the ms until the
 * next one is due, or -1 when none is kept. */
int64_t tf_coap_peers_expire(struct tf_coap_peers *ps, int64_t now_ms);

/* Endpoints remembered, and budget bytes in use (for tests and the log). */
size_t tf_coap_peers_count(const struct tf_coap_peers *ps);
size_t tf_coap_peers_bytes(const struct tf_coap_peers *ps);

#endif
