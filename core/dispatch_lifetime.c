/* The dispatcher itself: its creation, its settings and listeners, the
 * loop's tick that drives its timeouts and retries, and its end. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "dispatch_internal.h"
#include "hconn.h"
#include "route.h"

#define PENDING_TICK_MS 20

/* ---- the loop's tick: timeouts, connection retries, deadlines ---- */

static int dispatch_tick(void *ctx)
{
    struct dispatcher *d = ctx;
    int64_t now = loop_now_ms();
    while (d->dl_head != NULL && d->dl_head->deadline <= now)
        dispatch_call_fail(d, d->dl_head, DISPATCH_TIMEOUT);
    if (d->pending != NULL)
        dispatch_tick_pending(d, now);
    int64_t next = d->down != NULL ? dispatch_tick_down(d, now) : INT64_MAX;
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

void dispatcher_destroy(struct dispatcher *d)
{
    if (d == NULL)
        return;
    struct dispatch_function *live = NULL;
    route_foreach(d->routes, collect_live, &live);
    while (live != NULL) {
        struct dispatch_function *next = live->next_pending;
        dispatch_function_free(live);
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
