#include "mgmt_api.h"

#include <errno.h>
#include <jansson.h>
#include <malloc.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fetch.h"
#include "fnzip.h"
#include "http_body.h"
#include "http_deadline.h"
#include "invoke.h"
#include "log.h"
#include "metrics_text.h"
#include "mgmt_auth.h"
#include "mgmt_body.h"
#include "mgmt_ui.h"

struct mgmt_api {
    struct mgmt_config cfg;
    struct lifecycle *lc;
    struct MHD_Daemon *mhd;
    struct http_deadlines *deadlines;
    struct http_log log;
};

/* Connections at once (docs/operations.md, "Limits on clients"): an operator's scripts
 * use one or two. The time bounds are http_deadline.h's. */
#define CONNECTIONS          64
#define CONNECTIONS_PER_PEER 16 /* from one IP address */

/* The text an answer carries, grown as it is written. */
struct text {
    char *data;
    size_t len;
    FILE *f;
};

/* The status that tells an HTTP client what happened. */
static unsigned http_status_of(enum tf_err_kind kind)
{
    switch (kind) {
    case TF_ERR_INVALID:
    case TF_ERR_BUILD: return 400; /* the function's code is the client's input */
    case TF_ERR_NOT_FOUND: return 404;
    case TF_ERR_CONFLICT: return 409;
    case TF_ERR_TOO_LARGE: return 413;
    case TF_ERR_UPSTREAM: return 502;
    case TF_ERR_UNAVAILABLE: return 503;
    case TF_ERR_TIMEOUT: return 504;
    case TF_ERR_NONE:
    case TF_ERR_INTERNAL: break;
    }
    return 500;
}

static enum MHD_Result respond_err(struct MHD_Connection *c, const tf_err *e)
{
    return http_respond_reason(c, http_status_of(e->kind), e->msg);
}

/* The host part of the Host header, for the URLs an upload answers with. */
static void request_host(struct MHD_Connection *c, char *out, size_t size)
{
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (host == NULL || *host == '\0' || strpbrk(host, " \t\r\n/") != NULL)
        host = "localhost";
    snprintf(out, size, "%s", host);
    char *colon = strrchr(out, ':');
    if (colon != NULL && strchr(out, ']') < colon) /* a port, not part of an IPv6 address */
        *colon = '\0';
}

static enum MHD_Result answer_urls(struct mgmt_api *m, struct MHD_Connection *c, const char *name)
{
    char host[256], text[1024];
    size_t n = 0;
    request_host(c, host, sizeof host);
    if (m->cfg.coap_port > 0)
        n += (size_t)snprintf(text + n, sizeof text - n, "coap://%s:%d/%s\n", host,
                              m->cfg.coap_port, name);
    if (m->cfg.coaps_port > 0)
        n += (size_t)snprintf(text + n, sizeof text - n, "coaps://%s:%d/%s\n", host,
                              m->cfg.coaps_port, name);
    if (m->cfg.http_port > 0)
        n += (size_t)snprintf(text + n, sizeof text - n, "http://%s:%d/%s\n", host,
                              m->cfg.http_port, name);
    return http_respond(c, 200, "text/plain; charset=utf-8", text, n);
}

static enum MHD_Result do_upload(struct mgmt_api *m, struct MHD_Connection *c,
                                 const struct http_body *b, bool from_url)
{
    tf_err e = {0};
    struct mgmt_upload u;
    unsigned char *zip = NULL;
    enum MHD_Result ret;
    if (mgmt_upload_parse(b->data, b->len, from_url, &u, &e) < 0)
        goto fail;
    int rc = from_url ? fetch_url(u.code, m->cfg.max_body, &zip, &u.spec.zip_len, &e)
                      : fnzip_base64_decode(u.code, strlen(u.code), &zip, &u.spec.zip_len, &e);
    if (rc < 0 && e.kind == TF_ERR_TOO_LARGE)
        metrics_limit_hit(METRICS_LIMIT_MGMT_MAX_BODY);
    if (rc < 0)
        goto fail;
    u.spec.zip = zip;
    if (lifecycle_deploy(m->lc, &u.spec, &e) < 0)
        goto fail;
    ret = answer_urls(m, c, u.spec.name);
    free(zip);
    mgmt_upload_free(&u);
    return ret;
fail:
    ret = respond_err(c, &e);
    free(zip);
    mgmt_upload_free(&u);
    return ret;
}

/* tinyFaaS's own delete.sh sends the bare name, not JSON: both are taken. */
static const char *bare_name(const struct http_body *b, char *buf, size_t size)
{
    const char *p = b->data != NULL ? b->data : "";
    p += strspn(p, " \t\r\n");
    if (*p == '{' || *p == '\0')
        return NULL;
    snprintf(buf, size, "%.*s", (int)strcspn(p, " \t\r\n"), p);
    return buf;
}

static enum MHD_Result do_delete(struct mgmt_api *m, struct MHD_Connection *c,
                                 const struct http_body *b)
{
    tf_err e = {0};
    char buf[256];
    const char *name = bare_name(b, buf, sizeof buf);
    json_t *j = name == NULL ? mgmt_body_parse(b->data, b->len, &e) : NULL;
    enum MHD_Result ret;
    if ((name == NULL && (j == NULL || mgmt_body_string(j, "name", true, &name, &e) < 0)) ||
        lifecycle_delete(m->lc, name, &e) < 0)
        ret = respond_err(c, &e);
    else
        ret = http_respond(c, 200, NULL, "", 0);
    json_decref(j);
    return ret;
}

static enum MHD_Result do_scale(struct mgmt_api *m, struct MHD_Connection *c,
                                const struct http_body *b)
{
    tf_err e = {0};
    const char *name;
    long long threads = 0;
    json_t *j = mgmt_body_parse(b->data, b->len, &e);
    enum MHD_Result ret;
    /* Unlike an upload, a scale call without threads means nothing: no default. */
    if (j != NULL && json_object_get(j, "threads") == NULL)
        tf_err_set(&e, TF_ERR_INVALID, "missing \"threads\"");
    if (j == NULL || e.kind != TF_ERR_NONE || mgmt_body_string(j, "name", true, &name, &e) < 0 ||
        mgmt_body_threads(j, &threads, &e) < 0 || lifecycle_scale(m->lc, name, threads, &e) < 0)
        ret = respond_err(c, &e);
    else
        ret = answer_urls(m, c, name);
    json_decref(j);
    return ret;
}

static bool wants_json(struct MHD_Connection *c)
{
    const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
    return accept != NULL && strstr(accept, "application/json") != NULL;
}

static enum MHD_Result do_list(struct mgmt_api *m, struct MHD_Connection *c)
{
    json_t *list = lifecycle_list(m->lc);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (wants_json(c)) {
        char *dump = json_dumps(list, JSON_COMPACT);
        fprintf(f, "%s\n", dump ? dump : "[]");
        free(dump);
    } else {
        size_t i;
        json_t *item;
        json_array_foreach(list, i, item)
            fprintf(f, "%s\n", json_string_value(json_object_get(item, "name")));
    }
    fclose(f);
    enum MHD_Result ret = http_respond(
        c, 200, wants_json(c) ? "application/json" : "text/plain; charset=utf-8", text, len);
    free(text);
    json_decref(list);
    return ret;
}

static void append_line(void *ctx, const char *line, size_t len)
{
    struct text *t = ctx;
    fwrite(line, 1, len, t->f);
    fputc('\n', t->f);
}

static enum MHD_Result do_logs(struct mgmt_api *m, struct MHD_Connection *c)
{
    const char *name = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "name");
    const char *since_text = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "since");
    struct text t = {0};
    tf_err e = {0};
    double since = 0;
    char *end = NULL;
    if (since_text != NULL && *since_text != '\0' &&
        ((since = strtod(since_text, &end)), *end != '\0' || !(since >= 0 && since < 1e11))) {
        tf_err_set(&e, TF_ERR_INVALID, "since must be seconds since the epoch, like 1764180000.5");
        return respond_err(c, &e);
    }
    t.f = open_memstream(&t.data, &t.len);
    const char *ts = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "timestamps");
    bool timestamps = ts != NULL && strcmp(ts, "1") == 0;
    int rc =
        lifecycle_logs(m->lc, name && *name ? name : NULL, since, timestamps, append_line, &t, &e);
    fclose(t.f);
    enum MHD_Result ret = rc < 0 ? respond_err(c, &e)
                                 : http_respond(c, 200, "text/plain; charset=utf-8", t.data, t.len);
    free(t.data);
    return ret;
}

/* POST /invoke/NAME calls a function for the dashboard. Through the daemon
 * rather than CORS headers on the HTTP front: the page then talks to its own
 * origin only, no other site a browser visits may read a function's answers
 * through that browser, and the call takes the token like every management
 * call. The caller's headers stay here: its Authorization must never reach
 * a function's code. */
static enum MHD_Result do_invoke(struct mgmt_api *m, struct MHD_Connection *c, const char *name,
                                 const struct http_body *b)
{
    tf_err e = {0};
    struct invoke_answer a;
    if (b->len > m->cfg.max_call_body)
        return http_respond_reason(c, 413, "request body too large");
    const char *type =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    struct hproto_header h = {{"Content-Type", 12}, {type, type ? strlen(type) : 0}};
    struct dispatch_request req = {.method = {"POST", 4},
                                   .headers = &h,
                                   .n_headers = type != NULL ? 1 : 0,
                                   .body = {b->data, b->len}};
    if (invoke_wait(m->cfg.loop, m->cfg.dispatcher, name, &req, &a, &e) < 0)
        return respond_err(c, &e);
    enum MHD_Result ret = http_respond(c, a.status, a.content_type[0] ? a.content_type : NULL,
                                       a.body != NULL ? a.body : "", a.body_len);
    invoke_answer_free(&a);
    return ret;
}

/* GET /metrics: the Prometheus text, rendered now. */
static enum MHD_Result do_metrics(struct MHD_Connection *c)
{
    size_t len = 0;
    char *text = metrics_text(&len);
    if (text == NULL)
        return http_respond_reason(c, 500, "out of memory");
    struct MHD_Response *r = MHD_create_response_from_buffer_with_free_callback(len, text, free);
    if (r == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, METRICS_TEXT_CONTENT_TYPE);
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result route(struct mgmt_api *m, struct MHD_Connection *c, const char *url,
                             const char *method, const struct http_body *b)
{
    bool post = strcmp(method, "POST") == 0, get = strcmp(method, "GET") == 0;
    tf_err e = {0};
    if (strcmp(url, "/upload") == 0 && post)
        return do_upload(m, c, b, false);
    if (strcmp(url, "/uploadURL") == 0 && post)
        return do_upload(m, c, b, true);
    if (strcmp(url, "/delete") == 0 && post)
        return do_delete(m, c, b);
    if (strcmp(url, "/scale") == 0 && post)
        return do_scale(m, c, b);
    if (strcmp(url, "/list") == 0 && get)
        return do_list(m, c);
    if (strcmp(url, "/logs") == 0 && get)
        return do_logs(m, c);
    if (strncmp(url, "/invoke/", 8) == 0 && post)
        return do_invoke(m, c, url + 8, b);
    if (strcmp(url, "/metrics") == 0 && get && m->cfg.metrics)
        return do_metrics(c);
    if (strcmp(url, "/wipe") == 0 && post) {
        if (lifecycle_wipe(m->lc, &e) < 0)
            return respond_err(c, &e);
        return http_respond(c, 200, NULL, "", 0);
    }
    if (strcmp(url, "/metrics") == 0 && m->cfg.metrics)
        return http_respond_reason(c, 405, "method not allowed here");
    const char *known[] = {"/upload", "/uploadURL", "/delete", "/scale", "/list", "/logs", "/wipe"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcmp(url, known[i]) == 0)
            return http_respond_reason(c, 405, "method not allowed here");
    if (strncmp(url, "/invoke/", 8) == 0)
        return http_respond_reason(c, 405, "method not allowed here");
    return http_respond_reason(c, 404, "no such management call");
}

static bool authorized(struct mgmt_api *m, struct MHD_Connection *c, const char *url,
                       const char *method)
{
    bool open_metrics = m->cfg.metrics && m->cfg.metrics_open && strcmp(url, "/metrics") == 0 &&
                        strcmp(method, "GET") == 0;
    return m->cfg.token == NULL || open_metrics ||
           mgmt_token_matches(m->cfg.token, MHD_lookup_connection_value(
                                                c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION));
}

static enum MHD_Result respond_unauthorized(struct MHD_Connection *c)
{
    static const char reason[] =
        "missing or wrong management token: send 'Authorization: Bearer TOKEN' (TINYFAAS_TOKEN)\n";
    struct MHD_Response *r =
        MHD_create_response_from_buffer(sizeof reason - 1, (void *)reason, MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"tinyfaas\"");
    enum MHD_Result ret = MHD_queue_response(c, 401, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *size, void **con_cls)
{
    (void)version;
    struct mgmt_api *m = cls;
    struct http_body *b = *con_cls;
    if (b == NULL)
        http_deadlines_headers_in(c);
    if (b == NULL && mgmt_ui_owns(url, method))
        return mgmt_ui_respond(c, url);
    if (b == NULL && !authorized(m, c, url, method))
        return respond_unauthorized(c); /* before the body: an upload is not even read */
    if (b == NULL) {
        b = calloc(1, sizeof *b);
        if (b == NULL)
            return MHD_NO;
        b->max = m->cfg.max_body;
        *con_cls = b;
        return MHD_YES;
    }
    if (*size != 0) {
        http_body_append(b, data, *size);
        *size = 0;
        return MHD_YES;
    }
    if (b->too_large) {
        metrics_limit_hit(METRICS_LIMIT_MGMT_MAX_BODY);
        return http_respond_reason(c, 413, "request body too large");
    }
    return route(m, c, url, method, b);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    (void)cls;
    http_deadlines_request_done(c);
    if (code == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED)
        metrics_limit_hit(METRICS_LIMIT_MGMT_BODY_IDLE);
    struct http_body *b = *con_cls;
    if (b != NULL) {
        http_body_free(b);
        free(b);
    }
    *con_cls = NULL;
    /* A deploy allocates megabytes (the zip, its base64, the build context)
     * that glibc keeps once freed; handing them back keeps the daemon at its
     * idle size between deploys. Management requests are rare: cheap here. */
    malloc_trim(0);
}

int mgmt_api_start(const struct mgmt_config *cfg, struct lifecycle *lc, struct mgmt_api **out,
                   tf_err *err)
{
    struct mgmt_api *m = calloc(1, sizeof *m);
    if (m == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    m->cfg = *cfg;
    m->lc = lc;
    if (http_deadlines_create(HTTP_HEADER_DEADLINE_MS, METRICS_LIMIT_MGMT_HEADER_DEADLINE,
                              &m->deadlines) < 0) {
        free(m);
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    }
    m->log = (struct http_log){.lines = LOG_LIMIT_INIT("management server messages", 20, 60),
                               .deadlines = m->deadlines,
                               .max_connections = CONNECTIONS,
                               .connections = METRICS_LIMIT_MGMT_CONNECTIONS,
                               .connections_per_ip = METRICS_LIMIT_MGMT_CONNECTIONS_PER_IP};
    /* A thread per connection: deploys block on Docker for seconds and must
     * not hold up a /list or /logs meanwhile. poll(), not select(): with
     * thousands of invocation connections open, this one's descriptor is
     * past select's 1024. */
    // clang-format off
    m->mhd = MHD_start_daemon(
        MHD_USE_POLL_INTERNAL_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG,
        (uint16_t)cfg->port, NULL, NULL, on_request, m,
        MHD_OPTION_EXTERNAL_LOGGER, http_log_limited, &m->log,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, m,
        MHD_OPTION_NOTIFY_CONNECTION, http_deadlines_notify, m->deadlines,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONNECTIONS,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)CONNECTIONS_PER_PEER,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_BODY_IDLE_S,
        MHD_OPTION_END);
    // clang-format on
    if (m->mhd != NULL && http_deadlines_sweep_in_thread(m->deadlines) < 0) {
        MHD_stop_daemon(m->mhd);
        m->mhd = NULL;
    }
    if (m->mhd == NULL) {
        http_deadlines_free(m->deadlines);
        free(m);
        return tf_err_set(err, TF_ERR_INTERNAL,
                          "cannot listen for the management API on TCP port %d", cfg->port);
    }
    log_info("management API listening on TCP port %d", cfg->port);
    *out = m;
    return 0;
}

void mgmt_api_stop(struct mgmt_api *m)
{
    if (m == NULL)
        return;
    MHD_stop_daemon(m->mhd);
    http_deadlines_free(m->deadlines);
    free(m);
}
