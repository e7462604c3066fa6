#include "metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics_internal.h"

/* Every counter is a relaxed atomic: a scrape needs each value whole, not
 * an order between them, and relaxed increments cost no fence on the loop
 * thread. Slots are never freed: a call that finishes after its function
 * was deleted (or replaced) still holds a valid slot, with no reference
 * count to touch per call, and a function deployed again under the same
 * name continues its counters, as Prometheus expects of a counter. The
 * cost is bounded by METRICS_FUNCTIONS_MAX. */
struct metrics_registry metrics_reg = {.unknown = {.name = "_unknown"},
                                       .other = {.name = "_other"}};

const unsigned metrics_codes[METRICS_CODES - 1] = {200, 201, 202, 203, 204, 205, 231, 400,
                                                   401, 402, 403, 404, 405, 406, 408, 412,
                                                   413, 415, 429, 500, 501, 502, 503, 504};

#define MS (1000000ull)
const uint64_t metrics_call_bounds[METRICS_CALL_BUCKETS] = {
    MS / 10,  MS / 4,   MS / 2,   MS,        MS * 5 / 2, MS * 5,    MS * 10,    MS * 25,   MS * 50,
    MS * 100, MS * 250, MS * 500, MS * 1000, MS * 2500,  MS * 5000, MS * 10000, MS * 30000};
const uint64_t metrics_deploy_bounds[METRICS_DEPLOY_BUCKETS] = {
    MS * 100,   MS * 250,   MS * 500,   MS * 1000,   MS * 2500,   MS * 5000,
    MS * 10000, MS * 30000, MS * 60000, MS * 120000, MS * 300000, MS * 1200000};

/* Answer code -> its slot in metrics_codes (METRICS_CODES - 1: other). */
static uint8_t code_slot[600];
static pthread_mutex_t make_lock = PTHREAD_MUTEX_INITIALIZER;

void metrics_init(bool enabled)
{
    metrics_reg.enabled = enabled;
    memset(code_slot, METRICS_CODES - 1, sizeof code_slot);
    for (unsigned i = 0; i < METRICS_CODES - 1; i++)
        code_slot[metrics_codes[i]] = (uint8_t)i;
}

bool metrics_enabled(void)
{
    return metrics_reg.enabled;
}

static struct metrics_fn *find(const char *name, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(metrics_reg.fns[i]->name, name) == 0)
            return metrics_reg.fns[i];
    return NULL;
}

struct metrics_fn *metrics_function(const char *name)
{
    if (!metrics_reg.enabled)
        return NULL;
    pthread_mutex_lock(&make_lock);
    size_t n = atomic_load_explicit(&metrics_reg.n, memory_order_relaxed);
    struct metrics_fn *fn = find(name, n);
    if (fn == NULL && n < METRICS_FUNCTIONS_MAX && (fn = calloc(1, sizeof *fn)) != NULL) {
        snprintf(fn->name, sizeof fn->name, "%s", name);
        metrics_reg.fns[n] = fn;
        /* Release: a scrape that sees n + 1 sees the slot whole. */
        atomic_store_explicit(&metrics_reg.n, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&make_lock);
    return fn != NULL ? fn : &metrics_reg.other;
}

struct metrics_fn *metrics_unknown(void)
{
    return metrics_reg.enabled ? &metrics_reg.unknown : NULL;
}

uint64_t metrics_start(void)
{
    if (!metrics_reg.enabled)
        return 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void add(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* The bucket of a duration: the first whose bound holds it (le is inclusive). */
static size_t bucket_of(const uint64_t *bounds, size_t n, uint64_t ns)
{
    size_t i = 0;
    while (i < n && ns > bounds[i])
        i++;
    return i;
}

void metrics_call_done(struct metrics_fn *fn, enum metrics_proto p, unsigned code, uint64_t start)
{
    if (fn == NULL)
        return;
    uint64_t now = metrics_start(), ns = now > start ? now - start : 0;
    add(&fn->calls[p][code < sizeof code_slot ? code_slot[code] : METRICS_CODES - 1], 1);
    struct metrics_call_hist *h = &fn->duration[p];
    add(&h->bucket[bucket_of(metrics_call_bounds, METRICS_CALL_BUCKETS, ns)], 1);
    add(&h->sum_ns, ns);
}

void metrics_in_flight_add(struct metrics_fn *fn, int delta)
{
    if (fn != NULL)
        atomic_fetch_add_explicit(&fn->in_flight, delta, memory_order_relaxed);
}

void metrics_queued_add(struct metrics_fn *fn, int delta)
{
    if (fn != NULL)
        atomic_fetch_add_explicit(&fn->queued, delta, memory_order_relaxed);
}

void metrics_handlers_set(struct metrics_fn *fn, size_t n)
{
    if (fn != NULL)
        atomic_store_explicit(&fn->handlers, (long)n, memory_order_relaxed);
}

void metrics_handler_restarts(struct metrics_fn *fn, unsigned n)
{
    if (fn != NULL)
        add(&fn->restarts, n);
}

void metrics_deploy_done(struct metrics_fn *fn, enum metrics_deploy result, uint64_t start)
{
    if (fn == NULL)
        return;
    uint64_t now = metrics_start(), ns = now > start ? now - start : 0;
    add(&fn->deploys[result], 1);
    add(&metrics_reg.deploy_buckets[bucket_of(metrics_deploy_bounds, METRICS_DEPLOY_BUCKETS, ns)],
        1);
    add(&metrics_reg.deploy_sum_ns, ns);
}

void metrics_limit_hit(enum metrics_limit l)
{
    if (metrics_reg.enabled)
        add(&metrics_reg.limits[l], 1);
}

void metrics_count(enum metrics_counter c)
{
    if (metrics_reg.enabled)
        add(&metrics_reg.counters[c], 1);
}

void metrics_gauge_add(enum metrics_gauge g, long delta)
{
    if (metrics_reg.enabled)
        atomic_fetch_add_explicit(&metrics_reg.gauges[g], delta, memory_order_relaxed);
}

void metrics_gauge_set(enum metrics_gauge g, long value)
{
    if (metrics_reg.enabled)
        atomic_store_explicit(&metrics_reg.gauges[g], value, memory_order_relaxed);
}

const char *metrics_limit_name(enum metrics_limit l)
{
    static const char *const names[METRICS_LIMITS] = {
        [METRICS_LIMIT_HTTP_CONNECTIONS] = "http_connections",
        [METRICS_LIMIT_HTTP_CONNECTIONS_PER_IP] = "http_connections_per_ip",
        [METRICS_LIMIT_HTTP_HEADER_DEADLINE] = "http_header_deadline",
        [METRICS_LIMIT_HTTP_BODY_IDLE] = "http_body_idle",
        [METRICS_LIMIT_MAX_BODY] = "max_body",
        [METRICS_LIMIT_COAP_ANSWER_BYTES] = "coap_answer_bytes",
        [METRICS_LIMIT_COAP_ENDPOINTS] = "coap_endpoints",
        [METRICS_LIMIT_COAP_UPLOADS] = "coap_uploads",
        [METRICS_LIMIT_COAP_UPLOADS_PER_ENDPOINT] = "coap_uploads_per_endpoint",
        [METRICS_LIMIT_COAP_UPLOAD_BYTES] = "coap_upload_bytes",
        [METRICS_LIMIT_COAP_AMPLIFICATION] = "coap_amplification",
        [METRICS_LIMIT_HANDLER_QUEUE_BYTES] = "handler_queue_bytes",
        [METRICS_LIMIT_FUNCTION_QUEUE] = "function_queue",
        [METRICS_LIMIT_CALL_TIMEOUT] = "call_timeout",
        [METRICS_LIMIT_HANDLER_MESSAGE_BYTES] = "handler_message_bytes",
        [METRICS_LIMIT_MGMT_CONNECTIONS] = "mgmt_connections",
        [METRICS_LIMIT_MGMT_CONNECTIONS_PER_IP] = "mgmt_connections_per_ip",
        [METRICS_LIMIT_MGMT_HEADER_DEADLINE] = "mgmt_header_deadline",
        [METRICS_LIMIT_MGMT_BODY_IDLE] = "mgmt_body_idle",
        [METRICS_LIMIT_MGMT_MAX_BODY] = "mgmt_max_body",
        [METRICS_LIMIT_MGMT_CODE_SIZE] = "mgmt_code_size",
        [METRICS_LIMIT_LOG_LINES] = "log_lines",
    };
    return names[l];
}
