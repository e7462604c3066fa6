/* The dispatcher's control path: publish, reroute and unpublish, run on
 * the loop thread for a caller that waits; the versions of a function
 * being published or retired, and the listing of broken handlers. */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "dispatch_internal.h"
#include "log.h"
#include "metrics.h"
#include "route.h"

/* A control operation; it lives on the waiting thread's stack. */
struct op {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool done;
    int rc;
    tf_err *err;
    struct dispatcher *d;
    const char *name;
    const struct dispatch_endpoint *eps;
    size_t n;
    int ready_timeout_ms;
    int call_timeout_ms;
    unsigned max_inflight;
    bool routed_is_done;            /* complete once routed, not once the old version drained */
    struct metrics_fn *metrics;     /* the function's slot, found on the control thread */
    struct dispatch_broken *broken; /* dispatch_broken_handlers: filled up to max_broken */
    size_t max_broken, n_broken;
};

/* ---- control operations ---- */

/* Ends op: a success with TF_ERR_NONE, else a failure of kind, why msg. */
static void op_complete(struct op *op, enum tf_err_kind kind, const char *msg)
{
    pthread_mutex_lock(&op->lock);
    op->rc = kind == TF_ERR_NONE ? 0 : tf_err_set(op->err, kind, "%s", msg);
    op->done = true;
    pthread_cond_signal(&op->cond);
    pthread_mutex_unlock(&op->lock);
}

static int op_run(struct dispatcher *d, struct op *op, loop_task_fn *task)
{
    pthread_mutex_init(&op->lock, NULL);
    pthread_cond_init(&op->cond, NULL);
    op->d = d;
    int rc = loop_post(d->loop, task, op);
    if (rc < 0) {
        rc = tf_err_set(op->err, TF_ERR_UNAVAILABLE, "the daemon is shutting down");
    } else {
        pthread_mutex_lock(&op->lock);
        while (!op->done)
            pthread_cond_wait(&op->cond, &op->lock);
        pthread_mutex_unlock(&op->lock);
        rc = op->rc;
    }
    pthread_cond_destroy(&op->cond);
    pthread_mutex_destroy(&op->lock);
    return rc;
}

/* ---- the versions being published or retired ---- */

static void pending_add(struct dispatch_function *func)
{
    func->next_pending = func->d->pending;
    func->d->pending = func;
}

static void pending_remove(struct dispatch_function *func)
{
    for (struct dispatch_function **p = &func->d->pending; *p; p = &(*p)->next_pending)
        if (*p == func) {
            *p = func->next_pending;
            return;
        }
}

void dispatch_function_free(struct dispatch_function *func)
{
    dispatch_down_remove(func);
    dispatch_queue_fail(func);
    for (size_t i = 0; i < func->n; i++)
        dispatch_handler_close(&func->handlers[i]);
    free(func->handlers);
    free(func);
}

static void retire(struct dispatch_function *func, struct op *op)
{
    dispatch_down_remove(func); /* a version going away is not reconnected */
    dispatch_queue_fail(func);  /* none when a new version took them over */
    func->state = FUNCTION_RETIRING;
    func->op = op;
    func->deadline = loop_now_ms() + func->call_timeout_ms;
    pending_add(func);
    for (size_t i = 0; i < func->n; i++)
        if (func->handlers[i].inflight == 0)
            dispatch_handler_close(&func->handlers[i]);
    dispatch_retire_check(func);
}

void dispatch_retire_check(struct dispatch_function *func)
{
    for (size_t i = 0; i < func->n; i++)
        if (func->handlers[i].conn != NULL)
            return;
    pending_remove(func);
    if (func->op != NULL)
        op_complete(func->op, TF_ERR_NONE, "");
    dispatch_function_free(func);
}

void dispatch_go_live(struct dispatch_function *func)
{
    struct dispatcher *d = func->d;
    void *old = NULL;
    pending_remove(func);
    struct op *op = func->op;
    func->op = NULL;
    if (route_put(d->routes, func->name, func, &old) < 0) {
        op_complete(op, TF_ERR_INTERNAL, "out of memory while routing the function");
        dispatch_function_free(func);
        return;
    }
    func->state = FUNCTION_LIVE;
    metrics_handlers_set(func->metrics, func->n_ready);
    if (old == NULL && d->route_fn != NULL)
        d->route_fn(d->route_ctx, func->name, true);
    log_info("function %s: %zu handler(s) ready, routed", func->name, func->n);
    if (old != NULL)
        dispatch_queue_move(old, func);
    if (old != NULL && !op->routed_is_done) {
        retire(old, op); /* the publish completes when the old version has drained */
        return;
    }
    if (old != NULL)
        retire(old, NULL);
    op_complete(op, TF_ERR_NONE, "");
}

/* ---- publish and unpublish, run on the loop thread ---- */

static void publish_task(void *arg, bool cancelled)
{
    struct op *op = arg;
    if (cancelled) {
        op_complete(op, TF_ERR_UNAVAILABLE, "the daemon is shutting down");
        return;
    }
    struct dispatch_function *func = calloc(1, sizeof *func);
    struct handler *handlers = calloc(op->n, sizeof *handlers);
    if (func == NULL || handlers == NULL) {
        free(func);
        free(handlers);
        op_complete(op, TF_ERR_INTERNAL, "out of memory");
        return;
    }
    *func = (struct dispatch_function){
        .d = op->d,
        .state = FUNCTION_PUBLISHING,
        .handlers = handlers,
        .n = op->n,
        .op = op,
        .deadline = loop_now_ms() + op->ready_timeout_ms,
        .call_timeout_ms = op->call_timeout_ms > 0 ? op->call_timeout_ms : op->d->call_timeout_ms,
        .max_inflight = op->max_inflight,
        .metrics = op->metrics};
    snprintf(func->name, sizeof func->name, "%s", op->name);
    snprintf(func->last_error, sizeof func->last_error, "no handler answered");
    pending_add(func);
    for (size_t i = 0; i < op->n; i++) {
        handlers[i] = (struct handler){.func = func, .ep = op->eps[i]};
        if (dispatch_handler_connect(&handlers[i]) < 0)
            handlers[i].retry_at = loop_now_ms() + RETRY_CONNECT_MS;
    }
}

static void unpublish_task(void *arg, bool cancelled)
{
    struct op *op = arg;
    if (cancelled) {
        op_complete(op, TF_ERR_UNAVAILABLE, "the daemon is shutting down");
        return;
    }
    struct dispatch_function *func = route_remove(op->d->routes, op->name);
    if (func == NULL) {
        op_complete(op, TF_ERR_NOT_FOUND, "no such function");
        return;
    }
    if (op->d->route_fn != NULL)
        op->d->route_fn(op->d->route_ctx, op->name, false);
    metrics_handlers_set(func->metrics, 0);
    retire(func, op);
}

static int publish(struct dispatcher *d, const char *name, const struct dispatch_endpoint *eps,
                   size_t n, int ready_timeout_ms, const struct dispatch_limits *lim,
                   bool routed_is_done, tf_err *err)
{
    if (n == 0)
        return tf_err_set(err, TF_ERR_INVALID, "a function needs at least one handler");
    struct op op = {.err = err,
                    .name = name,
                    .eps = eps,
                    .n = n,
                    .ready_timeout_ms = ready_timeout_ms,
                    .call_timeout_ms = lim != NULL ? lim->call_timeout_ms : 0,
                    .max_inflight = lim != NULL ? lim->max_inflight : 0,
                    .routed_is_done = routed_is_done,
                    .metrics = metrics_function(name)};
    return op_run(d, &op, publish_task);
}

int dispatch_publish(struct dispatcher *d, const char *name, const struct dispatch_endpoint *eps,
                     size_t n, int ready_timeout_ms, const struct dispatch_limits *lim, tf_err *err)
{
    return publish(d, name, eps, n, ready_timeout_ms, lim, false, err);
}

int dispatch_reroute(struct dispatcher *d, const char *name, const struct dispatch_endpoint *eps,
                     size_t n, int ready_timeout_ms, const struct dispatch_limits *lim, tf_err *err)
{
    return publish(d, name, eps, n, ready_timeout_ms, lim, true, err);
}

int dispatch_unpublish(struct dispatcher *d, const char *name, tf_err *err)
{
    struct op op = {.err = err, .name = name};
    return op_run(d, &op, unpublish_task);
}

/* Lists the broken handlers of a function on the down list. */
static void list_broken(struct op *op, struct dispatch_function *func)
{
    for (size_t i = 0; i < func->n && op->n_broken < op->max_broken; i++) {
        const struct handler *hd = &func->handlers[i];
        if (!hd->given_up || hd->ready)
            continue;
        struct dispatch_broken *b = &op->broken[op->n_broken++];
        snprintf(b->name, sizeof b->name, "%s", func->name);
        b->ep = hd->ep;
    }
}

static void broken_task(void *arg, bool cancelled)
{
    struct op *op = arg;
    if (cancelled) {
        op_complete(op, TF_ERR_UNAVAILABLE, "the daemon is shutting down");
        return;
    }
    for (struct dispatch_function *func = op->d->down; func != NULL; func = func->next_down)
        list_broken(op, func);
    op_complete(op, TF_ERR_NONE, "");
}

int dispatch_broken_handlers(struct dispatcher *d, struct dispatch_broken *out, size_t max,
                             tf_err *err)
{
    struct op op = {.err = err, .broken = out, .max_broken = max};
    int rc = op_run(d, &op, broken_task);
    return rc < 0 ? rc : (int)op.n_broken;
}

/* ---- the loop's tick: the versions being published or retired ---- */

void dispatch_tick_pending(struct dispatcher *d, int64_t now)
{
    struct dispatch_function *func = d->pending, *next;
    for (; func != NULL; func = next) {
        next = func->next_pending;
        if (func->state == FUNCTION_PUBLISHING && now >= func->deadline) {
            char msg[300];
            snprintf(msg, sizeof msg, "handlers of %s did not become ready: %s", func->name,
                     func->last_error);
            pending_remove(func);
            /* The daemon's deploy failed, not a call: answered 500, not 504. */
            op_complete(func->op, TF_ERR_INTERNAL, msg);
            dispatch_function_free(func);
        } else if (func->state == FUNCTION_PUBLISHING) {
            for (size_t i = 0; i < func->n; i++)
                if (func->handlers[i].conn == NULL && now >= func->handlers[i].retry_at &&
                    dispatch_handler_connect(&func->handlers[i]) < 0)
                    func->handlers[i].retry_at = now + RETRY_CONNECT_MS;
        } else if (func->state == FUNCTION_RETIRING && now >= func->deadline) {
            for (size_t i = 0; i < func->n; i++)
                dispatch_handler_close(&func->handlers[i]);
            dispatch_retire_check(func); /* frees func */
        }
    }
}

void dispatch_abort_pending(struct dispatcher *d)
{
    while (d->pending != NULL) {
        struct dispatch_function *func = d->pending;
        d->pending = func->next_pending;
        if (func->op != NULL)
            op_complete(func->op, TF_ERR_UNAVAILABLE, "the daemon is shutting down");
        dispatch_function_free(func);
    }
}
