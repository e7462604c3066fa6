/* The helpers of tinyfaas.h that a function calls: header lookup and the
 * response setters. Each call has its own response, so none of this needs a
 * lock even though calls run on several threads. */
#include "tinyfaas_rt.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *tinyfaas_header(const struct tinyfaas_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (strcasecmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

void tinyfaas_set_body_owned(struct tinyfaas_response *res, void *buf, size_t len)
{
    free(res->body);
    res->body = buf;
    res->len = len;
    res->cap = len;
}

int tinyfaas_set_body(struct tinyfaas_response *res, const void *data, size_t len)
{
    /* One spare byte so an empty body still has a buffer, and a later
     * tinyfaas_printf() has room for its NUL. */
    char *p = malloc(len + 1);
    if (p == NULL)
        return -1;
    if (len > 0)
        memcpy(p, data, len);
    p[len] = '\0';
    tinyfaas_set_body_owned(res, p, len);
    res->cap = len + 1;
    return 0;
}

int tinyfaas_set_string(struct tinyfaas_response *res, const char *s)
{
    return tinyfaas_set_body(res, s, strlen(s));
}

int tinyfaas_printf(struct tinyfaas_response *res, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(res->body != NULL ? res->body + res->len : NULL,
                      res->body != NULL ? res->cap - res->len : 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n < res->cap - res->len) {
        res->len += (size_t)n;
        return 0;
    }
    /* Did not fit: grow (at least doubling, so repeated appends stay
     * linear) and format again. */
    size_t cap = res->len + (size_t)n + 1;
    if (cap < 2 * res->cap)
        cap = 2 * res->cap;
    char *p = realloc(res->body, cap);
    if (p == NULL)
        return -1;
    res->body = p;
    res->cap = cap;
    va_start(ap, fmt);
    vsnprintf(res->body + res->len, cap - res->len, fmt, ap);
    va_end(ap);
    res->len += (size_t)n;
    return 0;
}

void tinyfaas_set_status(struct tinyfaas_response *res, int status)
{
    res->status = status;
}

int tinyfaas_set_content_type(struct tinyfaas_response *res, const char *type)
{
    char *p = strdup(type);
    if (p == NULL)
        return -1;
    free(res->content_type);
    res->content_type = p;
    return 0;
}
