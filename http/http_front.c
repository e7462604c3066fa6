#include "http_front.h"

#include <microhttpd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_body.h"
#include "http_deadline.h"
#include "invoke.h"
#include "log.h"
#include "metrics.h"

#define ASYNC_HEADER "X-tinyFaaS-Async"

/* What one client may hold at once (docs/operations.md, "Limits on clients"); the time
 * bounds are http_deadline.h's. */
#define CONNECTIONS_PER_PEER 256  /* from one IP address */
#define SWEEP_MS             1000 /* how often deadlines are checked */

struct http_front {
    struct loop *loop;
    struct dispatcher *d;
    struct MHD_Daemon *mhd;
    struct http_deadlines *deadlines;
    int64_t next_sweep_ms;
    struct loop_watch watch;
    size_t max_body;
    bool resumed; /* a connection was resumed: libmicrohttpd must run this iteration */
    struct http_req *suspended; /* requests waiting for their function */
    struct http_log log;
};

struct http_req {
    struct http_front *f;
    struct MHD_Connection *conn;
    char *query; /* the raw query string, as the client sent it; NULL when none */
    struct http_body body;
    struct dispatch_call *call;   /* non-NULL while suspended */
    struct http_req *prev, *next; /* on f->suspended */
    uint64_t start;               /* when its request line came (metrics_start) */
    struct metrics_fn *metrics;   /* the slot its answer is counted in */
    bool have_result;
    enum dispatch_outcome outcome;
    unsigned status;
    char content_type[128];
    char *result;
    size_t result_len;
};

struct header_list {
    struct hproto_header h[HPROTO_MAX_HEADERS];
    size_t n;
};

static void unlink_suspended(struct http_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        r->f->suspended = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

static void on_done(void *ctx, const struct dispatch_result *res)
{
    struct http_req *r = ctx;
    r->call = NULL;
    r->have_result = true;
    r->outcome = res->outcome;
    r->status = res->status;
    size_t ct = res->content_type.len < sizeof r->content_type ? res->content_type.len : 0;
    if (ct > 0) /* a failed call has no content type at all: a NULL pointer */
        memcpy(r->content_type, res->content_type.ptr, ct);
    r->content_type[ct] = '\0';
    if (res->body.len > 0) {
        r->result = malloc(res->body.len);
        if (r->result == NULL) {
            r->outcome = DISPATCH_LOST;
            r->status = 502;
        } else
            memcpy(r->result, res->body.ptr, r->result_len = res->body.len);
    }
    unlink_suspended(r);
    MHD_resume_connection(r->conn);
    r->f->resumed = true;
}

/* Answers r at once with status and a reason, counted. */
static enum MHD_Result answer(struct http_req *r, unsigned status, const char *reason)
{
    metrics_call_done(r->metrics, METRICS_HTTP, status, r->start);
    return http_respond_reason(r->conn, status, reason);
}

static enum MHD_Result respond_result(struct http_req *r)
{
    if (r->outcome == DISPATCH_TIMEOUT)
        return answer(r, 504, "function timed out");
    if (r->outcome == DISPATCH_LOST)
        return answer(r, r->status, dispatch_lost_reason(r->status));
    metrics_call_done(r->metrics, METRICS_HTTP, r->status, r->start);
    /* The buffer goes to libmicrohttpd as is: no copy of the response body. */
    struct MHD_Response *resp =
        MHD_create_response_from_buffer_with_free_callback(r->result_len, r->result, free);
    if (resp == NULL)
        return MHD_NO;
    r->result = NULL;
    if (r->content_type[0] != '\0')
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    enum MHD_Result ret = MHD_queue_response(r->conn, r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    struct header_list *l = cls;
    if (l->n == HPROTO_MAX_HEADERS)
        return MHD_NO;
    l->h[l->n++] = (struct hproto_header){{key, strlen(key)}, {value, value ? strlen(value) : 0}};
    return MHD_YES;
}

/* The function url names, or NULL. */
static struct dispatch_function *function_of(struct http_front *f, const char *url)
{
    const char *name = url[0] == '/' ? url + 1 : url;
    size_t len = strlen(name);
    while (len > 0 && name[len - 1] == '/')
        len--;
    return dispatch_lookup(f->d, name, len);
}

static enum MHD_Result start_call(struct http_req *r, struct dispatch_function *func,
                                  const char *method)
{
    struct http_front *f = r->f;
    struct header_list headers = {.n = 0};
    MHD_get_connection_values(r->conn, MHD_HEADER_KIND, collect_header, &headers);
    if (r->query != NULL && headers.n < HPROTO_MAX_HEADERS)
        collect_header(&headers, MHD_HEADER_KIND, "X-Tinyfaas-Query", r->query);
    struct dispatch_request req = {.method = {method, strlen(method)},
                                   .headers = headers.h,
                                   .n_headers = headers.n,
                                   .body = {r->body.data, r->body.len}};
    bool async = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, ASYNC_HEADER) != NULL;
    int rc = dispatch_call(f->d, func, &req, async ? NULL : on_done, r, async ? NULL : &r->call);
    if (rc < 0)
        return answer(r, 503, invoke_refusal(rc));
    if (async) {
        metrics_call_done(r->metrics, METRICS_HTTP, 202, r->start);
        return http_respond(r->conn, 202, NULL, "", 0);
    }
    r->next = f->suspended;
    if (f->suspended)
        f->suspended->prev = r;
    f->suspended = r;
    MHD_suspend_connection(r->conn);
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    struct http_front *f = cls;
    struct http_req *r = *con_cls;
    if (r == NULL)
        return MHD_NO; /* the URI callback could not allocate */
    if (r->conn == NULL) {
        r->conn = conn;
        r->body.max = f->max_body;
        http_deadlines_headers_in(conn);
        return MHD_YES;
    }
    if (*upload_size != 0) {
        http_body_append(&r->body, upload_data, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->have_result)
        return respond_result(r);
    struct dispatch_function *func = function_of(f, url);
    r->metrics = func != NULL ? dispatch_metrics(func) : metrics_unknown();
    if (r->body.too_large) {
        metrics_limit_hit(METRICS_LIMIT_MAX_BODY);
        return answer(r, 413, "request body too large");
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0 && strcmp(method, "PUT") != 0)
        return answer(r, 405, "use GET, POST or PUT to call a function");
    if (func == NULL)
        return answer(r, 404, "no such function");
    return start_call(r, func, method);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    (void)cls;
    http_deadlines_request_done(conn);
    if (code == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED)
        metrics_limit_hit(METRICS_LIMIT_HTTP_BODY_IDLE);
    struct http_req *r = *con_cls;
    if (r == NULL)
        return;
    if (r->call != NULL) {
        dispatch_detach(r->call);
        unlink_suspended(r);
    }
    http_body_free(&r->body);
    free(r->result);
    free(r->query);
    free(r);
    *con_cls = NULL;
}

/* Sees the request line's URI before libmicrohttpd splits it: the one place
 * the raw query string (as a function may want it) is available. */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)conn;
    struct http_req *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->f = cls;
    r->start = metrics_start();
    const char *q = strchr(uri, '?');
    if (q != NULL && q[1] != '\0')
        r->query = strdup(q + 1);
    return r;
}

static void on_readable(void *ctx, uint32_t events)
{
    (void)events;
    struct http_front *f = ctx;
    MHD_run(f->mhd);
}

static int http_tick(void *ctx)
{
    struct http_front *f = ctx;
    MHD_UNSIGNED_LONG_LONG ms;
    if (f->resumed) {
        /* A resumed connection does not wake libmicrohttpd's epoll fd by itself
         * in external-loop mode: run it now so the response leaves at once. */
        f->resumed = false;
        MHD_run(f->mhd);
    }
    int64_t now = loop_now_ms();
    if (now >= f->next_sweep_ms) {
        http_deadlines_sweep(f->deadlines);
        f->next_sweep_ms = now + SWEEP_MS;
    }
    if (MHD_get_timeout(f->mhd, &ms) != MHD_YES)
        return -1; /* no connection: no deadline either */
    if (ms == 0)
        MHD_run(f->mhd); /* connection timeouts are due */
    int64_t until_sweep = f->next_sweep_ms - now;
    return ms > (MHD_UNSIGNED_LONG_LONG)until_sweep ? (int)until_sweep : (int)ms;
}

int http_front_start(struct loop *l, struct dispatcher *d, int port, size_t max_body,
                     unsigned max_connections, struct http_front **out, tf_err *err)
{
    struct http_front *f = calloc(1, sizeof *f);
    if (f == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    f->loop = l;
    f->d = d;
    f->max_body = max_body;
    if (http_deadlines_create(HTTP_HEADER_DEADLINE_MS, METRICS_LIMIT_HTTP_HEADER_DEADLINE,
                              &f->deadlines) < 0) {
        free(f);
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    }
    f->log = (struct http_log){.lines = LOG_LIMIT_INIT("HTTP invocation server messages", 20, 60),
                               .deadlines = f->deadlines,
                               .max_connections = max_connections,
                               .connections = METRICS_LIMIT_HTTP_CONNECTIONS,
                               .connections_per_ip = METRICS_LIMIT_HTTP_CONNECTIONS_PER_IP};
    /* No internal thread: the loop thread runs libmicrohttpd from its own epoll, so a
     * request reaches the dispatcher without crossing threads. */
    // clang-format off
    f->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG,
                              (uint16_t)port, NULL, NULL, on_request, f,
                              MHD_OPTION_EXTERNAL_LOGGER, http_log_limited, &f->log,
                              MHD_OPTION_URI_LOG_CALLBACK, on_uri, f,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, f,
                              MHD_OPTION_NOTIFY_CONNECTION, http_deadlines_notify, f->deadlines,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_BODY_IDLE_S,
                              MHD_OPTION_CONNECTION_LIMIT, max_connections,
                              MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)CONNECTIONS_PER_PEER,
                              MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(16 << 10),
                              MHD_OPTION_END);
    // clang-format on
    if (f->mhd == NULL) {
        http_deadlines_free(f->deadlines);
        free(f);
        return tf_err_set(err, TF_ERR_INTERNAL, "cannot listen for HTTP on TCP port %d", port);
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(f->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    f->watch = (struct loop_watch){.fd = info->epoll_fd, .fn = on_readable, .ctx = f};
    if (loop_add(l, &f->watch, EPOLLIN) < 0 || loop_add_ticker(l, http_tick, f) < 0) {
        MHD_stop_daemon(f->mhd);
        http_deadlines_free(f->deadlines);
        free(f);
        return tf_err_set(err, TF_ERR_INTERNAL, "cannot watch the HTTP socket");
    }
    log_info("HTTP invocation listening on TCP port %d", port);
    *out = f;
    return 0;
}

void http_front_stop(struct http_front *f)
{
    if (f == NULL)
        return;
    loop_remove(f->loop, &f->watch);
    /* libmicrohttpd must not be stopped with suspended connections: answer them first. */
    while (f->suspended != NULL) {
        struct http_req *r = f->suspended;
        dispatch_detach(r->call);
        r->call = NULL;
        struct dispatch_result res = {.outcome = DISPATCH_LOST, .status = 502};
        on_done(r, &res);
    }
    MHD_run(f->mhd);
    MHD_stop_daemon(f->mhd);
    http_deadlines_free(f->deadlines);
    free(f);
}
