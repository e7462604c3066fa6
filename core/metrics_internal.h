/* The metrics registry's layout, shared by the recording (metrics.c) and
 * the exposition (metrics_text.c) only. */
#ifndef TF_METRICS_INTERNAL_H
#define TF_METRICS_INTERNAL_H

#include <stdatomic.h>

#include "metrics.h"
#include "names.h"

/* Function slots at most: each is about 2 KiB, kept for the daemon's
 * lifetime, so this bounds what deploying ever new names costs. */
#define METRICS_FUNCTIONS_MAX 1024

/* The answer codes counted apart; any other goes to the last slot, "other". */
#define METRICS_CODES (24 + 1)
extern const unsigned metrics_codes[METRICS_CODES - 1];

/* Call durations: upper bounds in ns from 100 us to 30 s, then +Inf. */
#define METRICS_CALL_BUCKETS 17
extern const uint64_t metrics_call_bounds[METRICS_CALL_BUCKETS];

/* Deploy durations: from 100 ms to 20 min, then +Inf. */
#define METRICS_DEPLOY_BUCKETS 12
extern const uint64_t metrics_deploy_bounds[METRICS_DEPLOY_BUCKETS];

/* Counts per bucket (not cumulative: the exposition sums them), the last
 * one past every bound; their total is the count. */
struct metrics_call_hist {
    atomic_uint_fast64_t bucket[METRICS_CALL_BUCKETS + 1];
    atomic_uint_fast64_t sum_ns;
};

struct metrics_fn {
    char name[NAME_MAX_LEN + 1];
    atomic_uint_fast64_t calls[METRICS_PROTOS][METRICS_CODES];
    struct metrics_call_hist duration[METRICS_PROTOS];
    atomic_long in_flight, queued, handlers;
    atomic_uint_fast64_t restarts;
    atomic_uint_fast64_t deploys[METRICS_DEPLOY_RESULTS];
};

struct metrics_registry {
    bool enabled;
    /* Slots [0, n) are complete: n is stored with release after the slot. */
    struct metrics_fn *fns[METRICS_FUNCTIONS_MAX];
    atomic_size_t n;
    struct metrics_fn unknown, other;
    atomic_uint_fast64_t limits[METRICS_LIMITS];
    atomic_uint_fast64_t counters[METRICS_COUNTERS];
    atomic_long gauges[METRICS_GAUGES];
    atomic_uint_fast64_t deploy_buckets[METRICS_DEPLOY_BUCKETS + 1];
    atomic_uint_fast64_t deploy_sum_ns;
};

extern struct metrics_registry metrics_reg;

/* The label value of limit l. */
const char *metrics_limit_name(enum metrics_limit l);

#endif
