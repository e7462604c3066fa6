#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static volatile sig_atomic_t stop_signalled;

static void on_stop_signal(int sig)
{
    (void)sig;
    stop_signalled = 1;
}

void bench_stop_on_signals(void)
{
    /* No SA_RESTART: a generator asleep in poll wakes up to stop. */
    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

bool bench_stopped(void)
{
    return stop_signalled != 0;
}

int bench_parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int bench_parse_seconds(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= 0) || v > 86400)
        return -1;
    *out = v;
    return 0;
}

/* Splits "HOST[:PORT]" at the colon and fills u->addr. */
static int url_host(const char *host, size_t len, uint16_t default_port, struct bench_url *u,
                    char *err, size_t errlen)
{
    char buf[64];
    if (len == 0 || len >= sizeof buf) {
        snprintf(err, errlen, "bad host");
        return -1;
    }
    memcpy(buf, host, len);
    buf[len] = '\0';
    long port = default_port;
    char *colon = strchr(buf, ':');
    if (colon != NULL) {
        *colon = '\0';
        if (bench_parse_long(colon + 1, 1, 65535, &port) < 0) {
            snprintf(err, errlen, "bad port '%s'", colon + 1);
            return -1;
        }
    }
    const char *ip = strcmp(buf, "localhost") == 0 ? "127.0.0.1" : buf;
    memset(&u->addr, 0, sizeof u->addr);
    u->addr.sin_family = AF_INET;
    u->addr.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, ip, &u->addr.sin_addr) != 1) {
        snprintf(err, errlen, "host '%s' is not an IPv4 address", buf);
        return -1;
    }
    return 0;
}

int bench_url_parse(const char *url, const char *scheme, uint16_t default_port, struct bench_url *u,
                    char *err, size_t errlen)
{
    size_t sl = strlen(scheme);
    if (strncmp(url, scheme, sl) != 0 || strncmp(url + sl, "://", 3) != 0) {
        snprintf(err, errlen, "'%s' does not start with %s://", url, scheme);
        return -1;
    }
    const char *host = url + sl + 3;
    const char *slash = strchr(host, '/');
    const char *path = slash != NULL ? slash + 1 : "";
    size_t hlen = slash != NULL ? (size_t)(slash - host) : strlen(host);
    if (url_host(host, hlen, default_port, u, err, errlen) < 0)
        return -1;
    if (strlen(path) >= sizeof u->path) {
        snprintf(err, errlen, "path too long");
        return -1;
    }
    strcpy(u->path, path);
    return 0;
}

int bench_stats_answer(struct bench_stats *s, uint64_t ns, bool ok)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 65536;
        uint64_t *p = realloc(s->lat_ns, cap * sizeof *p);
        if (p == NULL)
            return -1;
        s->lat_ns = p;
        s->cap = cap;
    }
    s->lat_ns[s->n++] = ns;
    if (ok)
        s->ok++;
    else
        s->errors++;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted latencies, in microseconds. */
static double pct_us(const struct bench_stats *s, double p)
{
    if (s->n == 0)
        return 0;
    size_t rank = (size_t)(p / 100.0 * (double)s->n + 0.999999);
    size_t i = rank == 0 ? 0 : rank - 1;
    return (double)s->lat_ns[i < s->n ? i : s->n - 1] / 1000.0;
}

void bench_stats_report(struct bench_stats *s, double seconds, bool json, FILE *out)
{
    qsort(s->lat_ns, s->n, sizeof *s->lat_ns, cmp_u64);
    uint64_t calls = s->ok + s->errors + s->timeouts;
    double rate = seconds > 0 ? (double)calls / seconds : 0;
    double p50 = pct_us(s, 50), p90 = pct_us(s, 90), p99 = pct_us(s, 99);
    double p999 = pct_us(s, 99.9), max = pct_us(s, 100);
    if (json) {
        fprintf(out,
                "{\"calls\":%llu,\"seconds\":%.3f,\"calls_per_s\":%.1f,\"p50_us\":%.1f,"
                "\"p90_us\":%.1f,\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,"
                "\"ok\":%llu,\"errors\":%llu,\"timeouts\":%llu,\"duplicates\":%llu,"
                "\"retransmits\":%llu}\n",
                (unsigned long long)calls, seconds, rate, p50, p90, p99, p999, max,
                (unsigned long long)s->ok, (unsigned long long)s->errors,
                (unsigned long long)s->timeouts, (unsigned long long)s->duplicates,
                (unsigned long long)s->retransmits);
        return;
    }
    fprintf(out, "calls %llu in %.3f s: %.1f calls/s\n", (unsigned long long)calls, seconds, rate);
    fprintf(out, "latency us: p50 %.1f  p90 %.1f  p99 %.1f  p99.9 %.1f  max %.1f\n", p50, p90, p99,
            p999, max);
    fprintf(out, "ok %llu  errors %llu  timeouts %llu  duplicates %llu  retransmits %llu\n",
            (unsigned long long)s->ok, (unsigned long long)s->errors,
            (unsigned long long)s->timeouts, (unsigned long long)s->duplicates,
            (unsigned long long)s->retransmits);
}

void bench_stats_free(struct bench_stats *s)
{
    free(s->lat_ns);
    s->lat_ns = NULL;
    s->n = s->cap = 0;
}

void bench_progress(const char *path, const struct bench_stats *s)
{
    static uint64_t next;
    uint64_t now = bench_now_ns();
    if (path == NULL || now < next)
        return;
    next = now + 100000000u;
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return;
    fprintf(f, "%llu %llu %llu\n", (unsigned long long)s->ok, (unsigned long long)s->errors,
            (unsigned long long)s->timeouts);
    if (fclose(f) == 0)
        rename(tmp, path);
}
