/* Metrics: what the daemon counts for Prometheus (docs/metrics.md), kept in
 * fixed arrays of relaxed C11 atomics so that recording a call takes no lock
 * and no allocation on the data path. A function's counters live in a slot
 * made when it is first published (the control path) and found by its name;
 * the text is rendered only when scraped (metrics_text.h).
 *
 * Recording is thread-safe. With metrics off (metrics_init(false)) every
 * call here returns at once and metrics_function gives NULL. */
#ifndef TF_METRICS_H
#define TF_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum metrics_proto { METRICS_COAP, METRICS_COAPS, METRICS_HTTP, METRICS_PROTOS };

/* Each bound that refuses a client or a handler, a label value each
 * (metrics_limit_name; the table in docs/metrics.md). */
enum metrics_limit {
    METRICS_LIMIT_HTTP_CONNECTIONS,
    METRICS_LIMIT_HTTP_CONNECTIONS_PER_IP,
    METRICS_LIMIT_HTTP_HEADER_DEADLINE,
    METRICS_LIMIT_HTTP_BODY_IDLE,
    METRICS_LIMIT_MAX_BODY,
    METRICS_LIMIT_COAP_ANSWER_BYTES,
    METRICS_LIMIT_COAP_ENDPOINTS,
    METRICS_LIMIT_COAP_UPLOADS,
    METRICS_LIMIT_COAP_UPLOADS_PER_ENDPOINT,
    METRICS_LIMIT_COAP_UPLOAD_BYTES,
    METRICS_LIMIT_COAP_AMPLIFICATION,
    METRICS_LIMIT_HANDLER_QUEUE_BYTES,
    METRICS_LIMIT_FUNCTION_QUEUE,
    METRICS_LIMIT_CALL_TIMEOUT,
    METRICS_LIMIT_HANDLER_MESSAGE_BYTES,
    METRICS_LIMIT_MGMT_CONNECTIONS,
    METRICS_LIMIT_MGMT_CONNECTIONS_PER_IP,
    METRICS_LIMIT_MGMT_HEADER_DEADLINE,
    METRICS_LIMIT_MGMT_BODY_IDLE,
    METRICS_LIMIT_MGMT_MAX_BODY,
    METRICS_LIMIT_MGMT_CODE_SIZE,
    METRICS_LIMIT_LOG_LINES,
    METRICS_LIMITS
};

/* Counters and gauges that belong to no function. */
enum metrics_counter { METRICS_COAP_DUPLICATES, METRICS_COAP_SEPARATE, METRICS_COUNTERS };
enum metrics_gauge { METRICS_COAP_ENDPOINTS, METRICS_DTLS_SESSIONS, METRICS_GAUGES };

/* How a deploy ended (the result label). */
enum metrics_deploy {
    METRICS_DEPLOY_SUCCESS,
    METRICS_DEPLOY_INVALID,     /* refused: bad input, or over a limit */
    METRICS_DEPLOY_BUILD_ERROR, /* the function's code did not build */
    METRICS_DEPLOY_TIMEOUT,
    METRICS_DEPLOY_ERROR, /* the engine, the daemon */
    METRICS_DEPLOY_RESULTS
};

struct metrics_fn;

/* Turns recording on or off, once, before any thread starts. */
void metrics_init(bool enabled);

bool metrics_enabled(void);

/* The slot of function name, made at its first use and kept for the
 * daemon's lifetime; past METRICS_FUNCTIONS_MAX names, the shared "_other"
 * one. NULL with metrics off. Control path: it may lock and allocate. */
struct metrics_fn *metrics_function(const char *name);

/* The slot of calls to a name that is no function ("_unknown"); NULL with
 * metrics off. */
struct metrics_fn *metrics_unknown(void);

/* Now, for a call's start; 0 with metrics off (no clock read). */
uint64_t metrics_start(void);

/* A finished call of fn (NULL: nothing recorded) over p, answered code (an
 * HTTP status, or a CoAP code as class * 100 + detail), started at start. */
void metrics_call_done(struct metrics_fn *fn, enum metrics_proto p, unsigned code, uint64_t start);

/* fn's calls sent to a handler and not answered yet, and those waiting in
 * its queue, moved by delta; its live handlers, set. */
void metrics_in_flight_add(struct metrics_fn *fn, int delta);
void metrics_queued_add(struct metrics_fn *fn, int delta);
void metrics_handlers_set(struct metrics_fn *fn, size_t n);

/* n handlers of fn replaced by the healer. */
void metrics_handler_restarts(struct metrics_fn *fn, unsigned n);

/* A deploy of fn ended with result after it started at start. */
void metrics_deploy_done(struct metrics_fn *fn, enum metrics_deploy result, uint64_t start);

void metrics_limit_hit(enum metrics_limit l);
void metrics_count(enum metrics_counter c);
void metrics_gauge_add(enum metrics_gauge g, long delta);
void metrics_gauge_set(enum metrics_gauge g, long value);

#endif
