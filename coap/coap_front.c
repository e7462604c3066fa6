#include "coap_front.h"

#include <coap3/coap.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "coap_options.h"
#include "log.h"

struct coap_front {
    struct loop *loop;
    struct dispatcher *d;
    coap_context_t *ctx;
    struct loop_watch watch;
    bool triggered; /* an async response is due: run libcoap once more this iteration */
    struct pending *pendings;
};

/* A request waiting for its function; answered as a separate response. */
struct pending {
    struct coap_front *f;
    coap_async_t *async;
    struct dispatch_call *call; /* NULL once the result is in */
    struct pending *prev, *next;
    enum dispatch_outcome outcome;
    uint16_t status;
    uint16_t content_format;
    bool has_content_format;
    unsigned char *body;
    size_t body_len;
};

static void pending_unlink(struct pending *p)
{
    if (p->prev)
        p->prev->next = p->next;
    else
        p->f->pendings = p->next;
    if (p->next)
        p->next->prev = p->prev;
}

static void pending_free(struct pending *p)
{
    pending_unlink(p);
    free(p->body);
    free(p);
}

static void on_done(void *ctx, const struct dispatch_result *res)
{
    struct pending *p = ctx;
    p->call = NULL;
    p->outcome = res->outcome;
    p->status = res->status;
    p->has_content_format = coap_content_format_of(res->content_type, &p->content_format);
    if (res->body.len > 0) {
        p->body = malloc(res->body.len);
        if (p->body == NULL) {
            p->outcome = DISPATCH_LOST;
        } else {
            memcpy(p->body, res->body.ptr, res->body.len);
            p->body_len = res->body.len;
        }
    }
    coap_async_trigger(p->async);
    p->f->triggered = true;
}

static void respond_error(coap_pdu_t *resp, int code, const char *msg)
{
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE(code));
    if (msg != NULL)
        coap_add_data(resp, strlen(msg), (const uint8_t *)msg);
}

/* Fills the separate response from the function's result. */
static void respond_result(coap_pdu_t *resp, const struct pending *p)
{
    if (p->outcome == DISPATCH_TIMEOUT) {
        respond_error(resp, 504, "function timed out");
        return;
    }
    if (p->outcome == DISPATCH_LOST) {
        respond_error(resp, 502, "function handler failed");
        return;
    }
    int code = p->status == 200 ? 205 : p->status;
    coap_pdu_set_code(resp, COAP_RESPONSE_CODE(code));
    if (p->has_content_format && p->body_len > 0) {
        uint8_t buf[4];
        coap_add_option(resp, COAP_OPTION_CONTENT_FORMAT,
                        coap_encode_var_safe(buf, sizeof buf, p->content_format), buf);
    }
    if (p->body_len > 0 && !coap_add_data(resp, p->body_len, p->body)) {
        coap_pdu_set_code(resp, COAP_RESPONSE_CODE(500));
        respond_error(resp, 500, NULL);
    }
}

static struct hproto_bytes method_of(coap_pdu_code_t code)
{
    switch (code) {
    case COAP_REQUEST_CODE_GET: return (struct hproto_bytes){"GET", 3};
    case COAP_REQUEST_CODE_POST: return (struct hproto_bytes){"POST", 4};
    case COAP_REQUEST_CODE_PUT: return (struct hproto_bytes){"PUT", 3};
    default: return (struct hproto_bytes){"DELETE", 6};
    }
}

/* Starts the call; the response goes out separately when the result is in. */
static void start_call(struct coap_front *f, coap_session_t *s, const coap_pdu_t *req,
                       const coap_string_t *query, struct dispatch_fn *fn, coap_pdu_t *resp)
{
    struct coap_headers headers;
    coap_options_to_headers(req, query, &headers);
    size_t len = 0;
    const uint8_t *data = NULL;
    coap_get_data(req, &len, &data);
    struct pending *p = calloc(1, sizeof *p);
    coap_async_t *async = p != NULL ? coap_register_async(s, req, 0) : NULL;
    if (async == NULL) {
        free(p);
        respond_error(resp, 503, "cannot take the request now");
        return;
    }
    p->f = f;
    p->async = async;
    struct dispatch_request dreq = {.method = method_of(coap_pdu_get_code(req)),
                                    .headers = headers.h,
                                    .n_headers = headers.n,
                                    .body = {(const char *)data, len}};
    int rc = dispatch_call(f->d, fn, &dreq, on_done, p, &p->call);
    if (rc < 0) {
        coap_free_async(s, async);
        free(p);
        respond_error(resp, 503,
                      rc == -EHOSTUNREACH ? "function has no live handler" : "out of memory");
        return;
    }
    coap_async_set_app_data(async, p);
    p->next = f->pendings;
    if (f->pendings)
        f->pendings->prev = p;
    f->pendings = p;
}

static void on_request(coap_resource_t *r, coap_session_t *s, const coap_pdu_t *req,
                       const coap_string_t *query, coap_pdu_t *resp)
{
    (void)r;
    struct coap_front *f = coap_get_app_data(coap_session_get_context(s));
    coap_async_t *async = coap_find_async(s, coap_pdu_get_token(req));
    if (async != NULL) {
        /* The re-run of a triggered request: libcoap frees the async after us. */
        struct pending *p = coap_async_get_app_data(async);
        if (p != NULL) {
            respond_result(resp, p);
            pending_free(p);
        }
        return;
    }
    coap_string_t *path = coap_get_uri_path(req);
    struct dispatch_fn *fn =
        path != NULL ? dispatch_lookup(f->d, (const char *)path->s, path->length) : NULL;
    coap_delete_string(path);
    if (fn == NULL) {
        respond_error(resp, 404, NULL);
        return;
    }
    start_call(f, s, req, query, fn, resp);
}

static void on_readable(void *ctx, uint32_t events)
{
    (void)events;
    struct coap_front *f = ctx;
    coap_io_process(f->ctx, COAP_IO_NO_WAIT);
}

static int coap_tick(void *ctx)
{
    struct coap_front *f = ctx;
    if (f->triggered) {
        /* Sends the separate responses of the calls that finished this iteration. */
        f->triggered = false;
        coap_io_process(f->ctx, COAP_IO_NO_WAIT);
    }
    return -1; /* libcoap's own timers wake its epoll fd */
}

int coap_front_start(struct loop *l, struct dispatcher *d, int port, struct coap_front **out,
                     tf_err *err)
{
    coap_startup();
    coap_set_log_level(LOG_WARNING);
    struct coap_front *f = calloc(1, sizeof *f);
    if (f == NULL)
        return tf_err_set(err, 500, "out of memory"), -ENOMEM;
    f->loop = l;
    f->d = d;
    f->ctx = coap_new_context(NULL);
    coap_address_t addr;
    coap_address_init(&addr);
    addr.addr.sin.sin_family = AF_INET;
    addr.addr.sin.sin_addr.s_addr = htonl(INADDR_ANY);
    addr.addr.sin.sin_port = htons((uint16_t)port);
    if (f->ctx == NULL || coap_new_endpoint(f->ctx, &addr, COAP_PROTO_UDP) == NULL) {
        tf_err_set(err, 500, "cannot listen for CoAP on UDP port %d", port);
        goto fail;
    }
    coap_set_app_data(f->ctx, f);
    coap_resource_t *any = coap_resource_unknown_init2(on_request, 0);
    coap_register_request_handler(any, COAP_REQUEST_GET, on_request);
    coap_register_request_handler(any, COAP_REQUEST_POST, on_request);
    coap_register_request_handler(any, COAP_REQUEST_DELETE, on_request);
    coap_add_resource(f->ctx, any);
    f->watch =
        (struct loop_watch){.fd = coap_context_get_coap_fd(f->ctx), .fn = on_readable, .ctx = f};
    if (f->watch.fd < 0 || loop_add(l, &f->watch, EPOLLIN) < 0 ||
        loop_add_ticker(l, coap_tick, f) < 0) {
        tf_err_set(err, 500, "cannot watch the CoAP socket (libcoap without epoll?)");
        goto fail;
    }
    log_info("CoAP listening on UDP port %d", port);
    *out = f;
    return 0;
fail:
    if (f->ctx != NULL)
        coap_free_context(f->ctx);
    free(f);
    coap_cleanup();
    return -1;
}

void coap_front_stop(struct coap_front *f)
{
    if (f == NULL)
        return;
    loop_remove(f->loop, &f->watch);
    while (f->pendings != NULL) {
        if (f->pendings->call != NULL)
            dispatch_detach(f->pendings->call);
        pending_free(f->pendings);
    }
    coap_free_context(f->ctx);
    coap_cleanup();
    free(f);
}
