#include "invoke.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* One call under way; it lives on the waiting thread's stack. */
struct invoke_op {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    struct dispatcher *d;
    const char *name;
    const struct dispatch_request *req;
    struct invoke_answer *out;
    tf_err *err;
    int rc;
};

const char *invoke_refusal(int rc)
{
    switch (rc) {
    case -EHOSTUNREACH: return "function has no live handler";
    case -EBUSY: return "function busy: every handler is at its concurrency and the queue is full";
    case -ENOBUFS: return "function busy: its handlers are not reading the calls sent to them";
    default: return "out of memory";
    }
}

/* Wakes the waiting thread; rc and err are set before. */
static void op_finish(struct invoke_op *op)
{
    pthread_mutex_lock(&op->lock);
    op->done = true;
    pthread_cond_signal(&op->cond);
    pthread_mutex_unlock(&op->lock);
}

/* The answer is copied: its pointers live only during this callback. */
static void on_done(void *ctx, const struct dispatch_result *res)
{
    struct invoke_op *op = ctx;
    struct invoke_answer *a = op->out;
    if (res->outcome == DISPATCH_TIMEOUT)
        op->rc = tf_err_set(op->err, TF_ERR_TIMEOUT, "function timed out");
    else if (res->outcome == DISPATCH_LOST)
        op->rc = tf_err_set(op->err, res->status == 503 ? TF_ERR_UNAVAILABLE : TF_ERR_UPSTREAM,
                            "%s", dispatch_lost_reason(res->status));
    else if (res->body.len > 0 && (a->body = malloc(res->body.len)) == NULL)
        op->rc = tf_err_set(op->err, TF_ERR_INTERNAL, "out of memory");
    if (op->rc == 0) {
        a->status = res->status;
        if (res->body.len > 0)
            memcpy(a->body, res->body.ptr, a->body_len = res->body.len);
        size_t ct = res->content_type.len < sizeof a->content_type ? res->content_type.len : 0;
        if (ct > 0) /* a failed call has no content type at all: a NULL pointer */
            memcpy(a->content_type, res->content_type.ptr, ct);
        a->content_type[ct] = '\0';
    }
    op_finish(op);
}

/* On the loop thread: the lookup and the call, as the HTTP front makes them. */
static void start_call(void *arg, bool cancelled)
{
    struct invoke_op *op = arg;
    struct dispatch_function *func =
        cancelled ? NULL : dispatch_lookup(op->d, op->name, strlen(op->name));
    int rc = 0;
    if (cancelled)
        op->rc = tf_err_set(op->err, TF_ERR_UNAVAILABLE, "the daemon is shutting down");
    else if (func == NULL)
        op->rc = tf_err_set(op->err, TF_ERR_NOT_FOUND, "no such function");
    else if ((rc = dispatch_call(op->d, func, op->req, on_done, op, NULL)) < 0)
        op->rc = tf_err_set(op->err, TF_ERR_UNAVAILABLE, "%s", invoke_refusal(rc));
    else
        return; /* on_done finishes it */
    op_finish(op);
}

int invoke_wait(struct loop *l, struct dispatcher *d, const char *name,
                const struct dispatch_request *req, struct invoke_answer *out, tf_err *err)
{
    struct invoke_op op = {.d = d, .name = name, .req = req, .out = out, .err = err};
    memset(out, 0, sizeof *out);
    pthread_mutex_init(&op.lock, NULL);
    pthread_cond_init(&op.cond, NULL);
    if (loop_post(l, start_call, &op) < 0) {
        op.rc = tf_err_set(err, TF_ERR_UNAVAILABLE, "the daemon is shutting down");
    } else {
        /* No time bound of its own: done runs exactly once, at the latest
         * when the call times out or the dispatcher is destroyed, and op
         * must outlive it. */
        pthread_mutex_lock(&op.lock);
        while (!op.done)
            pthread_cond_wait(&op.cond, &op.lock);
        pthread_mutex_unlock(&op.lock);
    }
    pthread_cond_destroy(&op.cond);
    pthread_mutex_destroy(&op.lock);
    if (op.rc < 0)
        invoke_answer_free(out);
    return op.rc;
}

void invoke_answer_free(struct invoke_answer *a)
{
    free(a->body);
    a->body = NULL;
    a->body_len = 0;
}
