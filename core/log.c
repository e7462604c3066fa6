#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

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
