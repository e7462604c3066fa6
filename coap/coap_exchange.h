/* CoAP exchanges: one per request whose function runs, found again by its
 * session and message id, so a request retransmitted meanwhile (RFC 7252
 * 4.5) gets an empty ACK, not a second run. Loop thread only. */
#ifndef TF_COAP_EXCHANGE_H
#define TF_COAP_EXCHANGE_H

#include <coap3/coap.h>
#include <stdbool.h>
#include <stdint.h>

#include "coap_answer.h"
#include "dispatch.h"
#include "dlist.h"
#include "metrics.h"

/* The longest function name an exchange takes (a deployed name is shorter). */
#define EXCHANGE_NAME_MAX 63

/* Where a call's answer is counted (metrics.h): its function's slot, the
 * protocol it came over, and when it came. */
struct tf_coap_call_meta {
    struct metrics_fn *fn;
    enum metrics_proto proto;
    uint64_t start;
};

/* A request being answered. Once answered, its answer moves to the
 * remembered endpoints (coap_peers.h) and the exchange is freed. */
struct tf_coap_exchange {
    coap_session_t *session; /* referenced while the exchange lives */
    coap_pdu_t *request;     /* a copy, for Block2 and Block1 options */
    coap_string_t *query;
    struct dispatch_call *call;
    struct tf_coap_exchange *hnext; /* hash chain */
    struct dlist_link ack_link;     /* on the ack list while unacknowledged */
    int64_t created_ms;
    struct tf_coap_answer answer;  /* its mid, type and wishes now; code and body once done */
    bool acked;                    /* an empty ACK went out: the answer is a separate CON */
    uint16_t req_bytes;            /* the request's size on the wire (the copy lacks its payload) */
    struct tf_coap_call_meta meta; /* what its answer is counted under */
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

/* Removes x (answered, or abandoned) and frees it; its answer's blob is the
 * caller's to have taken first. */
void tf_coap_exchange_end(struct tf_coap_exchanges *xs, struct tf_coap_exchange *x);

/* Drops x from the ack list: it needs no empty ACK any more. */
void tf_coap_exchange_acked(struct tf_coap_exchanges *xs, struct tf_coap_exchange *x);

/* The oldest waiting CON exchange not yet acknowledged, or NULL. */
struct tf_coap_exchange *tf_coap_exchange_oldest_unacked(struct tf_coap_exchanges *xs);

#endif
