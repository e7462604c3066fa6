/* Reading CoAP datagrams in batches. libcoap 4.3.1 reads one datagram per
 * socket event and then runs its housekeeping, which walks every session and
 * rearms a timerfd: per datagram, that is a syscall and a walk over all the
 * devices. Here a readable socket's event is handed to libcoap several times
 * over, so one round of housekeeping serves a whole batch. Loop thread only. */
#ifndef TF_COAP_INTAKE_H
#define TF_COAP_INTAKE_H

#include <coap3/coap.h>

/* Most datagrams read per wake-up before the loop serves its other sockets. */
#define TF_COAP_INTAKE_MAX 64

/* Routes libcoap's log through ours, minus the warnings of a read that found
 * the socket empty (how a batch learns it has drained it). Once, at start. */
void tf_coap_intake_init(void);

/* Reads what libcoap's sockets hold (coap_fd: coap_context_get_coap_fd()),
 * TF_COAP_INTAKE_MAX datagrams at most, and lets libcoap handle each. */
void tf_coap_intake_read(coap_context_t *ctx, int coap_fd);

#endif
