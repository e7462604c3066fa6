/* Dispatcher: routes a call to one of a function's handlers (fewest calls in
 * flight), matches replies by request id, and times calls out. A handler
 * whose connection is lost is reconnected, and named as broken when it does
 * not come back. The data-path calls run on the loop thread only;
 * publish/unpublish are the control path's way in, from any thread, and
 * block until the loop has done them. */
#ifndef TF_DISPATCH_H
#define TF_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "hproto.h"
#include "loop.h"
#include "metrics.h"

struct dispatcher;
struct dispatch_function;
struct dispatch_call;

enum dispatch_outcome {
    DISPATCH_DONE,    /* the handler answered; status tells success (200) or function error (500) */
    DISPATCH_TIMEOUT, /* no answer within the call timeout */
    /* The handler's connection was lost with the call in flight, some of
     * its bytes written: status 503 when the link timed out (the call may
     * have run on a machine that cannot be reached), 502 when the handler
     * closed it or broke the protocol. A call none of whose bytes was
     * written goes to another handler instead. */
    DISPATCH_LOST,
};

struct dispatch_request {
    struct hproto_bytes method;
    const struct hproto_header *headers;
    size_t n_headers;
    struct hproto_bytes body;
};

/* The outcome of a call; its pointers are valid only during the callback. */
struct dispatch_result {
    enum dispatch_outcome outcome;
    /* 200 to 599: a handler's other statuses (an interim 1xx, numbers HTTP
     * has no class for) are its fault, and become 502 with a reason. */
    uint16_t status;
    struct hproto_bytes content_type;
    struct hproto_bytes body;
};

typedef void dispatch_done_fn(void *ctx, const struct dispatch_result *res);

/* The bytes of calls one handler connection holds unwritten, by default. */
#define DISPATCH_MAX_UNSENT_DEFAULT (4u << 20)

/* A lost handler is reconnected after this, then after twice as long each
 * time, up to DISPATCH_RECONNECT_MAX_MS; one that has not said READY again
 * DISPATCH_GIVE_UP_MS after the loss is named by dispatch_broken_handlers. */
#define DISPATCH_RECONNECT_FIRST_MS 100
#define DISPATCH_RECONNECT_MAX_MS   1000
#define DISPATCH_GIVE_UP_MS         3000

/* A TCP link to a handler silent this long is taken as lost, by default. */
#define DISPATCH_LINK_TIMEOUT_DEFAULT_MS 3000

/* Creates the dispatcher on loop l with the default call timeout. */
int dispatcher_create(struct loop *l, int call_timeout_ms, struct dispatcher **out);

/* Caps the bytes one handler connection holds unwritten (0: no cap): a call
 * that does not fit under it on any handler of its function is refused
 * (-ENOBUFS), unless the connection holds nothing. Before the loop runs, or
 * on its thread. */
void dispatch_set_max_unsent(struct dispatcher *d, size_t bytes);

/* How long a TCP link to a handler may be silent, with a call's bytes
 * unacknowledged or idle, before it is taken as lost, and how long a connect
 * may take (0: the kernel's defaults, about 15 minutes). Connections made
 * from then on. Before the loop runs, or on its thread. */
void dispatch_set_link_timeout(struct dispatcher *d, int ms);

/* The one-line reason a client gets for a DISPATCH_LOST call of status. */
const char *dispatch_lost_reason(unsigned status);

/* Ends the publishes and unpublishes under way with an error, at once:
 * once the loop no longer runs (shutdown), their waits would never end,
 * and the threads that wait must end before the dispatcher goes. The
 * loop's thread, after loop_close_posts. */
void dispatch_abort_pending(struct dispatcher *d);

/* Fails every call in flight (DISPATCH_LOST), closes every handler
 * connection, and completes pending publish/unpublish with an error. */
void dispatcher_destroy(struct dispatcher *d);

/* The function routed at name[0..len), or NULL. Loop thread. */
struct dispatch_function *dispatch_lookup(struct dispatcher *d, const char *name, size_t len);

/* func's metrics slot, which outlives func (metrics.h); NULL with metrics off. */
struct metrics_fn *dispatch_metrics(const struct dispatch_function *func);

/* Sends a call to func; done(ctx, result) runs exactly once, later, on the loop
 * thread (done may be NULL: the result is dropped). Return 0, or -EHOSTUNREACH
 * when func has no live handler, -EBUSY when all its handlers are at its limit
 * and its queue is full, -ENOBUFS when no live handler's connection has room
 * for its bytes (dispatch_set_max_unsent), or -ENOMEM. Loop thread. */
int dispatch_call(struct dispatcher *d, struct dispatch_function *func,
                  const struct dispatch_request *req, dispatch_done_fn *done, void *ctx,
                  struct dispatch_call **out);

/* The caller no longer wants the result (its client went away): done will
 * not run, and a call none of whose bytes went to a handler yet is dropped
 * whole (call is then freed). */
void dispatch_detach(struct dispatch_call *call);

/* The bytes func's handler connections hold unwritten, in all. Loop thread. */
size_t dispatch_unsent_bytes(const struct dispatch_function *func);

/* Called on the loop thread when a name starts (routed) or stops being routed. */
typedef void dispatch_route_fn(void *ctx, const char *name, bool routed);

/* Sets the one route listener (the CoAP front end lists functions for discovery). */
void dispatch_set_route_listener(struct dispatcher *d, dispatch_route_fn *fn, void *ctx);

/* Called on the loop thread when a serving handler's connection is lost
 * (its process died, its container went, it broke the protocol), and again
 * when it has not come back within DISPATCH_GIVE_UP_MS: the healer's cue. */
typedef void dispatch_lost_fn(void *ctx);

/* Sets the one listener for lost handlers. */
void dispatch_set_lost_listener(struct dispatcher *d, dispatch_lost_fn *fn, void *ctx);

/* A handler's address: a unix socket when path is set, else host:port. */
struct dispatch_endpoint {
    char host[64]; /* IPv4 address */
    uint16_t port;
    char path[108]; /* the size of sun_path */
    /* The secret the backend gave the handler (its TINYFAAS_SECRET_FILE:
     * 64 hex digits, hauth_new_secret's or the swarm's, or any up to 64
     * bytes): the daemon answers the handler's CHALLENGE with its proof, and
     * refuses a handler that says READY without one. "": none; the handler
     * must not ask. */
    char secret[65];
};

/* A function's limits on its calls. */
struct dispatch_limits {
    int call_timeout_ms;   /* answered 504 after this; 0: the dispatcher's default */
    unsigned max_inflight; /* per handler; more wait in a queue as long as what may
                            * run at once (max_inflight x handlers), then -EBUSY;
                            * 0: no limit */
};

/* Connects to every endpoint, waits for each handler's ready message (at
 * most ready_timeout_ms), then routes name to them with the limits lim (NULL:
 * none), replacing any previous
 * version, whose handlers are closed once their calls drain. Blocks the
 * calling (control) thread until all that is done. Any thread but the loop's. */
int dispatch_publish(struct dispatcher *d, const char *name, const struct dispatch_endpoint *eps,
                     size_t n, int ready_timeout_ms, const struct dispatch_limits *lim,
                     tf_err *err);

/* As dispatch_publish, but returns once name is routed to eps: the previous
 * connections drain and close on their own. For handlers that stay (a heal, a
 * scale-up), where nothing waits to be removed after the drain. */
int dispatch_reroute(struct dispatcher *d, const char *name, const struct dispatch_endpoint *eps,
                     size_t n, int ready_timeout_ms, const struct dispatch_limits *lim,
                     tf_err *err);

/* Unroutes name and waits until its calls in flight drained (at most the call
 * timeout) and its connections closed. TF_ERR_NOT_FOUND when name is not routed. */
int dispatch_unpublish(struct dispatcher *d, const char *name, tf_err *err);

/* A handler of a routed function that lost its connection and has not said
 * READY again for DISPATCH_GIVE_UP_MS: it runs, perhaps, but does not serve. */
struct dispatch_broken {
    char name[64];
    struct dispatch_endpoint ep;
};

/* Fills out[0..max) with the handlers broken now (the rest wait for a later
 * ask). Return their count, or -1 with err set when the daemon is shutting
 * down. Any thread but the loop's; blocks until the loop answered. */
int dispatch_broken_handlers(struct dispatcher *d, struct dispatch_broken *out, size_t max,
                             tf_err *err);

#endif
