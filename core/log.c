#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>

#include "metrics.h"

struct level {
    const char *name;
    int priority; /* syslog's, for the journal */
};
static const struct level debug_level = {"debug", LOG_DEBUG}, info_level = {"info", LOG_INFO},
                          warn_level = {"warn", LOG_WARNING}, error_level = {"error", LOG_ERR};

static int debug_on;
static pthread_once_t journal_once = PTHREAD_ONCE_INIT;
static bool to_journal;

void log_set_debug(int on)
{
    debug_on = on;
}

/* systemd sets JOURNAL_STREAM to "DEVICE:INODE" of the stream it connected
 * stderr to; a stderr redirected since (to a file, a pipe) does not match,
 * and keeps the stamped format. */
static void find_journal(void)
{
    const char *env = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    char end;
    to_journal = env != NULL && sscanf(env, "%llu:%llu%c", &dev, &ino, &end) == 2 &&
                 fstat(2, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

/* The journal stamps each entry itself, and takes a "<N>" syslog priority
 * at the start of a line as its level (sd-daemon.h); the level's word stays
 * for `journalctl -o cat` and grep. A message of several lines (a
 * compiler's, say) is several entries: each gets the level. */
static void journal_line(const struct level *lv, const char *msg)
{
    const char *line = msg, *nl = strchr(msg, '\n');
    flockfile(stderr);
    for (; nl != NULL; line = nl + 1, nl = strchr(line, '\n'))
        fprintf(stderr, "<%d>%s %.*s\n", lv->priority, lv->name, (int)(nl - line), line);
    fprintf(stderr, "<%d>%s %s\n", lv->priority, lv->name, line);
    funlockfile(stderr);
}

static void log_line(const struct level *lv, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    pthread_once(&journal_once, find_journal);
    if (to_journal) {
        journal_line(lv, msg);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    /* One fprintf per line: stdio's lock keeps lines from different threads whole. */
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
            lv->name, msg);
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

LOG_FN(log_debug, &debug_level, debug_on)
LOG_FN(log_info, &info_level, 1)
LOG_FN(log_warn, &warn_level, 1)
LOG_FN(log_error, &error_level, 1)

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

static void vlog_limited(struct log_limit *l, const struct level *lv, const char *fmt, va_list ap)
{
    unsigned quiet;
    if (!limit_take(l, &quiet))
        return;
    if (quiet > 0)
        log_warn("%u more %s not logged (at most %u every %d s)", quiet, l->what, l->per_window,
                 l->window_s);
    log_line(lv, fmt, ap);
}

#define LOG_LIMITED_FN(name, level)                                                                \
    void name(struct log_limit *l, const char *fmt, ...)                                           \
    {                                                                                              \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        vlog_limited(l, level, fmt, ap);                                                           \
        va_end(ap);                                                                                \
    }

LOG_LIMITED_FN(log_warn_limited, &warn_level)
LOG_LIMITED_FN(log_error_limited, &error_level)
