#include "http_body.h"

#include "err.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void http_body_append(struct http_body *b, const char *chunk, size_t len)
{
    if (b->too_large)
        return;
    if (b->len + len > b->max) {
        b->too_large = true;
        return;
    }
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len + 1)
            cap *= 2;
        char *data = realloc(b->data, cap);
        if (data == NULL) {
            b->too_large = true; /* reported as too large: the daemon cannot hold it */
            return;
        }
        b->data = data;
        b->cap = cap;
    }
    memcpy(b->data + b->len, chunk, len);
    b->len += len;
    b->data[b->len] = '\0'; /* JSON parsers and logs get a C string for free */
}

void http_body_free(struct http_body *b)
{
    free(b->data);
    *b = (struct http_body){0};
}

enum MHD_Result http_respond(struct MHD_Connection *c, unsigned status, const char *content_type,
                             const void *data, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    if (content_type != NULL && content_type[0] != '\0')
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result http_respond_reason(struct MHD_Connection *c, unsigned status, const char *reason)
{
    char line[TF_ERR_MSG_MAX + 2];
    int n = snprintf(line, sizeof line, "%s\n", reason);
    if (n < 0 || (size_t)n >= sizeof line)
        n = (int)sizeof line - 1;
    return http_respond(c, status, "text/plain; charset=utf-8", line, (size_t)n);
}

/* libmicrohttpd (0.9.75) says this, and no more, for either of its caps:
 * all connections, or those from one address. */
static const char connection_limit[] = "Server reached connection limit";

void http_log_limited(void *log, const char *fmt, va_list ap)
{
    struct http_log *l = log;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    if (strncmp(line, connection_limit, sizeof connection_limit - 1) == 0)
        metrics_limit_hit(http_deadlines_open(l->deadlines) >= l->max_connections
                              ? l->connections
                              : l->connections_per_ip);
    log_warn_limited(&l->lines, "libmicrohttpd: %s", line);
}
