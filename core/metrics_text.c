#include "metrics_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics_internal.h"

/* Reads are relaxed loads of values that keep moving: each sample is whole,
 * and a scrape is a snapshot only to within the calls it overlaps. */
#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

static const char *const proto_names[METRICS_PROTOS] = {"coap", "coaps", "http"};

static const char *const deploy_results[METRICS_DEPLOY_RESULTS] = {
    "success", "invalid", "build_error", "timeout", "error"};

static void family(FILE *f, const char *name, const char *type, const char *help)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* The code label: HTTP's as a number, CoAP's as class.detail (2.05). */
static void code_label(char *out, size_t size, enum metrics_proto p, size_t slot)
{
    if (slot == METRICS_CODES - 1)
        snprintf(out, size, "other");
    else if (p == METRICS_HTTP)
        snprintf(out, size, "%u", metrics_codes[slot]);
    else
        snprintf(out, size, "%u.%02u", metrics_codes[slot] / 100, metrics_codes[slot] % 100);
}

/* Every function slot in use: the named ones, then the two shared ones. */
struct slots {
    struct metrics_fn *fn[METRICS_FUNCTIONS_MAX + 2];
    size_t n, named;
};

static void slots_take(struct slots *s)
{
    size_t n = atomic_load_explicit(&metrics_reg.n, memory_order_acquire);
    for (s->n = 0; s->n < n; s->n++)
        s->fn[s->n] = metrics_reg.fns[s->n];
    s->named = n;
    s->fn[s->n++] = &metrics_reg.unknown;
    s->fn[s->n++] = &metrics_reg.other;
}

static void write_calls(FILE *f, const struct slots *s)
{
    family(f, "tinyfaas_calls_total", "counter",
           "Calls answered, by function, protocol and answer code.");
    char code[16];
    for (size_t i = 0; i < s->n; i++)
        for (int p = 0; p < METRICS_PROTOS; p++)
            for (size_t c = 0; c < METRICS_CODES; c++) {
                uint64_t v = LOAD(s->fn[i]->calls[p][c]);
                if (v == 0)
                    continue;
                code_label(code, sizeof code, (enum metrics_proto)p, c);
                fprintf(f,
                        "tinyfaas_calls_total{function=\"%s\",protocol=\"%s\",code=\"%s\"} "
                        "%llu\n",
                        s->fn[i]->name, proto_names[p], code, (unsigned long long)v);
            }
}

/* One histogram's samples; labels is "" or "k=\"v\",..." followed by a comma. */
static void write_histogram(FILE *f, const char *name, const char *labels,
                            atomic_uint_fast64_t *buckets, const uint64_t *bounds, size_t n,
                            uint64_t sum_ns)
{
    uint64_t total = 0;
    for (size_t b = 0; b <= n; b++) {
        total += LOAD(buckets[b]);
        if (b < n)
            fprintf(f, "%s_bucket{%sle=\"%g\"} %llu\n", name, labels, (double)bounds[b] / 1e9,
                    (unsigned long long)total);
        else
            fprintf(f, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels, (unsigned long long)total);
    }
    /* The labels without their trailing comma, for _sum and _count. */
    int len = (int)strlen(labels);
    const char *open = len > 0 ? "{" : "", *close = len > 0 ? "}" : "";
    len = len > 0 ? len - 1 : 0;
    fprintf(f, "%s_sum%s%.*s%s %.9f\n", name, open, len, labels, close, (double)sum_ns / 1e9);
    fprintf(f, "%s_count%s%.*s%s %llu\n", name, open, len, labels, close,
            (unsigned long long)total);
}

static uint64_t hist_count(struct metrics_call_hist *h)
{
    uint64_t n = 0;
    for (size_t b = 0; b <= METRICS_CALL_BUCKETS; b++)
        n += LOAD(h->bucket[b]);
    return n;
}

static void write_durations(FILE *f, const struct slots *s)
{
    family(f, "tinyfaas_call_duration_seconds", "histogram",
           "Time from a call's request to its answer, by function and protocol.");
    char labels[128];
    for (size_t i = 0; i < s->n; i++)
        for (int p = 0; p < METRICS_PROTOS; p++) {
            struct metrics_call_hist *h = &s->fn[i]->duration[p];
            if (hist_count(h) == 0)
                continue;
            snprintf(labels, sizeof labels, "function=\"%s\",protocol=\"%s\",", s->fn[i]->name,
                     proto_names[p]);
            write_histogram(f, "tinyfaas_call_duration_seconds", labels, h->bucket,
                            metrics_call_bounds, METRICS_CALL_BUCKETS, LOAD(h->sum_ns));
        }
}

typedef long long slot_value_fn(struct metrics_fn *fn);
static long long in_flight_of(struct metrics_fn *fn)
{
    return LOAD(fn->in_flight);
}
static long long queued_of(struct metrics_fn *fn)
{
    return LOAD(fn->queued);
}
static long long handlers_of(struct metrics_fn *fn)
{
    return LOAD(fn->handlers);
}
static long long restarts_of(struct metrics_fn *fn)
{
    return (long long)LOAD(fn->restarts);
}

/* A per-function gauge or counter, for every named function. */
static void write_per_function(FILE *f, const struct slots *s, const char *name, const char *type,
                               const char *help, slot_value_fn *value)
{
    family(f, name, type, help);
    for (size_t i = 0; i < s->named; i++)
        fprintf(f, "%s{function=\"%s\"} %lld\n", name, s->fn[i]->name, value(s->fn[i]));
}

static void write_deploys(FILE *f, const struct slots *s)
{
    family(f, "tinyfaas_deploys_total", "counter",
           "Deploys (uploads, and kept functions brought back at start) by function and result.");
    for (size_t i = 0; i < s->n; i++)
        for (int r = 0; r < METRICS_DEPLOY_RESULTS; r++) {
            uint64_t v = LOAD(s->fn[i]->deploys[r]);
            if (v > 0)
                fprintf(f, "tinyfaas_deploys_total{function=\"%s\",result=\"%s\"} %llu\n",
                        s->fn[i]->name, deploy_results[r], (unsigned long long)v);
        }
    family(f, "tinyfaas_deploy_duration_seconds", "histogram",
           "Time a deploy took, from its request to its function serving (or its failure).");
    write_histogram(f, "tinyfaas_deploy_duration_seconds", "", metrics_reg.deploy_buckets,
                    metrics_deploy_bounds, METRICS_DEPLOY_BUCKETS, LOAD(metrics_reg.deploy_sum_ns));
}

static void write_single(FILE *f, const char *name, const char *type, const char *help, long long v)
{
    family(f, name, type, help);
    fprintf(f, "%s %lld\n", name, v);
}

static void write_front_ends(FILE *f)
{
    write_single(f, "tinyfaas_coap_duplicates_total", "counter",
                 "CoAP requests seen again (RFC 7252 4.5), answered without running the function.",
                 (long long)LOAD(metrics_reg.counters[METRICS_COAP_DUPLICATES]));
    write_single(f, "tinyfaas_coap_separate_responses_total", "counter",
                 "CoAP answers sent separately, after an empty ACK (RFC 7252 5.2.2).",
                 (long long)LOAD(metrics_reg.counters[METRICS_COAP_SEPARATE]));
    write_single(f, "tinyfaas_coap_endpoints", "gauge",
                 "CoAP client endpoints remembered, with their last answers.",
                 LOAD(metrics_reg.gauges[METRICS_COAP_ENDPOINTS]));
    write_single(f, "tinyfaas_dtls_sessions", "gauge",
                 "DTLS sessions held, handshakes under way included.",
                 LOAD(metrics_reg.gauges[METRICS_DTLS_SESSIONS]));
    family(f, "tinyfaas_limit_hits_total", "counter",
           "Times a bound refused a client or a handler, by bound (docs/metrics.md).");
    for (int l = 0; l < METRICS_LIMITS; l++)
        fprintf(f, "tinyfaas_limit_hits_total{limit=\"%s\"} %llu\n",
                metrics_limit_name((enum metrics_limit)l),
                (unsigned long long)LOAD(metrics_reg.limits[l]));
}

char *metrics_text(size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    struct slots *s = malloc(sizeof *s);
    if (f == NULL || s == NULL) {
        if (f != NULL)
            fclose(f);
        free(s);
        free(text);
        return NULL;
    }
    slots_take(s);
    write_calls(f, s);
    write_durations(f, s);
    write_per_function(f, s, "tinyfaas_calls_in_flight", "gauge",
                       "Calls sent to a handler and not answered yet.", in_flight_of);
    write_per_function(f, s, "tinyfaas_calls_queued", "gauge",
                       "Calls waiting for a handler under the function's concurrency.", queued_of);
    write_per_function(f, s, "tinyfaas_function_handlers", "gauge",
                       "Handlers of the function that serve now.", handlers_of);
    write_per_function(f, s, "tinyfaas_handler_restarts_total", "counter",
                       "Handlers that had stopped or no longer served, replaced by the daemon.",
                       restarts_of);
    write_deploys(f, s);
    write_front_ends(f);
    metrics_proc_write(f);
    free(s);
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    return text;
}
