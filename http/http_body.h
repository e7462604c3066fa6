/* Request bodies, plain-text answers and libmicrohttpd's log, shared by the
 * HTTP front ends. */
#ifndef TF_HTTP_BODY_H
#define TF_HTTP_BODY_H

#include <microhttpd.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "http_deadline.h"
#include "log.h"
#include "metrics.h"

/* A request body being received, bounded by max. */
struct http_body {
    char *data;
    size_t len, cap, max;
    bool too_large; /* went past max: the rest was dropped */
};

/* Appends a chunk; past max, sets too_large and keeps what fits. */
void http_body_append(struct http_body *b, const char *chunk, size_t len);

/* Frees the body's memory. */
void http_body_free(struct http_body *b);

/* Queues a response of status with text (copied) and Content-Type. */
enum MHD_Result http_respond(struct MHD_Connection *c, unsigned status, const char *content_type,
                             const void *data, size_t len);

/* Queues status with a one-line reason as text/plain (a newline is added). */
enum MHD_Result http_respond_reason(struct MHD_Connection *c, unsigned status, const char *reason);

/* What one libmicrohttpd server logs: the budget of its lines, and what
 * tells its two connection caps apart when it refuses a connection. */
struct http_log {
    struct log_limit lines;
    struct http_deadlines *deadlines; /* counts the connections open */
    unsigned max_connections;
    enum metrics_limit connections, connections_per_ip;
};

/* For MHD_OPTION_EXTERNAL_LOGGER with a struct http_log as cls: what
 * libmicrohttpd reports is mostly a client's doing (a connection refused at
 * a limit, a malformed request), so it is logged within that budget; a
 * connection refused at a cap is counted as a hit of that cap. */
void http_log_limited(void *log, const char *fmt, va_list ap);

#endif
