#include "dispatch.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hconn.h"
#include "log.h"
#include "metrics.h"
#include "route.h"

#define SLOT_BITS        20 /* up to a million calls in flight; the rest of an id is a generation */
#define SLOT_MASK        ((1u << SLOT_BITS) - 1)
#define RETRY_CONNECT_MS 25
#define PENDING_TICK_MS  20
/* A reconnect that does not bring READY by then is closed and tried again:
 * a wedged handler's backlog may accept connections it never serves. */
#define RECONNECT_READY_MS 1000

/* A handler that does not authenticate is tried again and again (a deploy
 * every 25 ms until its ready timeout): its lines are bounded. */
static struct log_limit auth_refusals = LOG_LIMIT_INIT("handler authentication refusals", 20, 60);

enum function_state { FUNCTION_PUBLISHING, FUNCTION_LIVE, FUNCTION_RETIRING };

struct handler {
    struct dispatch_function *func;
    struct dispatch_endpoint ep;
    struct hconn *conn; /* NULL when not connected */
    bool ready;
    unsigned inflight;
    int64_t retry_at;   /* publishing, or live and down: when to connect again */
    int64_t down_since; /* live: when its connection was lost; 0 while it serves */
    int64_t ready_by;   /* live, down, connecting: READY by then or try again */
    int backoff_ms;     /* live, down: the wait after the next failed attempt */
    bool given_up;      /* live, down: past DISPATCH_GIVE_UP_MS, named as broken */
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
    bool routed_is_done;            /* complete once routed, not once the old version drained */
    struct metrics_fn *metrics;     /* the function's slot, found on the control thread */
    struct dispatch_broken *broken; /* dispatch_broken_handlers: filled up to max_broken */
    size_t max_broken, n_broken;
};

struct dispatch_function {
    struct dispatcher *d;
    char name[64];
    enum function_state state;
    struct handler *handlers;
    size_t n, n_ready, rr;
    int64_t deadline; /* publishing: ready by; retiring: drained by */
    int call_timeout_ms;
    unsigned max_inflight;                 /* per handler; 0: no limit */
    struct dispatch_call *q_head, *q_tail; /* calls waiting for a free handler */
    size_t q_len;
    struct op *op; /* waits for this publish or retirement */
    char last_error[160];
    struct metrics_fn *metrics; /* shared by every version of the name; NULL: metrics off */
    struct dispatch_function *next_pending;
    struct dispatch_function *next_down; /* live, with a handler down: on d->down */
    bool on_down_list;
};

struct dispatch_call {
    uint32_t id;
    struct handler *handler;        /* NULL while queued */
    struct dispatch_function *func; /* while queued */
    char *packed;                   /* while queued: the CALL, packed */
    size_t packed_len;
    uint64_t seq; /* on a handler: its bytes on the connection (hconn_drop) */
    dispatch_done_fn *done;
    void *ctx;
    int64_t deadline;
    struct dispatch_call *dl_prev, *dl_next; /* by deadline */
    struct dispatch_call *i_prev, *i_next;   /* on its handler, or in its function's queue */
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
    struct dispatch_function *pending; /* publishing or retiring */
    struct dispatch_function *down;    /* live, with a handler being reconnected */
    struct dispatch_call *spare;       /* finished calls, reused: no allocation per call */
    dispatch_route_fn *route_fn;
    void *route_ctx;
    dispatch_lost_fn *lost_fn;
    void *lost_ctx;
    struct hconn_set conns; /* every handler connection */
};

static void on_ready(void *owner, struct hconn *h);
static void on_reply(void *owner, struct hconn *h, const struct hproto_reply *reply);
static void on_closed(void *owner, struct hconn *h, int err, const char *why);
static const struct hconn_events events = {on_ready, on_reply, on_closed};

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

static void queue_push(struct dispatch_function *func, struct dispatch_call *c)
{
    c->func = func;
    c->i_next = NULL;
    c->i_prev = func->q_tail;
    if (func->q_tail)
        func->q_tail->i_next = c;
    else
        func->q_head = c;
    func->q_tail = c;
    func->q_len++;
    metrics_queued_add(func->metrics, 1);
}

/* Takes c off a list threaded through i_prev and i_next: a handler's
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
    calls_unlink(&c->func->q_head, &c->func->q_tail, c);
    c->func->q_len--;
    metrics_queued_add(c->func->metrics, -1);
}

static void link_to_handler(struct handler *hd, struct dispatch_call *c)
{
    c->handler = hd;
    c->i_prev = NULL;
    c->i_next = hd->calls;
    if (hd->calls)
        hd->calls->i_prev = c;
    hd->calls = c;
    hd->inflight++;
    metrics_in_flight_add(hd->func->metrics, 1);
}

/* Whether hd may take one more call under its function's limit. */
static bool below_limit(const struct handler *hd)
{
    return hd->func->max_inflight == 0 || hd->inflight < hd->func->max_inflight;
}

/* Sends queued calls to hd while it has room under the function's limit.
 * A call that cannot be written (no room on the connection, no memory)
 * stays queued for the next turn: the next call to finish on hd. Without a
 * limit the queue holds only calls taken back from a lost handler. */
static void pump(struct handler *hd)
{
    struct dispatch_function *func = hd->func;
    while (func->q_head != NULL && hd->ready && hd->conn != NULL && below_limit(hd)) {
        struct dispatch_call *c = func->q_head;
        if (hconn_send_packed(hd->conn, c->packed, c->packed_len, &c->seq) < 0)
            return;
        queue_unlink(c);
        free(c->packed);
        c->packed = NULL;
        link_to_handler(hd, c);
    }
}

/* Hands from's waiting calls to to (a new version of the same function). */
static void queue_move(struct dispatch_function *from, struct dispatch_function *to)
{
    while (from->q_head != NULL) {
        struct dispatch_call *c = from->q_head;
        queue_unlink(c);
        queue_push(to, c);
    }
    for (size_t i = 0; i < to->n; i++)
        pump(&to->handlers[i]);
}

static void call_fail(struct dispatcher *d, struct dispatch_call *c, enum dispatch_outcome outcome);

/* Fails the calls still waiting on func: it is going away. */
static void queue_fail(struct dispatch_function *func)
{
    while (func->q_head != NULL)
        call_fail(func->d, func->q_head, DISPATCH_LOST);
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
    struct handler *hd = c->handler;
    if (hd == NULL) {
        queue_unlink(c);
        return;
    }
    /* A call ending before any of its bytes went out (its timeout, its
     * client gone) takes them back: a handler that does not read must not
     * hold the memory of calls nobody waits for. */
    if (hd->conn != NULL)
        hconn_drop(hd->conn, c->seq);
    calls_unlink(&hd->calls, NULL, c);
    hd->inflight--;
    metrics_in_flight_add(hd->func->metrics, -1);
}

static void retire_check(struct dispatch_function *func);
static void handler_close(struct handler *hd);

/* Ends a call: unlinks it, tells its origin, and lets a retiring function drain. */
static void call_finish(struct dispatcher *d, struct dispatch_call *c,
                        const struct dispatch_result *res)
{
    struct handler *hd = c->handler;
    unlink_call(d, c);
    if (c->done != NULL)
        c->done(c->ctx, res);
    call_free(d, c);
    if (hd == NULL)
        return; /* it was still queued */
    if (hd->func->state == FUNCTION_RETIRING && hd->inflight == 0) {
        handler_close(hd);
        retire_check(hd->func);
    } else if (hd->func->q_head != NULL) {
        pump(hd);
    }
}

static void call_fail(struct dispatcher *d, struct dispatch_call *c, enum dispatch_outcome outcome)
{
    struct dispatch_result res = {.outcome = outcome,
                                  .status = outcome == DISPATCH_TIMEOUT ? 504 : 502};
    if (outcome == DISPATCH_TIMEOUT)
        metrics_limit_hit(METRICS_LIMIT_CALL_TIMEOUT);
    call_finish(d, c, &res);
}

/* The ready handler with the fewest calls in flight among those whose
 * connection has room for size more bytes; NULL when there is none, with
 * *no_room set when some are ready but full. A handler whose link died
 * without a word (a machine's power, a cable) still counts as ready until
 * the link timeout notices (dispatch_set_link_timeout): its calls never
 * finish, so its count only grows, and once it holds more calls than
 * another ready handler it gets no more. So about as many calls as the
 * others hold at once reach it before the loss is noticed. */
static struct handler *pick_handler(struct dispatch_function *func, size_t size, bool *no_room)
{
    struct handler *best = NULL;
    *no_room = false;
    for (size_t k = 0; k < func->n; k++) {
        struct handler *hd = &func->handlers[(func->rr + k) % func->n];
        if (!hd->ready)
            continue;
        if (!hconn_has_room(hd->conn, size))
            *no_room = true;
        else if (best == NULL || hd->inflight < best->inflight)
            best = hd;
    }
    func->rr = (func->rr + 1) % func->n;
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

int dispatch_call(struct dispatcher *d, struct dispatch_function *func,
                  const struct dispatch_request *req, dispatch_done_fn *done, void *ctx,
                  struct dispatch_call **out)
{
    struct hproto_call hc = {.id = UINT32_MAX, /* the widest: the size is a bound */
                             .method = req->method,
                             .headers = req->headers,
                             .n_headers = req->n_headers,
                             .body = req->body};
    bool no_room;
    struct handler *hd = pick_handler(func, hproto_call_size(&hc), &no_room);
    if (hd == NULL && no_room)
        metrics_limit_hit(METRICS_LIMIT_HANDLER_QUEUE_BYTES);
    if (hd == NULL)
        return no_room ? -ENOBUFS : -EHOSTUNREACH;
    bool full = func->max_inflight > 0 && hd->inflight >= func->max_inflight;
    /* As many may wait as may run: a bound on memory and on waiting time. */
    if (full && func->q_len >= (size_t)func->max_inflight * func->n) {
        metrics_limit_hit(METRICS_LIMIT_FUNCTION_QUEUE);
        return -EBUSY;
    }
    struct dispatch_call *c = call_new(d);
    uint32_t slot;
    if (c == NULL || slot_take(d, &slot) < 0) {
        if (c != NULL)
            call_free(d, c);
        return -ENOMEM;
    }
    d->gen++;
    c->id = (d->gen << SLOT_BITS) | slot;
    hc.id = c->id;
    int rc = full ? pack_for_queue(&hc, c) : hconn_send_call(hd->conn, &hc, &c->seq);
    if (rc < 0) {
        d->free_slots[d->n_free++] = slot;
        call_free(d, c);
        return rc == -ENOBUFS ? rc : -ENOMEM;
    }
    d->slots[slot] = c;
    c->done = done;
    c->ctx = ctx;
    c->deadline = loop_now_ms() + func->call_timeout_ms; /* a wait in the queue counts */
    deadline_insert(d, c);
    if (full)
        queue_push(func, c);
    else
        link_to_handler(hd, c);
    if (out != NULL)
        *out = c;
    return 0;
}

void dispatch_detach(struct dispatch_call *call)
{
    call->done = NULL;
    struct handler *hd = call->handler;
    struct dispatch_function *func = hd != NULL ? hd->func : call->func;
    /* Still queued, or its bytes all unsent: no handler need run it. */
    if (hd == NULL || (hd->conn != NULL && hconn_drop(hd->conn, call->seq)))
        call_finish(func->d, call, NULL);
}

size_t dispatch_unsent_bytes(const struct dispatch_function *func)
{
    size_t n = 0;
    for (size_t i = 0; i < func->n; i++)
        if (func->handlers[i].conn != NULL)
            n += hconn_unsent(func->handlers[i].conn);
    return n;
}

/* ---- handler connections ---- */

/* Fails hd's calls in flight, DISPATCH_LOST with status (502 or 503). */
static void fail_calls(struct handler *hd, uint16_t status)
{
    struct dispatcher *d = hd->func->d;
    while (hd->calls != NULL) {
        struct dispatch_call *c = hd->calls;
        struct dispatch_result res = {.outcome = DISPATCH_LOST, .status = status};
        unlink_call(d, c);
        if (c->done != NULL)
            c->done(c->ctx, &res);
        call_free(d, c);
    }
}

/* hd serves no more: it is left out of the choice of handler. */
static void handler_unready(struct handler *hd)
{
    if (hd->ready) {
        hd->ready = false;
        hd->func->n_ready--;
        if (hd->func->state == FUNCTION_LIVE)
            metrics_handlers_set(hd->func->metrics, hd->func->n_ready);
    }
}

static void handler_close(struct handler *hd)
{
    if (hd->conn != NULL) {
        hconn_close(hd->conn);
        hd->conn = NULL;
    }
    handler_unready(hd);
    fail_calls(hd, 502);
}

/* Sends c, packed as data[0..len), to another handler of func, or queues
 * it when none is ready with room; c is on no handler and no queue. */
static void redispatch(struct dispatch_function *func, struct dispatch_call *c, const void *data,
                       size_t len)
{
    bool no_room;
    struct handler *to = pick_handler(func, len, &no_room);
    if (to != NULL && below_limit(to) && hconn_send_packed(to->conn, data, len, &c->seq) == 0) {
        link_to_handler(to, c);
        return;
    }
    /* Past the queue's bound too: the call was taken before the loss. */
    c->packed = malloc(len);
    if (c->packed != NULL) {
        memcpy(c->packed, data, len);
        c->packed_len = len;
    }
    queue_push(func, c);
    if (c->packed == NULL)
        call_fail(func->d, c, DISPATCH_LOST); /* no memory to keep it: as if lost */
}

/* The status of the calls in flight on a connection that ended for err. */
static uint16_t lost_status(int err)
{
    return err == ETIMEDOUT ? 503 : 502;
}

/* The connection h of hd, a live function's handler, was lost. Its calls
 * none of whose bytes left the daemon go back to the function, to another
 * handler or to its queue: no handler saw them. The others may have run,
 * and a call runs at most once, so they fail: 503 when the link timed out
 * (the handler's machine cannot be reached), 502 when the handler closed
 * the connection or broke the protocol. */
static void handler_lost(struct handler *hd, struct hconn *h, int err)
{
    struct dispatch_function *func = hd->func;
    handler_unready(hd); /* not a choice for its own calls */
    struct dispatch_call *c = hd->calls, *prev;
    while (c != NULL && c->i_next != NULL)
        c = c->i_next; /* the oldest: calls are linked newest first */
    for (; c != NULL; c = prev) {
        prev = c->i_prev;
        const void *data;
        size_t len;
        if (c->done == NULL || !hconn_unsent_call(h, c->seq, &data, &len))
            continue;
        calls_unlink(&hd->calls, NULL, c);
        hd->inflight--;
        metrics_in_flight_add(func->metrics, -1);
        c->handler = NULL;
        redispatch(func, c, data, len);
    }
    fail_calls(hd, lost_status(err));
}

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

/* Takes func off the list of functions with a handler being reconnected. */
static void down_remove(struct dispatch_function *func)
{
    if (!func->on_down_list)
        return;
    for (struct dispatch_function **p = &func->d->down; *p; p = &(*p)->next_down)
        if (*p == func) {
            *p = func->next_down;
            break;
        }
    func->on_down_list = false;
}

static void function_free(struct dispatch_function *func)
{
    down_remove(func);
    queue_fail(func);
    for (size_t i = 0; i < func->n; i++)
        handler_close(&func->handlers[i]);
    free(func->handlers);
    free(func);
}

static void retire(struct dispatch_function *func, struct op *op)
{
    down_remove(func); /* a version going away is not reconnected */
    queue_fail(func);  /* none when a new version took them over */
    func->state = FUNCTION_RETIRING;
    func->op = op;
    func->deadline = loop_now_ms() + func->call_timeout_ms;
    pending_add(func);
    for (size_t i = 0; i < func->n; i++)
        if (func->handlers[i].inflight == 0)
            handler_close(&func->handlers[i]);
    retire_check(func);
}

/* A retiring function is gone once none of its connections is open. */
static void retire_check(struct dispatch_function *func)
{
    for (size_t i = 0; i < func->n; i++)
        if (func->handlers[i].conn != NULL)
            return;
    pending_remove(func);
    if (func->op != NULL)
        op_complete(func->op, TF_ERR_NONE, "");
    function_free(func);
}

static void go_live(struct dispatch_function *func)
{
    struct dispatcher *d = func->d;
    void *old = NULL;
    pending_remove(func);
    struct op *op = func->op;
    func->op = NULL;
    if (route_put(d->routes, func->name, func, &old) < 0) {
        op_complete(op, TF_ERR_INTERNAL, "out of memory while routing the function");
        function_free(func);
        return;
    }
    func->state = FUNCTION_LIVE;
    metrics_handlers_set(func->metrics, func->n_ready);
    if (old == NULL && d->route_fn != NULL)
        d->route_fn(d->route_ctx, func->name, true);
    log_info("function %s: %zu handler(s) ready, routed", func->name, func->n);
    if (old != NULL)
        queue_move(old, func);
    if (old != NULL && !op->routed_is_done) {
        retire(old, op); /* the publish completes when the old version has drained */
        return;
    }
    if (old != NULL)
        retire(old, NULL);
    op_complete(op, TF_ERR_NONE, "");
}

/* The handler's address, for messages. */
static const char *ep_where(const struct dispatch_endpoint *ep)
{
    return ep->path[0] ? ep->path : ep->host;
}

static void on_ready(void *owner, struct hconn *h)
{
    (void)h;
    struct handler *hd = owner;
    struct dispatch_function *func = hd->func;
    hd->ready = true;
    func->n_ready++;
    if (func->state == FUNCTION_LIVE)
        metrics_handlers_set(func->metrics, func->n_ready);
    if (func->state == FUNCTION_PUBLISHING && func->n_ready == func->n) {
        go_live(func);
    } else if (func->state == FUNCTION_LIVE && hd->down_since != 0) {
        log_info("function %s: handler %s is back, %lld ms after it was lost", func->name,
                 ep_where(&hd->ep), (long long)(loop_now_ms() - hd->down_since));
        hd->down_since = 0;
        hd->given_up = false;
        pump(hd);
    }
}

/* What a client gets for a status outside status_valid. */
static const char invalid_status[] = "function answered with a status outside 200 to 599";

static bool status_valid(unsigned status)
{
    return status >= 200 && status <= 599;
}

static void on_reply(void *owner, struct hconn *h, const struct hproto_reply *reply)
{
    (void)h;
    struct handler *hd = owner;
    struct dispatcher *d = hd->func->d;
    uint32_t slot = reply->id & SLOT_MASK;
    struct dispatch_call *c = slot < d->n_slots ? d->slots[slot] : NULL;
    if (c == NULL || c->id != reply->id || c->handler != hd)
        return; /* a reply to a call that already timed out */
    struct dispatch_result res = {.outcome = DISPATCH_DONE,
                                  .status = reply->status,
                                  .content_type = reply->content_type,
                                  .body = reply->body};
    if (!status_valid(reply->status))
        res = (struct dispatch_result){.outcome = DISPATCH_DONE,
                                       .status = 502,
                                       .body = {invalid_status, sizeof invalid_status - 1}};
    call_finish(d, c, &res);
}

/* A live handler's attempt to come back failed: the next one waits longer. */
static void reconnect_later(struct handler *hd, int64_t now)
{
    hd->retry_at = now + hd->backoff_ms;
    hd->backoff_ms = hd->backoff_ms * 2 < DISPATCH_RECONNECT_MAX_MS ? hd->backoff_ms * 2
                                                                    : DISPATCH_RECONNECT_MAX_MS;
}

/* A live handler lost its connection: it is reconnected from the loop's tick. */
static void handler_down(struct handler *hd, int64_t now)
{
    struct dispatch_function *func = hd->func;
    hd->down_since = now;
    hd->given_up = false;
    hd->backoff_ms = DISPATCH_RECONNECT_FIRST_MS;
    reconnect_later(hd, now);
    if (!func->on_down_list) {
        func->on_down_list = true;
        func->next_down = func->d->down;
        func->d->down = func;
    }
}

static void on_closed(void *owner, struct hconn *h, int err, const char *why)
{
    struct handler *hd = owner;
    struct dispatch_function *func = hd->func;
    hd->conn = NULL;
    bool was_ready = hd->ready;
    if (err == EACCES)
        log_warn_limited(&auth_refusals, "function %s: handler %s refused: %s", func->name,
                         ep_where(&hd->ep), why);
    if (func->state == FUNCTION_LIVE) {
        handler_lost(hd, h, err);
    } else { /* a version going away: its calls end with it */
        handler_unready(hd);
        fail_calls(hd, lost_status(err));
    }
    snprintf(func->last_error, sizeof func->last_error, "%s", why);
    if (func->state == FUNCTION_PUBLISHING) {
        hd->retry_at = loop_now_ms() + RETRY_CONNECT_MS;
    } else if (func->state == FUNCTION_RETIRING) {
        retire_check(func);
    } else if (was_ready) {
        log_warn("function %s: handler %s lost: %s; reconnecting", func->name, ep_where(&hd->ep),
                 why);
        handler_down(hd, loop_now_ms());
        if (func->d->lost_fn != NULL)
            func->d->lost_fn(func->d->lost_ctx);
    } else {
        reconnect_later(hd, loop_now_ms()); /* an attempt to come back failed */
    }
}

/* ---- publish and unpublish, run on the loop thread ---- */

/* Starts connecting to hd. Return 0, or a negative errno (last_error says it). */
static int handler_connect(struct handler *hd)
{
    int rc = hconn_open(&hd->func->d->conns, hd->func->d->loop, hd->ep.host, hd->ep.port,
                        hd->ep.path, hd->ep.secret, &events, hd, &hd->conn);
    if (rc < 0) {
        hd->conn = NULL;
        snprintf(hd->func->last_error, sizeof hd->func->last_error, "cannot connect to %s: %s",
                 ep_where(&hd->ep), strerror(-rc));
    }
    return rc;
}

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
        if (handler_connect(&handlers[i]) < 0)
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

/* ---- the loop's tick: timeouts, connection retries, deadlines ---- */

static void tick_pending(struct dispatcher *d, int64_t now)
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
            function_free(func);
        } else if (func->state == FUNCTION_PUBLISHING) {
            for (size_t i = 0; i < func->n; i++)
                if (func->handlers[i].conn == NULL && now >= func->handlers[i].retry_at &&
                    handler_connect(&func->handlers[i]) < 0)
                    func->handlers[i].retry_at = now + RETRY_CONNECT_MS;
        } else if (func->state == FUNCTION_RETIRING && now >= func->deadline) {
            for (size_t i = 0; i < func->n; i++)
                handler_close(&func->handlers[i]);
            retire_check(func); /* frees func */
        }
    }
}

static int64_t earliest(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* Reconnects hd, a live handler that is down, when its time came; returns
 * when it wants to be looked at again. */
static int64_t tick_down_handler(struct handler *hd, int64_t now)
{
    struct dispatch_function *func = hd->func;
    struct dispatcher *d = func->d;
    if (!hd->given_up && now >= hd->down_since + DISPATCH_GIVE_UP_MS) {
        hd->given_up = true;
        log_warn("function %s: handler %s not back %d ms after it was lost (%s): it is to be "
                 "replaced",
                 func->name, ep_where(&hd->ep), DISPATCH_GIVE_UP_MS, func->last_error);
        if (d->lost_fn != NULL)
            d->lost_fn(d->lost_ctx);
    }
    if (hd->conn != NULL && now >= hd->ready_by) {
        hconn_close(hd->conn);
        hd->conn = NULL;
        snprintf(func->last_error, sizeof func->last_error, "connected, but no READY within %d ms",
                 RECONNECT_READY_MS);
        reconnect_later(hd, now);
    }
    if (hd->conn == NULL && now >= hd->retry_at) {
        if (handler_connect(hd) == 0)
            hd->ready_by = now + RECONNECT_READY_MS;
        else
            reconnect_later(hd, now);
    }
    int64_t next = hd->conn != NULL ? hd->ready_by : hd->retry_at;
    return hd->given_up ? next : earliest(next, hd->down_since + DISPATCH_GIVE_UP_MS);
}

/* Reconnects the live handlers that are down; returns when to look again
 * (INT64_MAX: none is down). */
static int64_t tick_down(struct dispatcher *d, int64_t now)
{
    int64_t next = INT64_MAX;
    struct dispatch_function **p = &d->down;
    while (*p != NULL) {
        struct dispatch_function *func = *p;
        bool any = false;
        for (size_t i = 0; i < func->n; i++) {
            struct handler *hd = &func->handlers[i];
            if (hd->ready || hd->down_since == 0)
                continue;
            any = true;
            next = earliest(next, tick_down_handler(hd, now));
        }
        if (any) {
            p = &func->next_down;
        } else {
            *p = func->next_down;
            func->on_down_list = false;
        }
    }
    return next;
}

static int dispatch_tick(void *ctx)
{
    struct dispatcher *d = ctx;
    int64_t now = loop_now_ms();
    while (d->dl_head != NULL && d->dl_head->deadline <= now)
        call_fail(d, d->dl_head, DISPATCH_TIMEOUT);
    if (d->pending != NULL)
        tick_pending(d, now);
    int64_t next = d->down != NULL ? tick_down(d, now) : INT64_MAX;
    if (d->pending != NULL)
        next = earliest(next, now + PENDING_TICK_MS);
    if (d->dl_head != NULL)
        next = earliest(next, d->dl_head->deadline);
    if (next == INT64_MAX)
        return -1;
    return next > now ? (int)(next - now) : 0;
}

/* ---- lifetime ---- */

void dispatch_set_route_listener(struct dispatcher *d, dispatch_route_fn *fn, void *ctx)
{
    d->route_fn = fn;
    d->route_ctx = ctx;
}

void dispatch_set_max_unsent(struct dispatcher *d, size_t bytes)
{
    d->conns.max_unsent = bytes;
}

void dispatch_set_link_timeout(struct dispatcher *d, int ms)
{
    d->conns.link_timeout_ms = ms;
}

const char *dispatch_lost_reason(unsigned status)
{
    return status == 503 ? "function handler unreachable: the call may have run"
                         : "function handler failed";
}

void dispatch_set_lost_listener(struct dispatcher *d, dispatch_lost_fn *fn, void *ctx)
{
    d->lost_fn = fn;
    d->lost_ctx = ctx;
}

struct dispatch_function *dispatch_lookup(struct dispatcher *d, const char *name, size_t len)
{
    return route_lookup(d->routes, name, len);
}

struct metrics_fn *dispatch_metrics(const struct dispatch_function *func)
{
    return func->metrics;
}

static void flush_connections(void *ctx)
{
    struct dispatcher *d = ctx;
    hconn_set_flush(&d->conns);
    hconn_set_reap(&d->conns);
}

int dispatcher_create(struct loop *l, int call_timeout_ms, struct dispatcher **out)
{
    struct dispatcher *d = calloc(1, sizeof *d);
    if (d == NULL)
        return -ENOMEM;
    d->loop = l;
    d->call_timeout_ms = call_timeout_ms;
    d->conns.max_unsent = DISPATCH_MAX_UNSENT_DEFAULT;
    d->conns.link_timeout_ms = DISPATCH_LINK_TIMEOUT_DEFAULT_MS;
    int rc = route_table_create(&d->routes);
    if (rc == 0)
        rc = loop_add_ticker(l, dispatch_tick, d);
    if (rc < 0) {
        route_table_free(d->routes);
        free(d);
        return rc;
    }
    /* After every ticker (front ends may queue calls in theirs): send, then free the dead. */
    loop_set_flush(l, flush_connections, d);
    *out = d;
    return 0;
}

static void collect_live(void *ctx, const char *name, void *value)
{
    (void)name;
    struct dispatch_function **list = ctx;
    struct dispatch_function *func = value;
    func->next_pending = *list;
    *list = func;
}

void dispatch_abort_pending(struct dispatcher *d)
{
    while (d->pending != NULL) {
        struct dispatch_function *func = d->pending;
        d->pending = func->next_pending;
        if (func->op != NULL)
            op_complete(func->op, TF_ERR_UNAVAILABLE, "the daemon is shutting down");
        function_free(func);
    }
}

void dispatcher_destroy(struct dispatcher *d)
{
    if (d == NULL)
        return;
    struct dispatch_function *live = NULL;
    route_foreach(d->routes, collect_live, &live);
    while (live != NULL) {
        struct dispatch_function *next = live->next_pending;
        function_free(live);
        live = next;
    }
    dispatch_abort_pending(d);
    hconn_set_reap(&d->conns);
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
