/* CoAP front end (RFC 7252 over UDP): translates requests to /NAME into
 * dispatcher calls and their results into CoAP responses. Every libcoap call
 * happens on the loop thread, since libcoap is not thread-safe. */
#ifndef TF_COAP_FRONT_H
#define TF_COAP_FRONT_H

#include "dispatch.h"
#include "err.h"
#include "loop.h"

struct coap_front;

/* Listens on UDP port (all IPv4 addresses) and serves on loop l. */
int coap_front_start(struct loop *l, struct dispatcher *d, int port, struct coap_front **out,
                     tf_err *err);

/* Stops serving; calls still in flight are detached. */
void coap_front_stop(struct coap_front *f);

#endif
