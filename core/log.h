/* Daemon log: one line per event on stderr, with time and level. Thread-safe. */
#ifndef TF_LOG_H
#define TF_LOG_H

/* Sets whether debug lines are printed. */
void log_set_debug(int on);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
