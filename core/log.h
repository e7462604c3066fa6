/* Daemon log: one line per event on stderr, with time and level, or with a
 * syslog priority prefix when stderr is the journal. Thread-safe. */
#ifndef TF_LOG_H
#define TF_LOG_H

#include <pthread.h>
#include <stdbool.h>

/* Sets whether debug lines are printed. */
void log_set_debug(int on);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A budget of lines for one kind of warning a network peer can cause, so
 * that no client can fill the disk or spend the daemon's time on logging:
 * at most per_window lines in each window of window_s seconds; the lines
 * past it are counted, and the count is logged with the first line of a
 * later window. Thread-safe. Declare with LOG_LIMIT_INIT. */
struct log_limit {
    const char *what; /* names the lines in the count: "malformed datagrams" */
    unsigned per_window;
    int window_s;
    pthread_mutex_t lock;
    bool started;
    long long window_start_ms; /* CLOCK_MONOTONIC */
    unsigned logged, suppressed;
};
#define LOG_LIMIT_INIT(what, per_window, window_s)                                                 \
    {                                                                                              \
        (what), (per_window), (window_s), PTHREAD_MUTEX_INITIALIZER, false, 0, 0, 0                \
    }

/* log_warn and log_error within l's budget. */
void log_warn_limited(struct log_limit *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_error_limited(struct log_limit *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
