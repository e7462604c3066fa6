#include "dispatch.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hconn.h"
#include "log.h"
#include "route.h"

#define SLOT_BITS        20 /* up to a million calls in flight; the rest of an id is a generation */
#define SLOT_MASK        ((1u << SLOT_BITS) - 1)
#define RETRY_CONNECT_MS 25
#define PENDING_TICK_MS  20

enum fn_state { FN_PUBLISHING, FN_LIVE, FN_RETIRING };

struct instance {
    struct dispatch_fn *fn;
    struct dispatch_endpoint ep;
    struct hconn *conn; /* NULL when not connected */
    bool ready;
    unsigned inflight;
    int64_t retry_at; /* publishing: when to connect again */
    struct dispatch_call *calls;
};

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
    bool routed_is_done; /* complete once routed, not once the old version drained */
};

struct dispatch_fn {
    struct dispatcher *d;
    char name[64];
    enum fn_state state;
    struct instance *inst;
    size_t n, n_ready, rr;
    int64_t deadline; /* publishing: ready by; retiring: drained by */
    int call_timeout_ms;
    unsigned max_inflight;                 /* per handler; 0: no limit */
    struct dispatch_call *q_head, *q_tail; /* calls waiting for a free handler */
    size_t q_len;
    struct op *op; /* waits for this publish or retirement */
    char last_error[160];
    struct dispatch_fn *next_pending;
};

struct dispatch_call {
    uint32_t id;
    struct instance *inst;  /* NULL while queued */
    struct dispatch_fn *fn; /* while queued */
    char *packed;           /* while queued: the CALL, packed */
    size_t packed_len;
    dispatch_done_fn *done;
    void *ctx;
    int64_t deadline;
    struct dispatch_call *dl_prev, *dl_next; /* by deadline */
    struct dispatch_call *i_prev, *i_next;   /* on its instance, or in its function's queue */
};

struct dispatcher {
    struct loop *loop;
    struct route_table *routes;
    int call_timeout_ms;
    struct dispatch_call **slots; /* id & SLOT_MASK -> call */
    uint32_t n_slots, cap_slots, gen;
    uint32_t *free_slots;
    uint32_t n_free;
    struct dispatch_call *dl_head, *dl_tail;
    struct dispatch_fn *pending; /* publishing or retiring */
    struct dispatch_call *spare; /* finished calls, reused: no allocation per call */
    dispatch_route_fn *route_fn;
    void *route_ctx;
    dispatch_lost_fn *lost_fn;
    void *lost_ctx;
};

static void on_ready(void *owner, struct hconn *h);
static void on_reply(void *owner, struct hconn *h, const struct hproto_reply *reply);
static void on_closed(void *owner, struct hconn *h, const char *why);
static const struct hconn_events events = {on_ready, on_reply, on_closed};

/* ---- control operations ---- */

static void op_complete(struct op *op, int rc, int status, const char *msg)
{
    pthread_mutex_lock(&op->lock);
    op->rc = rc;
    if (rc < 0)
        tf_err_set(op->err, status, "%s", msg);
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
        tf_err_set(op->err, 503, "the daemon is shutting down");
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

/* ---- calls ---- */

static struct dispatch_call *call_new(struct dispatcher *d)
{
    struct dispatch_call *c = d->spare;
    if (c == NULL)
        return calloc(1, sizeof *c);
    d->spare = c->dl_next;
    *c = (struct dispatch_call){0};
    return c;
}

static void call_free(struct dispatcher *d, struct dispatch_call *c)
{
    free(c->packed); /* a call that ended while queued */
    c->packed = NULL;
    c->dl_next = d->spare;
    d->spare = c;
}

static int slot_take(struct dispatcher *d, uint32_t *slot)
{
    if (d->n_free > 0) {
        *slot = d->free_slots[--d->n_free];
        return 0;
    }
    if (d->n_slots == d->cap_slots) {
        uint32_t cap = d->cap_slots ? d->cap_slots * 2 : 1024;
        if (cap > SLOT_MASK + 1u)
            return -ENOMEM;
        struct dispatch_call **slots = realloc(d->slots, cap * sizeof *slots);
        if (slots == NULL)
            return -ENOMEM;
        d->slots = slots;
        uint32_t *free_slots = realloc(d->free_slots, cap * sizeof *free_slots);
        if (free_slots == NULL)
            return -ENOMEM;
        d->free_slots = free_slots;
        d->cap_slots = cap;
    }
    *slot = d->n_slots++;
    return 0;
}

/* ---- the queue of calls waiting for a handler below max_inflight ---- */

static void queue_push(struct dispatch_fn *fn, struct dispatch_call *c)
{
    c->fn = fn;
    c->i_next = NULL;
    c->i_prev = fn->q_tail;
    if (fn->q_tail)
        fn->q_tail->i_next = c;
    else
        fn->q_head = c;
    fn->q_tail = c;
    fn->q_len++;
}

/* Takes c off a list threaded through i_prev and i_next: an instance's
 * calls in flight (no tail kept), or a function's queue. */
static void calls_unlink(struct dispatch_call **head, struct dispatch_call **tail,
                         struct dispatch_call *c)
{
    if (c->i_prev)
        c->i_prev->i_next = c->i_next;
    else
        *head = c->i_next;
    if (c->i_next)
        c->i_next->i_prev = c->i_prev;
    else if (tail != NULL)
        *tail = c->i_prev;
    c->i_prev = c->i_next = NULL;
}

/* Takes c off its function's queue (its packed CALL stays with it). */
static void queue_unlink(struct dispatch_call *c)
{
    calls_unlink(&c->fn->q_head, &c->fn->q_tail, c);
    c->fn->q_len--;
}

static void link_to_instance(struct instance *in, struct dispatch_call *c)
{
    c->inst = in;
    c->i_prev = NULL;
    c->i_next = in->calls;
    if (in->calls)
        in->calls->i_prev = c;
    in->calls = c;
    in->inflight++;
}

/* Sends queued calls to in while it has room under the function's limit.
 * A call that cannot be written (no memory) stays queued for the next turn. */
static void pump(struct instance *in)
{
    struct dispatch_fn *fn = in->fn;
    while (fn->q_head != NULL && in->ready && in->conn != NULL && in->inflight < fn->max_inflight) {
        struct dispatch_call *c = fn->q_head;
        if (hconn_send_packed(in->conn, c->packed, c->packed_len) < 0)
            return;
        queue_unlink(c);
        free(c->packed);
        c->packed = NULL;
        link_to_instance(in, c);
    }
}

/* Hands from's waiting calls to to (a new version of the same function). */
static void queue_move(struct dispatch_fn *from, struct dispatch_fn *to)
{
    while (from->q_head != NULL) {
        struct dispatch_call *c = from->q_head;
        queue_unlink(c);
        queue_push(to, c);
    }
    for (size_t i = 0; i < to->n; i++)
        pump(&to->inst[i]);
}

static void call_fail(struct dispatcher *d, struct dispatch_call *c, enum dispatch_outcome outcome);

/* Fails the calls still waiting on fn: it is going away. */
static void queue_fail(struct dispatch_fn *fn)
{
    while (fn->q_head != NULL)
        call_fail(fn->d, fn->q_head, DISPATCH_LOST);
}

static void unlink_call(struct dispatcher *d, struct dispatch_call *c)
{
    if (c->dl_prev)
        c->dl_prev->dl_next = c->dl_next;
    else
        d->dl_head = c->dl_next;
    if (c->dl_next)
        c->dl_next->dl_prev = c->dl_prev;
    else
        d->dl_tail = c->dl_prev;
    uint32_t slot = c->id & SLOT_MASK;
    d->slots[slot] = NULL;
    d->free_slots[d->n_free++] = slot;
    struct instance *in = c->inst;
    if (in == NULL) {
        queue_unlink(c);
        return;
    }
    calls_unlink(&in->calls, NULL, c);
    in->inflight--;
}

static void retire_check(struct dispatch_fn *fn);
static void instance_close(struct instance *in);

/* Ends a call: unlinks it, tells its origin, and lets a retiring function drain. */
static void call_finish(struct dispatcher *d, struct dispatch_call *c,
                        const struct dispatch_result *res)
{
    struct instance *in = c->inst;
    unlink_call(d, c);
    if (c->done != NULL)
        c->done(c->ctx, res);
    call_free(d, c);
    if (in == NULL)
        return; /* it was still queued */
    if (in->fn->state == FN_RETIRING && in->inflight == 0) {
        instance_close(in);
        retire_check(in->fn);
    } else if (in->fn->q_head != NULL) {
        pump(in);
    }
}

static void call_fail(struct dispatcher *d, struct dispatch_call *c, enum dispatch_outcome outcome)
{
    struct dispatch_result res = {.outcome = outcome,
                                  .status = outcome == DISPATCH_TIMEOUT ? 504 : 502};
    call_finish(d, c, &res);
}

static struct instance *pick_instance(struct dispatch_fn *fn)
{
    struct instance *best = NULL;
    for (size_t k = 0; k < fn->n; k++) {
        struct instance *in = &fn->inst[(fn->rr + k) % fn->n];
        if (in->ready && (best == NULL || in->inflight < best->inflight))
            best = in;
    }
    fn->rr = (fn->rr + 1) % fn->n;
    return best;
}

/* Keeps the deadline list in order. Calls of one function share a timeout,
 * so a new call's place is at or near the tail: found walking back from it. */
static void deadline_insert(struct dispatcher *d, struct dispatch_call *c)
{
    struct dispatch_call *after = d->dl_tail;
    while (after != NULL && after->deadline > c->deadline)
        after = after->dl_prev;
    c->dl_prev = after;
    c->dl_next = after != NULL ? after->dl_next : d->dl_head;
    if (c->dl_next != NULL)
        c->dl_next->dl_prev = c;
    else
        d->dl_tail = c;
    if (after != NULL)
        after->dl_next = c;
    else
        d->dl_head = c;
}

/* Packs a CALL to send later, when a handler has room. */
static int pack_for_queue(const struct hproto_call *hc, struct dispatch_call *c)
{
    msgpack_sbuffer buf;
    msgpack_sbuffer_init(&buf);
    if (hproto_pack_call(&buf, hc) < 0) {
        msgpack_sbuffer_destroy(&buf);
        return -ENOMEM;
    }
    c->packed = buf.data;
    c->packed_len = buf.size;
    return 0;
}

int dispatch_call(struct dispatcher *d, struct dispatch_fn *fn, const struct dispatch_request *req,
                  dispatch_done_fn *done, void *ctx, struct dispatch_call **out)
{
    struct instance *in = pick_instance(fn);
    if (in == NULL)
        return -EHOSTUNREACH;
    bool full = fn->max_inflight > 0 && in->inflight >= fn->max_inflight;
    /* As many may wait as may run: a bound on memory and on waiting time. */
    if (full && fn->q_len >= (size_t)fn->max_inflight * fn->n)
        return -EBUSY;
    struct dispatch_call *c = call_new(d);
    uint32_t slot;
    if (c == NULL || slot_take(d, &slot) < 0) {
        if (c != NULL)
            call_free(d, c);
        return -ENOMEM;
    }
    d->gen++;
    c->id = (d->gen << SLOT_BITS) | slot;
    struct hproto_call hc = {.id = c->id,
                             .method = req->method,
                             .headers = req->headers,
                             .n_headers = req->n_headers,
                             .body = req->body};
    if ((full ? pack_for_queue(&hc, c) : hconn_send_call(in->conn, &hc)) < 0) {
        d->free_slots[d->n_free++] = slot;
        call_free(d, c);
        return -ENOMEM;
    }
    d->slots[slot] = c;
    c->done = done;
    c->ctx = ctx;
    c->deadline = loop_now_ms() + fn->call_timeout_ms; /* a wait in the queue counts */
    deadline_insert(d, c);
    if (full)
        queue_push(fn, c);
    else
        link_to_instance(in, c);
    if (out != NULL)
        *out = c;
    return 0;
}

void dispatch_detach(struct dispatch_call *call)
{
    call->done = NULL;
}

/* ---- handler connections ---- */

static void fail_calls(struct instance *in)
{
    struct dispatcher *d = in->fn->d;
    while (in->calls != NULL) {
        struct dispatch_call *c = in->calls;
        struct dispatch_result res = {.outcome = DISPATCH_LOST, .status = 502};
        unlink_call(d, c);
        if (c->done != NULL)
            c->done(c->ctx, &res);
        call_free(d, c);
    }
}

static void instance_close(struct instance *in)
{
    if (in->conn != NULL) {
        hconn_close(in->conn);
        in->conn = NULL;
    }
    if (in->ready) {
        in->ready = false;
        in->fn->n_ready--;
    }
    fail_calls(in);
}

static void pending_add(struct dispatch_fn *fn)
{
    fn->next_pending = fn->d->pending;
    fn->d->pending = fn;
}

static void pending_remove(struct dispatch_fn *fn)
{
    for (struct dispatch_fn **p = &fn->d->pending; *p; p = &(*p)->next_pending)
        if (*p == fn) {
            *p = fn->next_pending;
            return;
        }
}

static void fn_free(struct dispatch_fn *fn)
{
    queue_fail(fn);
    for (size_t i = 0; i < fn->n; i++)
        instance_close(&fn->inst[i]);
    free(fn->inst);
    free(fn);
}

static void retire(struct dispatch_fn *fn, struct op *op)
{
    queue_fail(fn); /* none when a new version took them over */
    fn->state = FN_RETIRING;
    fn->op = op;
    fn->deadline = loop_now_ms() + fn->call_timeout_ms;
    pending_add(fn);
    for (size_t i = 0; i < fn->n; i++)
        if (fn->inst[i].inflight == 0)
            instance_close(&fn->inst[i]);
    retire_check(fn);
}

/* A retiring function is gone once none of its connections is open. */
static void retire_check(struct dispatch_fn *fn)
{
    for (size_t i = 0; i < fn->n; i++)
        if (fn->inst[i].conn != NULL)
            return;
    pending_remove(fn);
    if (fn->op != NULL)
        op_complete(fn->op, 0, 0, "");
    fn_free(fn);
}

static void go_live(struct dispatch_fn *fn)
{
    struct dispatcher *d = fn->d;
    void *old = NULL;
    pending_remove(fn);
    struct op *op = fn->op;
    fn->op = NULL;
    if (route_put(d->routes, fn->name, fn, &old) < 0) {
        op_complete(op, -ENOMEM, 500, "out of memory while routing the function");
        fn_free(fn);
        return;
    }
    fn->state = FN_LIVE;
    if (old == NULL && d->route_fn != NULL)
        d->route_fn(d->route_ctx, fn->name, true);
    log_info("function %s: %zu handler(s) ready, routed", fn->name, fn->n);
    if (old != NULL)
        queue_move(old, fn);
    if (old != NULL && !op->routed_is_done) {
        retire(old, op); /* the publish completes when the old version has drained */
        return;
    }
    if (old != NULL)
        retire(old, NULL);
    op_complete(op, 0, 0, "");
}

static void on_ready(void *owner, struct hconn *h)
{
    (void)h;
    struct instance *in = owner;
    in->ready = true;
    in->fn->n_ready++;
    if (in->fn->state == FN_PUBLISHING && in->fn->n_ready == in->fn->n)
        go_live(in->fn);
}

static void on_reply(void *owner, struct hconn *h, const struct hproto_reply *reply)
{
    (void)h;
    struct instance *in = owner;
    struct dispatcher *d = in->fn->d;
    uint32_t slot = reply->id & SLOT_MASK;
    struct dispatch_call *c = slot < d->n_slots ? d->slots[slot] : NULL;
    if (c == NULL || c->id != reply->id || c->inst != in)
        return; /* a reply to a call that already timed out */
    struct dispatch_result res = {.outcome = DISPATCH_DONE,
                                  .status = reply->status,
                                  .content_type = reply->content_type,
                                  .body = reply->body};
    call_finish(d, c, &res);
}

/* The handler's address, for messages. */
static const char *ep_where(const struct dispatch_endpoint *ep)
{
    return ep->path[0] ? ep->path : ep->host;
}

static void on_closed(void *owner, struct hconn *h, const char *why)
{
    (void)h;
    struct instance *in = owner;
    struct dispatch_fn *fn = in->fn;
    in->conn = NULL;
    bool was_ready = in->ready;
    instance_close(in);
    snprintf(fn->last_error, sizeof fn->last_error, "%s", why);
    if (fn->state == FN_PUBLISHING)
        in->retry_at = loop_now_ms() + RETRY_CONNECT_MS;
    else if (fn->state == FN_RETIRING)
        retire_check(fn);
    else if (was_ready) {
        log_warn("function %s: handler %s lost: %s", fn->name, ep_where(&in->ep), why);
        if (fn->d->lost_fn != NULL)
            fn->d->lost_fn(fn->d->lost_ctx);
    }
}

/* ---- publish and unpublish, run on the loop thread ---- */

static void instance_connect(struct instance *in)
{
    int rc =
        hconn_open(in->fn->d->loop, in->ep.host, in->ep.port, in->ep.path, &events, in, &in->conn);
    if (rc < 0) {
        in->conn = NULL;
        in->retry_at = loop_now_ms() + RETRY_CONNECT_MS;
        snprintf(in->fn->last_error, sizeof in->fn->last_error, "cannot connect to %s: %s",
                 ep_where(&in->ep), strerror(-rc));
    }
}

static void publish_task(void *arg, bool cancelled)
{
    struct op *op = arg;
    if (cancelled) {
        op_complete(op, -ESHUTDOWN, 503, "the daemon is shutting down");
        return;
    }
    struct dispatch_fn *fn = calloc(1, sizeof *fn);
    struct instance *inst = calloc(op->n, sizeof *inst);
    if (fn == NULL || inst == NULL) {
        free(fn);
        free(inst);
        op_complete(op, -ENOMEM, 500, "out of memory");
        return;
    }
    *fn = (struct dispatch_fn){.d = op->d,
                               .state = FN_PUBLISHING,
                               .inst = inst,
                               .n = op->n,
                               .op = op,
                               .deadline = loop_now_ms() + op->ready_timeout_ms,
                               .call_timeout_ms = op->call_timeout_ms > 0 ? op->call_timeout_ms
                                                                          : op->d->call_timeout_ms,
                               .max_inflight = op->max_inflight};
    snprintf(fn->name, sizeof fn->name, "%s", op->name);
    snprintf(fn->last_error, sizeof fn->last_error, "no handler answered");
    pending_add(fn);
    for (size_t i = 0; i < op->n; i++) {
        inst[i] = (struct instance){.fn = fn, .ep = op->eps[i]};
        instance_connect(&inst[i]);
    }
}

static void unpublish_task(void *arg, bool cancelled)
{
    struct op *op = arg;
    if (cancelled) {
        op_complete(op, -ESHUTDOWN, 503, "the daemon is shutting down");
        return;
    }
    struct dispatch_fn *fn = route_remove(op->d->routes, op->name);
    if (fn == NULL) {
        op_complete(op, -ENOENT, 404, "no such function");
        return;
    }
    if (op->d->route_fn != NULL)
        op->d->route_fn(op->d->route_ctx, op->name, false);
    retire(fn, op);
}

static int publish(struct dispatcher *d, const char *name, const struct dispatch_endpoint *eps,
                   size_t n, int ready_timeout_ms, const struct dispatch_limits *lim,
                   bool routed_is_done, tf_err *err)
{
    if (n == 0)
        return tf_err_set(err, 400, "a function needs at least one handler"), -EINVAL;
    struct op op = {.err = err,
                    .name = name,
                    .eps = eps,
                    .n = n,
                    .ready_timeout_ms = ready_timeout_ms,
                    .call_timeout_ms = lim != NULL ? lim->call_timeout_ms : 0,
                    .max_inflight = lim != NULL ? lim->max_inflight : 0,
                    .routed_is_done = routed_is_done};
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

/* ---- the loop's tick: timeouts, connection retries, deadlines ---- */

static void tick_pending(struct dispatcher *d, int64_t now)
{
    struct dispatch_fn *fn = d->pending, *next;
    for (; fn != NULL; fn = next) {
        next = fn->next_pending;
        if (fn->state == FN_PUBLISHING && now >= fn->deadline) {
            char msg[300];
            snprintf(msg, sizeof msg, "handlers of %s did not become ready: %s", fn->name,
                     fn->last_error);
            pending_remove(fn);
            op_complete(fn->op, -ETIMEDOUT, 500, msg);
            fn_free(fn);
        } else if (fn->state == FN_PUBLISHING) {
            for (size_t i = 0; i < fn->n; i++)
                if (fn->inst[i].conn == NULL && now >= fn->inst[i].retry_at)
                    instance_connect(&fn->inst[i]);
        } else if (fn->state == FN_RETIRING && now >= fn->deadline) {
            for (size_t i = 0; i < fn->n; i++)
                instance_close(&fn->inst[i]);
            retire_check(fn); /* frees fn */
        }
    }
}

static int dispatch_tick(void *ctx)
{
    struct dispatcher *d = ctx;
    int64_t now = loop_now_ms();
    while (d->dl_head != NULL && d->dl_head->deadline <= now)
        call_fail(d, d->dl_head, DISPATCH_TIMEOUT);
    if (d->pending != NULL)
        tick_pending(d, now);
    if (d->pending != NULL)
        return PENDING_TICK_MS;
    if (d->dl_head != NULL)
        return (int)(d->dl_head->deadline - now);
    return -1;
}

/* ---- lifetime ---- */

void dispatch_set_route_listener(struct dispatcher *d, dispatch_route_fn *fn, void *ctx)
{
    d->route_fn = fn;
    d->route_ctx = ctx;
}

void dispatch_set_lost_listener(struct dispatcher *d, dispatch_lost_fn *fn, void *ctx)
{
    d->lost_fn = fn;
    d->lost_ctx = ctx;
}

struct dispatch_fn *dispatch_lookup(struct dispatcher *d, const char *name, size_t len)
{
    return route_lookup(d->routes, name, len);
}

static void flush_connections(void *ctx)
{
    (void)ctx;
    hconn_reap();
}

int dispatcher_create(struct loop *l, int call_timeout_ms, struct dispatcher **out)
{
    struct dispatcher *d = calloc(1, sizeof *d);
    if (d == NULL)
        return -ENOMEM;
    d->loop = l;
    d->call_timeout_ms = call_timeout_ms;
    int rc = route_table_create(&d->routes);
    if (rc == 0)
        rc = loop_add_ticker(l, dispatch_tick, d);
    /* After every ticker (front ends may queue calls in theirs): send, then free the dead. */
    loop_set_flush(l, flush_connections, NULL);
    if (rc < 0) {
        route_table_free(d->routes);
        free(d);
        return rc;
    }
    *out = d;
    return 0;
}

static void collect_live(void *ctx, const char *name, void *value)
{
    (void)name;
    struct dispatch_fn **list = ctx;
    struct dispatch_fn *fn = value;
    fn->next_pending = *list;
    *list = fn;
}

void dispatcher_destroy(struct dispatcher *d)
{
    if (d == NULL)
        return;
    struct dispatch_fn *live = NULL;
    route_foreach(d->routes, collect_live, &live);
    while (live != NULL) {
        struct dispatch_fn *next = live->next_pending;
        fn_free(live);
        live = next;
    }
    while (d->pending != NULL) {
        struct dispatch_fn *fn = d->pending;
        d->pending = fn->next_pending;
        if (fn->op != NULL)
            op_complete(fn->op, -ESHUTDOWN, 503, "the daemon is shutting down");
        fn_free(fn);
    }
    hconn_reap();
    route_table_free(d->routes);
    while (d->spare != NULL) {
        struct dispatch_call *c = d->spare;
        d->spare = c->dl_next;
        free(c);
    }
    free(d->slots);
    free(d->free_slots);
    free(d);
}
