/* Shared by the dispatcher's files: its state, and the calls one file
 * makes into another. Not for use outside core/dispatch*.c. */
#ifndef TF_DISPATCH_INTERNAL_H
#define TF_DISPATCH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dispatch.h"
#include "hconn.h"

#define SLOT_BITS        20 /* up to a million calls in flight; the rest of an id is a generation */
#define SLOT_MASK        ((1u << SLOT_BITS) - 1)
#define RETRY_CONNECT_MS 25

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

/* A control operation, defined in dispatch_publish.c. */
struct op;

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

/* The sooner of two times. */
static inline int64_t earliest(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* ---- dispatch.c: the data path ---- */

/* Takes c off a list threaded through i_prev and i_next: a handler's
 * calls in flight (no tail kept), or a function's queue. */
void dispatch_calls_unlink(struct dispatch_call **head, struct dispatch_call **tail,
                           struct dispatch_call *c);

/* Sends queued calls to hd while it has room under the function's limit. */
void dispatch_pump(struct handler *hd);

/* Hands from's waiting calls to to (a new version of the same function). */
void dispatch_queue_move(struct dispatch_function *from, struct dispatch_function *to);

/* Fails the calls still waiting on func: it is going away. */
void dispatch_queue_fail(struct dispatch_function *func);

/* Ends a call: unlinks it, tells its origin, and lets a retiring function drain. */
void dispatch_call_finish(struct dispatcher *d, struct dispatch_call *c,
                          const struct dispatch_result *res);

/* Ends c with outcome and no answer from a handler: 504 for
 * DISPATCH_TIMEOUT, 502 for DISPATCH_LOST. */
void dispatch_call_fail(struct dispatcher *d, struct dispatch_call *c,
                        enum dispatch_outcome outcome);

/* Fails hd's calls in flight, DISPATCH_LOST with status (502 or 503). */
void dispatch_fail_calls(struct handler *hd, uint16_t status);

/* Sends c, packed as data[0..len), to another handler of func, or queues
 * it when none is ready with room; c is on no handler and no queue. */
void dispatch_redispatch(struct dispatch_function *func, struct dispatch_call *c, const void *data,
                         size_t len);

/* ---- dispatch_link.c: the handler connections ---- */

/* Starts connecting to hd. Return 0, or a negative errno (last_error says it). */
int dispatch_handler_connect(struct handler *hd);

/* Closes hd's connection: it serves no more, and its calls in flight fail (502). */
void dispatch_handler_close(struct handler *hd);

/* Takes func off the list of functions with a handler being reconnected. */
void dispatch_down_remove(struct dispatch_function *func);

/* Reconnects the live handlers that are down; returns when to look again
 * (INT64_MAX: none is down). */
int64_t dispatch_tick_down(struct dispatcher *d, int64_t now);

/* ---- dispatch_publish.c: the control path ---- */

/* Routes func, whose handlers are all ready, in place of its old version:
 * it takes over the old one's queue, and the old one retires. */
void dispatch_go_live(struct dispatch_function *func);

/* A retiring function is gone once none of its connections is open. */
void dispatch_retire_check(struct dispatch_function *func);

/* Frees func: its queued calls and calls in flight fail, its connections close. */
void dispatch_function_free(struct dispatch_function *func);

/* Fails the publishes not ready by their deadline, connects again the
 * handlers of the others, and closes the retiring versions past theirs. */
void dispatch_tick_pending(struct dispatcher *d, int64_t now);

#endif
