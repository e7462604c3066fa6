/* A deadline for a request's headers, from the moment a connection may send
 * them (accepted, or its previous request answered) to their end.
 * libmicrohttpd's own timeout restarts with every byte, so without this a
 * client sending a byte a minute would hold a connection for ever. */
#ifndef TF_HTTP_DEADLINE_H
#define TF_HTTP_DEADLINE_H

#include <microhttpd.h>
#include <stddef.h>

#include "metrics.h"

/* The time bounds of both HTTP servers (docs/operations.md, "Limits on clients"). */
#define HTTP_HEADER_DEADLINE_MS 10000 /* from a connection's readiness to its headers' end */
#define HTTP_BODY_IDLE_S        60    /* a request body without a byte */

struct http_deadlines;

/* Deadlines of ms, each close counted as a hit of limit; thread-safe, so
 * one serves a thread-per-connection server. */
int http_deadlines_create(int ms, enum metrics_limit limit, struct http_deadlines **out);
void http_deadlines_free(struct http_deadlines *dl);

/* For MHD_OPTION_NOTIFY_CONNECTION, with dl as its cls. */
void http_deadlines_notify(void *dl, struct MHD_Connection *conn, void **socket_context,
                           enum MHD_ConnectionNotificationCode toe);

/* conn's request headers are all in (the request callback's first call). */
void http_deadlines_headers_in(struct MHD_Connection *conn);

/* conn's request is answered (MHD_OPTION_NOTIFY_COMPLETED): the next
 * request's deadline starts now. */
void http_deadlines_request_done(struct MHD_Connection *conn);

/* The connections open now (each is tracked from its start to its end). */
size_t http_deadlines_open(struct http_deadlines *dl);

/* Shuts down every connection past its deadline, which libmicrohttpd then
 * sees end and closes; returns how many. */
unsigned http_deadlines_sweep(struct http_deadlines *dl);

/* Sweeps every second on a thread of its own, until http_deadlines_free:
 * for a server whose threads are libmicrohttpd's. */
int http_deadlines_sweep_in_thread(struct http_deadlines *dl);

#endif
