/* tinyfaas.h: the one header a tinyFaaS function in C is written against.
 *
 * A function is a file fn.c that defines tinyfaas_fn(). At deploy it is
 * compiled and linked statically with the runtime (libtinyfaas-c.a, which
 * holds main()), and the result runs alone in a FROM scratch image: no
 * interpreter, and no process per call. A complete function:
 *
 *     #include <tinyfaas.h>
 *
 *     // Replies "hello, <body>"; an empty body is an error (500).
 *     int tinyfaas_fn(const struct tinyfaas_request *req, struct tinyfaas_response *res)
 *     {
 *         if (req->body_len == 0) {
 *             tinyfaas_set_string(res, "say who to greet");
 *             return 1;                  // 500, with this body as the message
 *         }
 *         const char *agent = tinyfaas_header(req, "User-Agent"); // NULL when absent
 *         tinyfaas_set_content_type(res, "text/plain; charset=utf-8");
 *         tinyfaas_printf(res, "hello, %.*s (via %s)", (int)req->body_len, req->body,
 *                         agent != NULL ? agent : "?");
 *         return 0;                      // 200, with the body built above
 *     }
 *
 * Outcome of a call:
 *   - tinyfaas_fn returns 0: the status set with tinyfaas_set_status(), or
 *     200, with the response body and content type the function set.
 *   - it returns non-zero: 500, with the response body as the message, or
 *     "fn returned N" when the function set no body.
 *   - it crashes (segfault, abort, exit): the whole handler process dies
 *     with every call in flight; the daemon sees the connection drop and
 *     answers those calls with an error (502).
 *
 * Concurrency: calls run CONCURRENTLY, on several threads at once (env
 * TINYFAAS_THREADS, default 8), in one process. Globals are shared between
 * calls: guard them with a mutex, or keep state on the stack. strtok(),
 * rand(), setenv() and other non-reentrant calls need care; exit() ends the
 * handler for everybody.
 *
 * Memory: everything in *req belongs to the runtime and is valid only until
 * tinyfaas_fn returns. The response body is owned by the runtime too: the
 * setters copy what they are given (except tinyfaas_set_body_owned(), which
 * takes over a malloc'd buffer), and the runtime frees the body after the
 * reply is sent. Never free() a body you handed over.
 */
#ifndef TINYFAAS_H
#define TINYFAAS_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One request header. Names keep the case the client sent. */
struct tinyfaas_header {
    const char *name;
    const char *value; /* a NUL byte in a value ends it */
};

struct tinyfaas_request {
    const char *method; /* "GET", "POST", "PUT", ...; CoAP methods arrive as their HTTP names */
    /* The request body, exact bytes; may be empty and may hold NULs. A NUL
     * always follows the last byte (body[body_len] == 0), so a text body can
     * be passed to strtol() or printf("%s") directly. Never NULL. */
    const char *body;
    size_t body_len;
    const struct tinyfaas_header *headers; /* n_headers entries, at most 64 */
    size_t n_headers;
    /* The query string without the '?' ("a=1&b=2"), "" when there is none.
     * Filled by the daemon for CoAP Uri-Query and HTTP ?query; it travels as
     * the header X-Tinyfaas-Query, which is also in headers. Not decoded. */
    const char *query;
    /* The request's content type (its Content-Type header, e.g.
     * "application/json"), "" when the client sent none. */
    const char *content_type;
};

/* The response being built; only the functions below change it. */
struct tinyfaas_response;

/* The function every fn.c defines; called once per request. Return 0 for
 * success, non-zero for failure (500). */
int tinyfaas_fn(const struct tinyfaas_request *req, struct tinyfaas_response *res);

/* The value of the first header named name (case-insensitive), or NULL. */
const char *tinyfaas_header(const struct tinyfaas_request *req, const char *name);

/* Replaces the response body with a copy of len bytes at data.
 * Return 0, or -1 when out of memory (the body is then left as it was). */
int tinyfaas_set_body(struct tinyfaas_response *res, const void *data, size_t len);

/* Replaces the response body with a copy of the string s. Return as above. */
int tinyfaas_set_string(struct tinyfaas_response *res, const char *s);

/* Replaces the response body with buf, a block from malloc() (or NULL when
 * len is 0) that the runtime now owns and frees. Cannot fail. */
void tinyfaas_set_body_owned(struct tinyfaas_response *res, void *buf, size_t len);

/* Appends printf-style formatted text to the response body (it grows as
 * needed). Return 0, or -1 when out of memory or the format fails. */
int tinyfaas_printf(struct tinyfaas_response *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Sets the status sent when tinyfaas_fn returns 0 (default 200). The
 * daemon maps it to HTTP and CoAP (DESIGN.md, Invocation semantics); a
 * value outside 100..599 becomes a 500. */
void tinyfaas_set_status(struct tinyfaas_response *res, int status);

/* Sets the response content type (copied), e.g. "application/json"; unset
 * or "" means text/plain. Return 0, or -1 when out of memory. */
int tinyfaas_set_content_type(struct tinyfaas_response *res, const char *type);

#ifdef __cplusplus
}
#endif

#endif
