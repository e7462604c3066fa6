#include "coap_verify.h"

#include <string.h>

size_t tf_coap_request_bytes(const coap_pdu_t *req)
{
    size_t n = 4 + coap_pdu_get_token(req).length, len = 0;
    coap_opt_iterator_t it;
    coap_opt_t *o;
    coap_option_iterator_init(req, &it, COAP_OPT_ALL);
    while ((o = coap_option_next(&it)) != NULL)
        n += 1 + coap_opt_length(o);
    const uint8_t *data;
    if (coap_get_data(req, &len, &data) && len > 0)
        n += 1 + len;
    return n;
}

/* The most an answer's datagram takes: header, the request's token, the
 * options an answer carries (Content-Format, ETag, Block2, Size2, Block1:
 * 20 bytes at most), and the body, or the piece of it a block holds. */
static size_t answer_bytes(const coap_pdu_t *req, size_t body_len)
{
    size_t piece = 1024;
    coap_opt_iterator_t it;
    coap_opt_t *b2 = coap_check_option(req, COAP_OPTION_BLOCK2, &it);
    if (b2 != NULL && COAP_OPT_BLOCK_SZX(b2) < 6)
        piece = (size_t)1 << (COAP_OPT_BLOCK_SZX(b2) + 4);
    if (body_len < piece)
        piece = body_len;
    return 4 + coap_pdu_get_token(req).length + 20 + (piece > 0 ? 1 + piece : 0);
}

bool tf_coap_needs_echo(struct tf_coap_peers *ps, const struct tf_coap_peer_key *k,
                        const coap_pdu_t *req, size_t req_bytes, size_t body_len, int64_t now_ms)
{
    return k->proto == COAP_PROTO_UDP &&
           answer_bytes(req, body_len) > AMPLIFICATION_FACTOR * req_bytes &&
           !tf_coap_peers_verified(ps, k, now_ms);
}

int tf_coap_block_within(const coap_pdu_t *req, size_t req_bytes)
{
    /* Header and token; Content-Format, the first Block2 and Echo options
     * (no ETag or Size2: coap_front.c leaves them out of such answers); the
     * payload marker. */
    size_t overhead = 4 + coap_pdu_get_token(req).length + 3 + 2 + 6 + 1;
    size_t room = AMPLIFICATION_FACTOR * req_bytes;
    int szx = -1;
    while (szx < 6 && overhead + ((size_t)16 << (szx + 1)) <= room)
        szx++;
    return szx;
}

void tf_coap_challenge(struct tf_coap_peers *ps, const struct tf_coap_peer_key *k, int64_t now_ms,
                       coap_pdu_t *pdu)
{
    uint32_t echo;
    if (tf_coap_peers_challenge(ps, k, now_ms, &echo) < 0) {
        coap_pdu_set_code(pdu, COAP_RESPONSE_CODE(503));
        return;
    }
    uint8_t value[4] = {echo >> 24, echo >> 16, echo >> 8, echo};
    coap_pdu_set_code(pdu, COAP_RESPONSE_CODE(401));
    coap_add_option(pdu, COAP_OPTION_ECHO, sizeof value, value);
}

bool tf_coap_echo_verifies(struct tf_coap_peers *ps, const struct tf_coap_peer_key *k,
                           const coap_pdu_t *req)
{
    coap_opt_iterator_t it;
    coap_opt_t *o = coap_check_option(req, COAP_OPTION_ECHO, &it);
    if (o == NULL || coap_opt_length(o) != 4)
        return false;
    const uint8_t *v = coap_opt_value(o);
    uint32_t echo = (uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | (uint32_t)v[2] << 8 | v[3];
    return tf_coap_peers_echoed(ps, k, echo);
}
