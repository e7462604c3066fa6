/* RFC 9175 2.4: the daemon is no amplifier for spoofed requests. Until a
 * plain-CoAP endpoint has sent back an Echo value the daemon gave it, no
 * answer to it is more than AMPLIFICATION_FACTOR times the size of its
 * request. A larger answer goes block-wise in blocks that small, with an
 * Echo value: a client that echoes it (libcoap's do) verifies its address,
 * whose later answers go whole; one that does not still gets every block.
 * (The blocks of one answer stay the size its first one had: RFC 7959 lets
 * a server only shrink them.)
 * Small answers, most of CoAP's, are untouched. Only when not even a
 * 16-byte block fits (a request of a dozen bytes) is the answer held and
 * 4.01 with an Echo value sent instead; the retry carrying it gets the held
 * answer, and the function does not run again. DTLS endpoints count as
 * verified: the handshake did it. */
#ifndef TF_COAP_VERIFY_H
#define TF_COAP_VERIFY_H

#include <coap3/coap.h>
#include <stdbool.h>
#include <stddef.h>

#include "coap_peers.h"

#define AMPLIFICATION_FACTOR 3

/* The bytes req took on the wire, or a little less (option headers are
 * counted as one byte): the bound errs on the strict side. */
size_t tf_coap_request_bytes(const coap_pdu_t *req);

/* Whether an answer with a body of body_len bytes to req (of req_bytes on
 * the wire: a copy of a request may lack its payload) from k must wait for
 * k to be verified. */
bool tf_coap_needs_echo(struct tf_coap_peers *ps, const struct tf_coap_peer_key *k,
                        const coap_pdu_t *req, size_t req_bytes, size_t body_len, int64_t now_ms);

/* The largest block size (szx, 0 to 6) whose answer to req, of req_bytes
 * on the wire, stays within the bound, or -1 when not even 16 bytes do. */
int tf_coap_block_within(const coap_pdu_t *req, size_t req_bytes);

/* Makes pdu the challenge: 4.01 with k's Echo value (5.03 on no memory). */
void tf_coap_challenge(struct tf_coap_peers *ps, const struct tf_coap_peer_key *k, int64_t now_ms,
                       coap_pdu_t *pdu);

/* True when req carries k's Echo value, which verifies k. */
bool tf_coap_echo_verifies(struct tf_coap_peers *ps, const struct tf_coap_peer_key *k,
                           const coap_pdu_t *req);

#endif
