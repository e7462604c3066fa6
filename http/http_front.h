/* HTTP invocation front end (libmicrohttpd, driven by the loop thread's
 * epoll): GET/POST/PUT /NAME calls the function with the body and headers. */
#ifndef TF_HTTP_FRONT_H
#define TF_HTTP_FRONT_H

#include <stddef.h>

#include "dispatch.h"
#include "err.h"
#include "loop.h"

struct http_front;

/* Listens on TCP port and serves on loop l, at most max_connections at once;
 * bodies over max_body get 413. */
int http_front_start(struct loop *l, struct dispatcher *d, int port, size_t max_body,
                     unsigned max_connections, struct http_front **out, tf_err *err);

/* Stops serving; calls in flight are detached and their clients get 503. */
void http_front_stop(struct http_front *f);

#endif
