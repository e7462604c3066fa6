/* What the load generators share: a clock, the target URL, per-call
 * latencies and the one report format (text or JSON) they all print. */
#ifndef BENCH_H
#define BENCH_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define BENCH_PATH_MAX 256

/* Monotonic nanoseconds. */
uint64_t bench_now_ns(void);

struct bench_url {
    struct sockaddr_in addr;
    char path[BENCH_PATH_MAX]; /* without the leading '/', may hold "?query" */
};

/* Parses SCHEME://IPV4[:PORT]/PATH ("localhost" allowed as the host).
 * Returns 0, or -1 with a one-line reason in err. */
int bench_url_parse(const char *url, const char *scheme, uint16_t default_port, struct bench_url *u,
                    char *err, size_t errlen);

/* Parses a decimal number in [min, max]; returns 0 or -1. */
int bench_parse_long(const char *s, long min, long max, long *out);

/* Parses a non-negative decimal number of seconds; returns 0 or -1. */
int bench_parse_seconds(const char *s, double *out);

/* From now on SIGTERM and SIGINT end the run as if its calls or seconds were
 * used up: calls in flight finish and the report is printed. A test starts a
 * load, does what it tests, and then stops the load. */
void bench_stop_on_signals(void);

/* Whether one of those signals came. */
bool bench_stopped(void);

struct bench_stats {
    uint64_t *lat_ns; /* one entry per answered call, in completion order */
    size_t n, cap;
    uint64_t ok, errors, timeouts, duplicates, retransmits;
};

/* Records one answered call's latency; ok tells 2.xx from the rest.
 * Returns 0 or -1 when out of memory. */
int bench_stats_answer(struct bench_stats *s, uint64_t ns, bool ok);

/* Prints calls/s, the percentiles and the counts; sorts s->lat_ns. */
void bench_stats_report(struct bench_stats *s, double seconds, bool json, FILE *out);

/* With path set (-P), writes "OK ERRORS TIMEOUTS\n" there at most every
 * 100 ms, replacing the file whole, so that a test can wait until calls are
 * being answered before it acts, and until more are after. */
void bench_progress(const char *path, const struct bench_stats *s);

/* Releases the latencies. */
void bench_stats_free(struct bench_stats *s);

#endif
