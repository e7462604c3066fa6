/* One error convention for the whole project: functions return 0 on success
 * or a negative errno-style code, and fill a tf_err with the HTTP-like status
 * and the one-line reason that reaches the user. */
#ifndef TF_ERR_H
#define TF_ERR_H

#include <stdarg.h>

#define TF_ERR_MSG_MAX 1536

typedef struct tf_err {
    int status;               /* HTTP-like status for the user: 400, 404, 500, ... */
    char msg[TF_ERR_MSG_MAX]; /* one line, no trailing newline */
} tf_err;

/* Records status and a printf-style reason; err may be NULL. Returns -1. */
int tf_err_set(tf_err *err, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Clears err to "no error" (status 0, empty message). */
void tf_err_clear(tf_err *err);

#endif
