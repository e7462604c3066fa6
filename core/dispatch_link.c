/* The dispatcher's handler connections: what their events (READY, a reply,
 * a close) do to a function's handlers and calls, and how a live handler
 * whose connection was lost is reconnected from the loop's tick. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "dispatch_internal.h"
#include "hconn.h"
#include "log.h"
#include "metrics.h"
#include "route.h"

/* A reconnect that does not bring READY by then is closed and tried again:
 * a wedged handler's backlog may accept connections it never serves. */
#define RECONNECT_READY_MS 1000

/* A handler that does not authenticate is tried again and again (a deploy
 * every 25 ms until its ready timeout): its lines are bounded. */
static struct log_limit auth_refusals = LOG_LIMIT_INIT("handler authentication refusals", 20, 60);

static void on_ready(void *owner, struct hconn *h);
static void on_reply(void *owner, struct hconn *h, const struct hproto_reply *reply);
static void on_closed(void *owner, struct hconn *h, int err, const char *why);
static const struct hconn_events events = {on_ready, on_reply, on_closed};

/* ---- handler connections ---- */

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

void dispatch_handler_close(struct handler *hd)
{
    if (hd->conn != NULL) {
        hconn_close(hd->conn);
        hd->conn = NULL;
    }
    handler_unready(hd);
    dispatch_fail_calls(hd, 502);
}

/* The status of the calls in flight on a connection that ended for err. */
static uint16_t lost_status(int err)
{
    return err == ETIMEDOUT ? 503 : 502;
}

/* Where the unsent calls of a lost handler of func go: back to func while
 * it is live; to the version routed now when func is one being replaced (a
 * redeploy, or a reroute on Swarm after a node was lost); nowhere else. */
static struct dispatch_function *heir(struct dispatch_function *func)
{
    if (func->state == FUNCTION_LIVE)
        return func;
    if (func->state != FUNCTION_RETIRING)
        return NULL;
    struct dispatch_function *now = route_lookup(func->d->routes, func->name, strlen(func->name));
    return now != NULL && now != func && now->state == FUNCTION_LIVE ? now : NULL;
}

/* The connection h of hd was lost. Its calls none of whose bytes left the
 * daemon go to the heir's handlers or to its queue: no handler saw them.
 * The others may have run, and a call runs at most once, so they fail:
 * 503 when the link timed out (the handler's machine cannot be reached),
 * 502 when the handler closed the connection or broke the protocol. */
static void handler_lost(struct handler *hd, struct hconn *h, int err)
{
    struct dispatch_function *func = hd->func, *to = heir(func);
    handler_unready(hd); /* not a choice for its own calls */
    struct dispatch_call *c = hd->calls, *prev;
    while (c != NULL && c->i_next != NULL)
        c = c->i_next; /* the oldest: calls are linked newest first */
    for (; c != NULL && to != NULL; c = prev) {
        prev = c->i_prev;
        const void *data;
        size_t len;
        if (c->done == NULL || !hconn_unsent_call(h, c->seq, &data, &len))
            continue;
        dispatch_calls_unlink(&hd->calls, NULL, c);
        hd->inflight--;
        metrics_in_flight_add(func->metrics, -1);
        c->handler = NULL;
        dispatch_redispatch(to, c, data, len);
    }
    dispatch_fail_calls(hd, lost_status(err));
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
        dispatch_go_live(func);
    } else if (func->state == FUNCTION_LIVE && hd->down_since != 0) {
        log_info("function %s: handler %s is back, %lld ms after it was lost", func->name,
                 ep_where(&hd->ep), (long long)(loop_now_ms() - hd->down_since));
        hd->down_since = 0;
        hd->given_up = false;
        dispatch_pump(hd);
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
    dispatch_call_finish(d, c, &res);
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
    handler_lost(hd, h, err);
    snprintf(func->last_error, sizeof func->last_error, "%s", why);
    if (func->state == FUNCTION_PUBLISHING) {
        hd->retry_at = loop_now_ms() + RETRY_CONNECT_MS;
    } else if (func->state == FUNCTION_RETIRING) {
        dispatch_retire_check(func);
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

int dispatch_handler_connect(struct handler *hd)
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

/* ---- the live handlers that are down, reconnected from the loop's tick ---- */

void dispatch_down_remove(struct dispatch_function *func)
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
        if (dispatch_handler_connect(hd) == 0)
            hd->ready_by = now + RECONNECT_READY_MS;
        else
            reconnect_later(hd, now);
    }
    int64_t next = hd->conn != NULL ? hd->ready_by : hd->retry_at;
    return hd->given_up ? next : earliest(next, hd->down_since + DISPATCH_GIVE_UP_MS);
}

int64_t dispatch_tick_down(struct dispatcher *d, int64_t now)
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
