/* The project's error convention, stated once.
 *
 * A function that can fail returns an int: 0 (or a count) on success, a
 * negative value on failure; callers test `< 0`.
 *
 * - When it takes a `tf_err *err`, err says what happened (a kind) and why
 *   (a one-line reason that reaches the user). The negative value means
 *   nothing more, so callers branch on err->kind, never on the value.
 *   tf_err_set returns -1, which makes a failure one statement:
 *       return tf_err_set(err, TF_ERR_INVALID, "threads must be 1 to %d", max);
 * - When it takes none (the data path: loop, hconn, dispatch_call, hproto),
 *   the value is a negative errno, listed in the function's comment.
 *
 * Core reports what happened; each front end maps a kind to its protocol's
 * status (the management API: mgmt_api.c). */
#ifndef TF_ERR_H
#define TF_ERR_H

#include <stdarg.h>

#define TF_ERR_MSG_MAX 1536

enum tf_err_kind {
    TF_ERR_NONE = 0,
    TF_ERR_INVALID,     /* the caller's input is wrong: a name, a spec, a zip, a setting */
    TF_ERR_TOO_LARGE,   /* the caller's input is over a documented limit */
    TF_ERR_NOT_FOUND,   /* what was asked for does not exist */
    TF_ERR_CONFLICT,    /* it exists already, or what it needs is taken */
    TF_ERR_BUILD,       /* the function's code or dependencies did not build */
    TF_ERR_UNAVAILABLE, /* something the daemon needs does not answer, or it is stopping */
    TF_ERR_UPSTREAM,    /* something the daemon asked answered wrongly (the engine, a URL) */
    TF_ERR_TIMEOUT,     /* no answer in time */
    TF_ERR_INTERNAL,    /* the daemon's own failure: out of memory, its files */
};

typedef struct tf_err {
    enum tf_err_kind kind;
    char msg[TF_ERR_MSG_MAX]; /* one line, no trailing newline */
} tf_err;

/* Records kind and a printf-style reason; err may be NULL. Returns -1. */
int tf_err_set(tf_err *err, enum tf_err_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Clears err to "no error" (TF_ERR_NONE, empty message). */
void tf_err_clear(tf_err *err);

#endif
