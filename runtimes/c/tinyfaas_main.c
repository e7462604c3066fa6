/* main() of a c runtime handler (it lives in libtinyfaas-c.a, so fn.c only
 * defines tinyfaas_fn): runs the shared shim with the thread pool, and turns
 * each CALL into a tinyfaas_fn() call on a worker thread. */
#include "shim.h"
#include "tinyfaas_rt.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TF_DEFAULT_THREADS 8
#define TF_MAX_THREADS     256

/* The query travels as a header until the protocol grows a field for it. */
#define TF_QUERY_HEADER "X-Tinyfaas-Query"

/* Moves what the function built into the pool's result, whose memory the
 * pool frees after the reply. */
static void take_response(struct tinyfaas_response *r, uint16_t status, struct shim_result *out)
{
    out->status = status;
    out->content_type = r->content_type;
    out->body = r->body;
    out->len = r->len;
}

static void fail(struct tinyfaas_response *r, struct shim_result *out, const char *fmt, int n)
{
    char msg[96];
    snprintf(msg, sizeof msg, fmt, n);
    if (tinyfaas_set_string(r, msg) != 0)
        r->len = 0; /* no memory even for the message: an empty 500 still answers */
    take_response(r, 500, out);
}

/* Runs on a worker thread; the call's strings are NUL-terminated copies. */
static void run_call(const struct hproto_call *call, struct shim_result *out)
{
    struct tinyfaas_header hs[HPROTO_MAX_HEADERS];
    struct tinyfaas_response res = {0};
    struct tinyfaas_request req = {
        .method = call->method.ptr,
        .body = call->body.ptr,
        .body_len = call->body.len,
        .headers = hs,
        .n_headers = call->n_headers,
    };
    for (size_t i = 0; i < call->n_headers; i++)
        hs[i] = (struct tinyfaas_header){call->headers[i].key.ptr, call->headers[i].value.ptr};
    const char *q = tinyfaas_header(&req, TF_QUERY_HEADER);
    const char *ct = tinyfaas_header(&req, "Content-Type");
    req.query = q != NULL ? q : "";
    req.content_type = ct != NULL ? ct : "";

    int rc = tinyfaas_fn(&req, &res);
    if (rc != 0 && res.len == 0) {
        fail(&res, out, "fn returned %d", rc);
    } else if (res.len > SHIM_MAX_OUTPUT) {
        fail(&res, out, "fn wrote more than %d bytes", (int)SHIM_MAX_OUTPUT);
    } else if (rc != 0) {
        take_response(&res, 500, out);
    } else if (res.status != 0 && (res.status < 100 || res.status > 599)) {
        fail(&res, out, "fn set status %d", res.status);
    } else {
        take_response(&res, res.status != 0 ? (uint16_t)res.status : 200, out);
    }
}

static unsigned threads_from_env(void)
{
    const char *s = getenv("TINYFAAS_THREADS");
    char *end;
    if (s == NULL || s[0] == '\0')
        return TF_DEFAULT_THREADS;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 1 || v > TF_MAX_THREADS) {
        fprintf(stderr, "tinyfaas: TINYFAAS_THREADS=%s is not 1..%d; using %d\n", s, TF_MAX_THREADS,
                TF_DEFAULT_THREADS);
        return TF_DEFAULT_THREADS;
    }
    return (unsigned)v;
}

int main(void)
{
    unsigned threads = threads_from_env();
    /* TINYFAAS_C_INLINE=0: never run calls on the loop thread, for a function
     * whose calls are quick until, rarely, one blocks for long. */
    const char *inl = getenv("TINYFAAS_C_INLINE");
    bool allow_inline = inl == NULL || strcmp(inl, "0") != 0;
    shim_cfg.runtime = "c";
    shim_pool_configure(run_call, threads, allow_inline);
    /* stdout is a pipe to the container log: without line buffering a
     * function's printf() would show up late, or be lost on a crash. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    fprintf(stderr, "tinyfaas: c function, %u threads\n", threads);
    return shim_run(&shim_exec_pool);
}
