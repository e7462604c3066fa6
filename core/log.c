#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "metrics.h"

static int debug_on;

void log_set_debug(int on)
{
    debug_on = on;
}

static void log_line(const char *level, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    /* One fprintf per line: stdio's lock keeps lines from different threads whole. */
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
            level, msg);
}

#define LOG_FN(name, level, guard)                                                                 \
    void name(const char *fmt, ...)                                                                \
    {                                                                                              \
        if (!(guard))                                                                              \
            return;                                                                                \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        log_line(level, fmt, ap);                                                                  \
        va_end(ap);                                                                                \
    }

LOG_FN(log_debug, "debug", debug_on)
LOG_FN(log_info, "info", 1)
LOG_FN(log_warn, "warn", 1)
LOG_FN(log_error, "error", 1)

/* Whether a line may go out now; *quiet gets the count held back before. */
static bool limit_take(struct log_limit *l, unsigned *quiet)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long now_ms = ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
    pthread_mutex_lock(&l->lock);
    *quiet = 0;
    if (!l->started || now_ms - l->window_start_ms >= l->window_s * 1000LL) {
        *quiet = l->suppressed;
        l->started = true;
        l->window_start_ms = now_ms;
        l->logged = l->suppressed = 0;
    }
    bool ok = l->logged < l->per_window;
    if (ok)
        l->logged++;
    else
        l->suppressed++;
    pthread_mutex_unlock(&l->lock);
    if (!ok)
        metrics_limit_hit(METRICS_LIMIT_LOG_LINES);
    return ok;
}

static void vlog_limited(struct log_limit *l, const char *level, const char *fmt, va_list ap)
{
    unsigned quiet;
    if (!limit_take(l, &quiet))
        return;
    if (quiet > 0)
        log_warn("%u more %s not logged (at most %u every %d s)", quiet, l->what, l->per_window,
                 l->window_s);
    log_line(level, fmt, ap);
}

#define LOG_LIMITED_FN(name, level)                                                                \
    void name(struct log_limit *l, const char *fmt, ...)                                           \
    {                                                                                              \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        vlog_limited(l, level, fmt, ap);                                                           \
        va_end(ap);                                                                                \
    }

LOG_LIMITED_FN(log_warn_limited, "warn")
LOG_LIMITED_FN(log_error_limited, "error")
