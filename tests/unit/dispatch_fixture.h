/* What the dispatcher tests share. The loop runs on its own thread, as in
 * the daemon. The test thread plays the control path (publish, unpublish, on
 * a thread of their own, since they block) and the handlers (fake_handler.h),
 * and makes calls by posting them to the loop. Every step posted to the loop
 * waits until the loop ran it and then until it ran once more: by then the
 * iteration's flush wrote what the step queued, so a fake handler on a unix
 * socket can say at once, without waiting, that nothing came to it.
 *
 * Calls are numbered: call i has body "c<i>" and is recorded in fx.calls[i];
 * a fake answers it "<who>:c<i>", so a result says which handler answered. */
#ifndef TF_TEST_DISPATCH_FIXTURE_H
#define TF_TEST_DISPATCH_FIXTURE_H

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "dispatch.h"
#include "fake_handler.h"

#define CALLS_MAX    128
#define LONG_TIMEOUT 60000 /* ms: calls that must not time out, even on a loaded machine */

/* One call the test made, and what came back for it. */
struct call_record {
    int rc; /* of dispatch_call */
    struct dispatch_call *handle;
    int done_count;   /* how often done ran: must be 0 or 1 */
    int finish_order; /* 1 for the first call of the test to finish, 2 for the next... */
    enum dispatch_outcome outcome;
    uint16_t status;
    char content_type[32];
    char body[128];
};

struct fixture {
    struct loop *loop;
    struct dispatcher *d;
    pthread_t loop_thread;
    pthread_mutex_t lock; /* guards what the loop thread records below */
    pthread_cond_t cond;
    struct call_record calls[CALLS_MAX];
    int finished;
    int lost;          /* lost-handler events */
    char routes[64];   /* route events in order: "+f" routed, "-f" unrouted */
    bool loop_stopped; /* the loop thread returned */
};

static struct fixture fx;

/* ---- waiting, bounded ---- */

/* Waits (at most FAKE_WAIT_MS) until holds(arg) is true; fx.lock is held while it is asked. */
static bool wait_for(bool (*holds)(void *arg), void *arg)
{
    struct timespec until = check_deadline_in(CLOCK_MONOTONIC, FAKE_WAIT_MS);
    pthread_mutex_lock(&fx.lock);
    int rc = 0;
    while (!holds(arg) && rc == 0)
        rc = pthread_cond_timedwait(&fx.cond, &fx.lock, &until);
    bool ok = holds(arg);
    pthread_mutex_unlock(&fx.lock);
    return ok;
}

/* ---- running things on the loop thread ---- */

struct loop_job {
    void (*fn)(void *arg);
    void *arg;
    bool ran;
};

static void run_job(void *arg, bool cancelled)
{
    struct loop_job *job = arg;
    if (!cancelled)
        job->fn(job->arg);
    pthread_mutex_lock(&fx.lock);
    job->ran = true;
    pthread_cond_broadcast(&fx.cond);
    pthread_mutex_unlock(&fx.lock);
}

static bool job_ran(void *arg)
{
    return ((struct loop_job *)arg)->ran;
}

static void nothing(void *arg)
{
    (void)arg;
}

/* Runs fn(arg) on the loop thread, then waits for one more loop iteration, so
 * that what fn queued has been flushed to the handlers. The job lives on this
 * stack: if the loop does not run it in time, the test cannot go on safely. */
static void on_loop(void (*fn)(void *arg), void *arg)
{
    for (int round = 0; round < 2; round++) {
        struct loop_job job = {round == 0 ? fn : nothing, arg, false};
        if (loop_post(fx.loop, run_job, &job) < 0 || !wait_for(job_ran, &job)) {
            printf("FAIL the loop did not run a posted job\n");
            exit(1);
        }
    }
}

/* ---- listeners, on the loop thread ---- */

static void record_done(void *ctx, const struct dispatch_result *res)
{
    struct call_record *c = ctx;
    pthread_mutex_lock(&fx.lock);
    c->done_count++;
    c->finish_order = ++fx.finished;
    c->outcome = res->outcome;
    c->status = res->status;
    copy_bytes(c->content_type, sizeof c->content_type, res->content_type);
    copy_bytes(c->body, sizeof c->body, res->body);
    pthread_cond_broadcast(&fx.cond);
    pthread_mutex_unlock(&fx.lock);
}

static void record_lost(void *ctx)
{
    (void)ctx;
    pthread_mutex_lock(&fx.lock);
    fx.lost++;
    pthread_cond_broadcast(&fx.cond);
    pthread_mutex_unlock(&fx.lock);
}

static void record_route(void *ctx, const char *name, bool routed)
{
    (void)ctx;
    pthread_mutex_lock(&fx.lock);
    size_t len = strlen(fx.routes);
    snprintf(fx.routes + len, sizeof fx.routes - len, "%c%s", routed ? '+' : '-', name);
    pthread_mutex_unlock(&fx.lock);
}

/* ---- the fixture: a loop on its thread and a dispatcher ---- */

static void *loop_main(void *arg)
{
    (void)arg;
    loop_run(fx.loop);
    pthread_mutex_lock(&fx.lock);
    fx.loop_stopped = true;
    pthread_mutex_unlock(&fx.lock);
    return NULL;
}

static void setup(void)
{
    memset(&fx, 0, sizeof fx);
    pthread_mutex_init(&fx.lock, NULL);
    pthread_condattr_t monotonic;
    pthread_condattr_init(&monotonic);
    pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC); /* waits immune to clock steps */
    pthread_cond_init(&fx.cond, &monotonic);
    pthread_condattr_destroy(&monotonic);
    if (loop_create(&fx.loop) < 0 || dispatcher_create(fx.loop, LONG_TIMEOUT, &fx.d) < 0) {
        printf("FAIL cannot create the loop and dispatcher\n");
        exit(1);
    }
    dispatch_set_lost_listener(fx.d, record_lost, NULL);
    dispatch_set_route_listener(fx.d, record_route, NULL);
    pthread_create(&fx.loop_thread, NULL, loop_main, NULL);
}

static void stop_loop(void *arg)
{
    (void)arg;
    loop_stop(fx.loop);
}

/* Stops the loop and waits for its thread to return. */
static void stop_loop_thread(void)
{
    struct loop_job job = {stop_loop, NULL, false};
    if (loop_post(fx.loop, run_job, &job) < 0 || !wait_for(job_ran, &job)) {
        printf("FAIL the loop did not stop\n");
        exit(1);
    }
    pthread_join(fx.loop_thread, NULL);
}

/* Frees everything in the daemon's order once its loop stopped: posts closed,
 * then the dispatcher (which fails what is still in flight), then the loop. */
static void teardown(struct fake_handler *fakes, size_t n)
{
    if (!fx.loop_stopped)
        stop_loop_thread();
    loop_close_posts(fx.loop);
    dispatcher_destroy(fx.d);
    loop_destroy(fx.loop);
    for (size_t i = 0; i < n; i++)
        fake_free(&fakes[i]);
    pthread_cond_destroy(&fx.cond);
    pthread_mutex_destroy(&fx.lock);
}

/* Fakes listening on unix sockets. */
static void listen_all(struct fake_handler *fakes, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!fake_listen_unix(&fakes[i])) {
            perror("fake_listen_unix");
            exit(1);
        }
}

/* ---- the control path, on a thread of its own (publish blocks) ---- */

enum control_kind { PUBLISH, REROUTE, UNPUBLISH };

struct control {
    enum control_kind kind;
    const char *name;
    struct dispatch_endpoint eps[4];
    size_t n;
    int ready_timeout_ms;
    struct dispatch_limits lim;
    pthread_t thread;
    int rc;
    tf_err err;
    bool finished;
};

static void *control_main(void *arg)
{
    struct control *c = arg;
    int rc;
    if (c->kind == UNPUBLISH)
        rc = dispatch_unpublish(fx.d, c->name, &c->err);
    else if (c->kind == REROUTE)
        rc = dispatch_reroute(fx.d, c->name, c->eps, c->n, c->ready_timeout_ms, &c->lim, &c->err);
    else
        rc = dispatch_publish(fx.d, c->name, c->eps, c->n, c->ready_timeout_ms, &c->lim, &c->err);
    pthread_mutex_lock(&fx.lock);
    c->rc = rc;
    c->finished = true;
    pthread_cond_broadcast(&fx.cond);
    pthread_mutex_unlock(&fx.lock);
    return NULL;
}

static bool control_done(void *arg)
{
    return ((struct control *)arg)->finished;
}

/* Prepares kind of control operation on name, to the fakes' endpoints. */
static void control_init(struct control *c, enum control_kind kind, const char *name,
                         const struct fake_handler *fakes, size_t n, unsigned max_inflight,
                         int call_timeout_ms)
{
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->name = name;
    c->n = n;
    c->ready_timeout_ms = FAKE_WAIT_MS;
    c->lim = (struct dispatch_limits){call_timeout_ms, max_inflight};
    for (size_t i = 0; i < n; i++) {
        snprintf(c->eps[i].path, sizeof c->eps[i].path, "%s", fakes[i].path);
        snprintf(c->eps[i].host, sizeof c->eps[i].host, "127.0.0.1");
        c->eps[i].port = fakes[i].port;
    }
    tf_err_clear(&c->err);
}

/* Starts the operation on a thread of its own. */
static void control_run(struct control *c)
{
    pthread_create(&c->thread, NULL, control_main, c);
}

static void control_start(struct control *c, enum control_kind kind, const char *name,
                          const struct fake_handler *fakes, size_t n, unsigned max_inflight,
                          int call_timeout_ms)
{
    control_init(c, kind, name, fakes, n, max_inflight, call_timeout_ms);
    control_run(c);
}

/* Waits for the operation to return; its rc. */
static int control_join(struct control *c)
{
    if (!wait_for(control_done, c)) {
        printf("FAIL a control operation did not return\n");
        exit(1);
    }
    pthread_join(c->thread, NULL);
    return c->rc;
}

/* Whether the operation returned, asked after one more loop iteration. False
 * may also mean its thread has not woken yet, so tests only assert that an
 * operation has not returned when it must not have. */
__attribute__((unused)) static bool control_finished(struct control *c)
{
    on_loop(nothing, NULL);
    pthread_mutex_lock(&fx.lock);
    bool finished = c->finished;
    pthread_mutex_unlock(&fx.lock);
    return finished;
}

/* Publishes (or reroutes) name to the fakes, which accept and say READY. */
static int publish_limited(enum control_kind kind, const char *name, struct fake_handler *fakes,
                           size_t n, unsigned max_inflight, int call_timeout_ms)
{
    struct control c;
    control_start(&c, kind, name, fakes, n, max_inflight, call_timeout_ms);
    for (size_t i = 0; i < n; i++)
        CHECK(fake_accept_ready(&fakes[i]));
    return control_join(&c);
}

static int publish(const char *name, struct fake_handler *fakes, size_t n)
{
    return publish_limited(PUBLISH, name, fakes, n, 0, 0);
}

/* ---- calls, made on the loop thread ---- */

struct call_batch {
    const char *name;
    int first, n; /* the call records used */
};

static const struct hproto_header test_header = {{"X-Test", 6}, {"yes", 3}};

static void start_batch(void *arg)
{
    struct call_batch *b = arg;
    for (int i = b->first; i < b->first + b->n; i++) {
        struct call_record *c = &fx.calls[i];
        char body[16];
        snprintf(body, sizeof body, "c%d", i);
        struct dispatch_request req = {{"POST", 4}, &test_header, 1, {body, strlen(body)}};
        struct dispatch_function *func = dispatch_lookup(fx.d, b->name, strlen(b->name));
        c->rc =
            func != NULL ? dispatch_call(fx.d, func, &req, record_done, c, &c->handle) : -ENOENT;
    }
}

/* Calls name with body "c<i>" for each i of [first, first + n), all in one
 * loop iteration; the rc of each is in fx.calls[i].rc. */
static void call_many(const char *name, int first, int n)
{
    struct call_batch b = {name, first, n};
    on_loop(start_batch, &b);
}

/* Calls name with body "c<i>", recorded in fx.calls[i]; the rc of dispatch_call. */
static int call(const char *name, int i)
{
    call_many(name, i, 1);
    return fx.calls[i].rc;
}

static bool call_done(void *arg)
{
    return ((struct call_record *)arg)->done_count > 0;
}

/* Waits for call i to finish, then for the loop to flush what that caused. */
static struct call_record *wait_done(int i)
{
    CHECKF(wait_for(call_done, &fx.calls[i]), "call c%d did not finish", i);
    on_loop(nothing, NULL);
    return &fx.calls[i];
}

/* Whether call i finished as DONE with status 200 and this body. */
static bool answered(int i, const char *body)
{
    struct call_record *c = wait_done(i);
    bool ok = c->done_count == 1 && c->outcome == DISPATCH_DONE && c->status == 200 &&
              strcmp(c->body, body) == 0;
    if (!ok)
        printf("call c%d: done %d times, outcome %d, status %u, body \"%s\"\n", i, c->done_count,
               c->outcome, c->status, c->body);
    return ok;
}

/* Whether call i finished once with this outcome and status, and no body. */
static bool failed(int i, enum dispatch_outcome outcome, uint16_t status)
{
    struct call_record *c = wait_done(i);
    bool ok =
        c->done_count == 1 && c->outcome == outcome && c->status == status && c->body[0] == '\0';
    if (!ok)
        printf("call c%d: done %d times, outcome %d, status %u\n", i, c->done_count, c->outcome,
               c->status);
    return ok;
}

static int done_count(int i)
{
    pthread_mutex_lock(&fx.lock);
    int n = fx.calls[i].done_count;
    pthread_mutex_unlock(&fx.lock);
    return n;
}

/* ---- what the fake handlers see ---- */

/* Whether the fake's next message is the CALL with body "c<i>"; its id in *id. */
static bool gets_call(struct fake_handler *fh, int i, uint32_t *id)
{
    struct fake_call c;
    char want[16];
    snprintf(want, sizeof want, "c%d", i);
    if (!fake_recv_call(fh, &c) || strcmp(c.body, want) != 0) {
        printf("expected call %s, got \"%s\"\n", want, c.body);
        return false;
    }
    if (id != NULL)
        *id = c.id;
    return true;
}

/* Answers call id with "<who>:c<i>", so the test sees which handler answered. */
static bool answer(struct fake_handler *fh, const char *who, uint32_t id, int i)
{
    char body[32];
    snprintf(body, sizeof body, "%s:c%d", who, i);
    return fake_reply(fh, id, body);
}

/* Which of the fakes has a message waiting, when exactly one has; else -1. */
__attribute__((unused)) static int the_one_pending(struct fake_handler *fakes, int n)
{
    int which = -1;
    for (int i = 0; i < n; i++)
        if (fake_pending(&fakes[i]))
            which = which == -1 ? i : -2;
    return which < 0 ? -1 : which;
}

/* Reads one call from each of n fakes, calls first .. first + n - 1 between
 * them: holder[k] is the fake that got call first + k, ids[k] its id. */
static bool one_call_each(struct fake_handler *fakes, int n, int first, int *holder, uint32_t *ids)
{
    for (int k = 0; k < n; k++)
        holder[k] = -1;
    for (int i = 0; i < n; i++) {
        struct fake_call c;
        int k;
        if (!fake_recv_call(&fakes[i], &c) || sscanf(c.body, "c%d", &k) != 1 || k < first ||
            k >= first + n || holder[k - first] != -1)
            return false;
        holder[k - first] = i;
        ids[k - first] = c.id;
    }
    return true;
}

/* ---- what the dispatcher says, asked on the loop thread ---- */

struct loop_check {
    bool (*holds)(void *arg);
    void *arg;
    bool result;
};

static void run_check(void *arg)
{
    struct loop_check *c = arg;
    c->result = c->holds(c->arg);
}

/* Asks holds(arg) on the loop thread until it is true, at most FAKE_WAIT_MS. */
__attribute__((unused)) static bool wait_on_loop(bool (*holds)(void *arg), void *arg)
{
    struct loop_check c = {holds, arg, false};
    int64_t until = loop_now_ms() + FAKE_WAIT_MS;
    do
        on_loop(run_check, &c);
    while (!c.result && loop_now_ms() < until);
    return c.result;
}

/* Whether *arg lost-handler events came; asked by wait_for, fx.lock held. */
static bool lost_reached(void *arg)
{
    return fx.lost >= *(int *)arg;
}

/* Lost-handler events so far. */
static int lost_count(void)
{
    pthread_mutex_lock(&fx.lock);
    int n = fx.lost;
    pthread_mutex_unlock(&fx.lock);
    return n;
}

#endif
