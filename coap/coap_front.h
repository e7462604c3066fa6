/* CoAP front end (RFC 7252 over UDP, and DTLS): translates requests to
 * /NAME into dispatcher calls and their results into CoAP responses: a
 * piggybacked ACK when the function answers quickly, an empty ACK and a
 * separate response when it does not. Every libcoap call happens on the
 * loop thread, since libcoap is not thread-safe. */
#ifndef TF_COAP_FRONT_H
#define TF_COAP_FRONT_H

#include <stddef.h>

#include "dispatch.h"
#include "err.h"
#include "loop.h"

struct tf_coap_front;

struct tf_coap_front_config {
    int port;             /* UDP; -1: no plain CoAP */
    int dtls_port;        /* UDP; -1: no DTLS */
    const char *psk_file; /* identities and keys for DTLS */
    size_t max_body;      /* largest request and response body (block-wise) */
    int ack_delay_ms;     /* a call running longer is acknowledged and answered separately */
    size_t answer_bytes;  /* answers held: kept for duplicates, served block-wise */
};

/* Serves CoAP for the dispatcher's functions on loop l. */
int tf_coap_front_start(struct loop *l, struct dispatcher *d,
                        const struct tf_coap_front_config *cfg, struct tf_coap_front **out,
                        tf_err *err);

/* Stops serving; calls still in flight are detached. */
void tf_coap_front_stop(struct tf_coap_front *f);

#endif
