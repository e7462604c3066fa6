/* CoAP exchanges: one per request being answered, found again by its
 * endpoint and message id, so a retransmitted request (RFC 7252 4.5) never
 * runs the function twice and gets the same answer again. Loop thread only. */
#ifndef TF_COAP_EXCHANGE_H
#define TF_COAP_EXCHANGE_H

#include <coap3/coap.h>
#include <stdbool.h>
#include <stdint.h>

#include "dispatch.h"

/* How long an answered exchange is remembered for duplicates, and how many
 * at most: RFC 7252's EXCHANGE_LIFETIME is 247 s, but a gateway's memory is
 * the tighter bound; clients retransmit within 93 s at the defaults. */
#define EXCHANGE_KEEP_MS  120000
#define EXCHANGE_KEEP_MAX 8192

/* The longest function name an exchange takes (a deployed name is shorter). */
#define EXCHANGE_NAME_MAX 63

/* Up to EXCHANGE_KEEP_MAX of these stay for duplicates, so the fields are
 * ordered to pack and the name takes only its own length. */
struct tf_coap_exchange {
    coap_session_t *session; /* referenced while the exchange lives */
    coap_pdu_t *request;     /* a copy, for Block2 and Block1 options; freed when answered */
    coap_string_t *query;
    struct dispatch_call *call;
    struct tf_coap_exchange *hnext;       /* hash chain */
    struct tf_coap_exchange *prev, *next; /* on the ack list while waiting, else the done list */
    int64_t created_ms;
    coap_mid_t mid;
    coap_pdu_type_t type; /* of the request: CON or NON */
    unsigned no_response; /* RFC 7967 bits of classes not to answer */
    /* The answer, kept to repeat it to a duplicate. */
    int code; /* e.g. 205, 404 */
    unsigned char *body;
    size_t body_len;
    uint16_t format;
    bool has_format;
    bool piggybacked;
    bool acked; /* an empty ACK went out: the answer is a separate CON */
    bool done;
    uint8_t token_len;
    uint8_t token[8];
    char name[]; /* the function: its resource is looked up at answer time */
};

struct tf_coap_exchanges;

int tf_coap_exchanges_create(struct tf_coap_exchanges **out);

/* Frees every exchange (detaching calls in flight, releasing sessions). */
void tf_coap_exchanges_free(struct tf_coap_exchanges *xs);

/* The exchange of session's message mid, or NULL. */
struct tf_coap_exchange *tf_coap_exchange_find(struct tf_coap_exchanges *xs, coap_session_t *s,
                                               coap_mid_t mid);

/* A new waiting exchange for req (copied), on the ack list. */
struct tf_coap_exchange *tf_coap_exchange_start(struct tf_coap_exchanges *xs, coap_session_t *s,
                                                const coap_pdu_t *req, const char *name,
                                                const coap_string_t *query, int64_t now_ms);

/* Moves a waiting exchange to the done list (its answer is recorded by the caller). */
void tf_coap_exchange_finish(struct tf_coap_exchanges *xs, struct tf_coap_exchange *x,
                             int64_t now_ms);

/* Drops x from the ack list: it needs no empty ACK any more. */
void tf_coap_exchange_acked(struct tf_coap_exchanges *xs, struct tf_coap_exchange *x);

/* The oldest waiting CON exchange not yet acknowledged, or NULL. */
struct tf_coap_exchange *tf_coap_exchange_oldest_unacked(struct tf_coap_exchanges *xs);

/* Forgets answered exchanges past their keep time or over the count.
 * Returns the ms until the next one is due, or -1 when none is kept. */
int64_t tf_coap_exchanges_expire(struct tf_coap_exchanges *xs, int64_t now_ms);

#endif
