/* The dispatcher's data path: a call gets a slot and an id, goes to the
 * ready handler with the fewest calls in flight or waits in its function's
 * queue, and ends once: answered, timed out, detached or lost. */
#include "dispatch.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch_internal.h"
#include "hconn.h"
#include "metrics.h"

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

void dispatch_calls_unlink(struct dispatch_call **head, struct dispatch_call **tail,
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
    dispatch_calls_unlink(&c->func->q_head, &c->func->q_tail, c);
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

/* A call that cannot be written (no room on the connection, no memory)
 * stays queued for the next turn: the next call to finish on hd. Without a
 * limit the queue holds only calls taken back from a lost handler. */
void dispatch_pump(struct handler *hd)
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

void dispatch_queue_move(struct dispatch_function *from, struct dispatch_function *to)
{
    while (from->q_head != NULL) {
        struct dispatch_call *c = from->q_head;
        queue_unlink(c);
        queue_push(to, c);
    }
    for (size_t i = 0; i < to->n; i++)
        dispatch_pump(&to->handlers[i]);
}

void dispatch_queue_fail(struct dispatch_function *func)
{
    while (func->q_head != NULL)
        dispatch_call_fail(func->d, func->q_head, DISPATCH_LOST);
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
    dispatch_calls_unlink(&hd->calls, NULL, c);
    hd->inflight--;
    metrics_in_flight_add(hd->func->metrics, -1);
}

void dispatch_call_finish(struct dispatcher *d, struct dispatch_call *c,
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
        dispatch_handler_close(hd);
        dispatch_retire_check(hd->func);
    } else if (hd->func->q_head != NULL) {
        dispatch_pump(hd);
    }
}

void dispatch_call_fail(struct dispatcher *d, struct dispatch_call *c,
                        enum dispatch_outcome outcome)
{
    struct dispatch_result res = {.outcome = outcome,
                                  .status = outcome == DISPATCH_TIMEOUT ? 504 : 502};
    if (outcome == DISPATCH_TIMEOUT)
        metrics_limit_hit(METRICS_LIMIT_CALL_TIMEOUT);
    dispatch_call_finish(d, c, &res);
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
        dispatch_call_finish(func->d, call, NULL);
}

size_t dispatch_unsent_bytes(const struct dispatch_function *func)
{
    size_t n = 0;
    for (size_t i = 0; i < func->n; i++)
        if (func->handlers[i].conn != NULL)
            n += hconn_unsent(func->handlers[i].conn);
    return n;
}
/* ---- the calls in flight on a connection that ends ---- */

void dispatch_fail_calls(struct handler *hd, uint16_t status)
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

void dispatch_redispatch(struct dispatch_function *func, struct dispatch_call *c, const void *data,
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
        dispatch_call_fail(func->d, c, DISPATCH_LOST); /* no memory to keep it: as if lost */
}

const char *dispatch_lost_reason(unsigned status)
{
    return status == 503 ? "function handler unreachable: the call may have run"
                         : "function handler failed";
}
