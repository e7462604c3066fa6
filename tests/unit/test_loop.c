/* Unit tests for core/loop.c: tasks posted from other threads, posts closed
 * at shutdown, the tickers' sleep hints and the flush after them, and
 * watches added or removed while the loop dispatches events.
 *
 * A test either runs the loop on a thread of its own and posts to it, or
 * runs it on the test's thread with a watchdog: a thread that stops the loop
 * (by a post) if it still runs after WAIT_MS, so a loop that sleeps when it
 * should not fails the test instead of hanging it. */
#include "loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define WAIT_MS 20000

static struct loop *loop;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;

/* Waits (at most WAIT_MS) until *flag is set under lock. */
static bool wait_flag(const bool *flag)
{
    struct timespec until = check_deadline_in(CLOCK_REALTIME, WAIT_MS);
    pthread_mutex_lock(&lock);
    int rc = 0;
    while (!*flag && rc == 0)
        rc = pthread_cond_timedwait(&cond, &lock, &until);
    bool ok = *flag;
    pthread_mutex_unlock(&lock);
    return ok;
}

static void raise_flag(bool *flag)
{
    pthread_mutex_lock(&lock);
    *flag = true;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
}

static void stop_task(void *arg, bool cancelled)
{
    (void)arg;
    if (!cancelled)
        loop_stop(loop);
}

/* ---- the loop on a thread of its own ---- */

static pthread_t loop_thread;

static void *loop_main(void *arg)
{
    (void)arg;
    loop_run(loop);
    return NULL;
}

static void start_loop_thread(void)
{
    if (loop_create(&loop) < 0) {
        printf("FAIL cannot create a loop\n");
        exit(1);
    }
    pthread_create(&loop_thread, NULL, loop_main, NULL);
}

static void stop_loop_thread(void)
{
    CHECK(loop_post(loop, stop_task, NULL) == 0);
    pthread_join(loop_thread, NULL);
    loop_destroy(loop);
}

/* ---- the loop on the test's thread, with a watchdog ---- */

static bool run_over; /* the loop returned; guarded by lock */
static bool watchdog_fired;

static void *watchdog_main(void *arg)
{
    (void)arg;
    if (!wait_flag(&run_over)) {
        watchdog_fired = true;
        loop_post(loop, stop_task, NULL);
    }
    return NULL;
}

/* Runs the loop here until a ticker stops it; whether it stopped in time. */
static bool run_watched(void)
{
    pthread_t watchdog;
    run_over = watchdog_fired = false;
    pthread_create(&watchdog, NULL, watchdog_main, NULL);
    loop_run(loop);
    raise_flag(&run_over);
    pthread_join(watchdog, NULL);
    return !watchdog_fired;
}

static void create_loop(void)
{
    if (loop_create(&loop) < 0) {
        printf("FAIL cannot create a loop\n");
        exit(1);
    }
}

/* ==== posts ==== */

struct seen {
    pthread_t thread;
    bool cancelled;
    bool ran;
};

static void record_task(void *arg, bool cancelled)
{
    struct seen *s = arg;
    s->thread = pthread_self();
    s->cancelled = cancelled;
    raise_flag(&s->ran);
}

/* A task posted from another thread runs on the loop's thread, not cancelled. */
static void test_post_runs_on_the_loop_thread(void)
{
    struct seen s = {0};
    start_loop_thread();
    CHECK(loop_post(loop, record_task, &s) == 0);
    CHECK(wait_flag(&s.ran));
    CHECK(pthread_equal(s.thread, loop_thread) && !s.cancelled);
    stop_loop_thread();
}

#define POSTERS    4
#define PER_POSTER 2000

static int next_seq[POSTERS]; /* loop thread only */
static int ran_tasks, out_of_order;

static void count_task(void *arg, bool cancelled)
{
    uintptr_t v = (uintptr_t)arg;
    int poster = (int)(v % POSTERS), seq = (int)(v / POSTERS);
    ran_tasks += !cancelled;
    out_of_order += seq != next_seq[poster];
    next_seq[poster] = seq + 1;
}

static void *poster_main(void *arg)
{
    uintptr_t poster = (uintptr_t)arg;
    for (uintptr_t seq = 0; seq < PER_POSTER; seq++)
        if (loop_post(loop, count_task, (void *)(seq * POSTERS + poster)) < 0)
            return (void *)1;
    return NULL;
}

/* Tasks posted by several threads at once each run once, and each thread's
 * in the order it posted them. */
static void test_posts_from_many_threads_run_once_in_order(void)
{
    pthread_t posters[POSTERS];
    memset(next_seq, 0, sizeof next_seq);
    ran_tasks = out_of_order = 0;
    start_loop_thread();
    for (uintptr_t i = 0; i < POSTERS; i++)
        pthread_create(&posters[i], NULL, poster_main, (void *)i);
    int failed_posts = 0;
    for (int i = 0; i < POSTERS; i++) {
        void *rc;
        pthread_join(posters[i], &rc);
        failed_posts += rc != NULL;
    }
    stop_loop_thread(); /* its stop task runs after every task posted before it */
    CHECK(failed_posts == 0);
    CHECKF(ran_tasks == POSTERS * PER_POSTER, "%d tasks ran", ran_tasks);
    CHECK(out_of_order == 0);
}

/* Closing posts runs the tasks still queued, cancelled, in order, on the
 * closing thread; a post after it fails and its task never runs. */
static void test_close_posts_cancels_queued_tasks_and_refuses_more(void)
{
    struct seen s[3] = {{0}}, late = {0};
    create_loop(); /* never run: the tasks stay queued */
    for (int i = 0; i < 3; i++)
        CHECK(loop_post(loop, record_task, &s[i]) == 0);
    CHECK(!s[0].ran);
    loop_close_posts(loop);
    for (int i = 0; i < 3; i++)
        CHECK(s[i].ran && s[i].cancelled && pthread_equal(s[i].thread, pthread_self()));
    CHECK(loop_post(loop, record_task, &late) == -ESHUTDOWN);
    loop_destroy(loop);
    CHECK(!late.ran);
}

/* Freeing a loop runs its queued tasks cancelled. */
static void test_destroy_cancels_queued_tasks(void)
{
    struct seen s = {0};
    create_loop();
    CHECK(loop_post(loop, record_task, &s) == 0);
    loop_destroy(loop);
    CHECK(s.ran && s.cancelled);
}

/* ==== tickers and the flush ==== */

static char trace[64]; /* what ran, in order */
static int ticks;      /* calls of the counting ticker */
static int stop_after; /* the counting ticker stops the loop at this call */

static void trace_add(char c)
{
    size_t n = strlen(trace);
    if (n + 1 < sizeof trace) {
        trace[n] = c;
        trace[n + 1] = '\0';
    }
}

/* Returns the hint in ctx, tracing 'a'. */
static int hint_ticker(void *ctx)
{
    trace_add('a');
    return (int)(intptr_t)ctx;
}

/* Returns the hint in ctx, tracing 'b'; stops the loop at its stop_after-th call. */
static int counting_ticker(void *ctx)
{
    trace_add('b');
    if (++ticks == stop_after)
        loop_stop(loop);
    return (int)(intptr_t)ctx;
}

static void trace_flush(void *ctx)
{
    (void)ctx;
    trace_add('F');
}

/* Tickers with hints a, b (counting, stopping at stop_at), then a again: each
 * hint is both before and after another. */
static void start_ticking(int hint_a, int hint_b, int stop_at)
{
    create_loop();
    trace[0] = '\0';
    ticks = 0;
    stop_after = stop_at;
    loop_add_ticker(loop, hint_ticker, (void *)(intptr_t)hint_a);
    loop_add_ticker(loop, counting_ticker, (void *)(intptr_t)hint_b);
    loop_add_ticker(loop, hint_ticker, (void *)(intptr_t)hint_a);
}

/* Every iteration runs every ticker, in the order added, then the flush. */
static void test_flush_runs_after_the_tickers_of_every_iteration(void)
{
    start_ticking(0, 0, 3);
    loop_set_flush(loop, trace_flush, NULL);
    CHECK(run_watched());
    CHECKF(strcmp(trace, "abaFabaFabaF") == 0, "trace %s", trace);
    loop_destroy(loop);
}

/* A hint of 0 runs the next iteration without waiting for an event, though
 * another ticker has no limit (-1). */
static void test_zero_hint_iterates_without_events(void)
{
    start_ticking(-1, 0, 5);
    CHECK(run_watched());
    CHECK(ticks == 5);
    loop_destroy(loop);
}

/* The smallest hint decides how long the loop sleeps: 1 ms wins over a
 * minute, so five iterations come well within the watchdog's bound. */
static void test_smallest_hint_wins(void)
{
    start_ticking(60000, 1, 5);
    CHECK(run_watched());
    CHECK(ticks == 5);
    loop_destroy(loop);
}

static int ticks_seen[2]; /* ticks when each of two posted tasks ran */
static bool seen_ran[2];

static void note_ticks(void *arg, bool cancelled)
{
    (void)cancelled;
    int i = (int)(intptr_t)arg;
    ticks_seen[i] = ticks;
    raise_flag(&seen_ran[i]);
}

/* With no hint from any ticker the loop sleeps until an event: between two
 * posted tasks, however far apart, it iterates exactly once. */
static void test_no_hint_sleeps_until_an_event(void)
{
    create_loop();
    ticks = 0;
    stop_after = -1;
    loop_add_ticker(loop, counting_ticker, (void *)(intptr_t)-1);
    pthread_create(&loop_thread, NULL, loop_main, NULL);
    seen_ran[0] = seen_ran[1] = false;
    CHECK(loop_post(loop, note_ticks, (void *)0) == 0);
    CHECK(wait_flag(&seen_ran[0]));
    CHECK(loop_post(loop, note_ticks, (void *)1) == 0);
    CHECK(wait_flag(&seen_ran[1]));
    CHECKF(ticks_seen[1] == ticks_seen[0] + 1, "ticks %d then %d", ticks_seen[0], ticks_seen[1]);
    stop_loop_thread();
}

/* ==== watches changed while the loop dispatches ==== */

struct watched {
    struct loop_watch w;
    int calls;
    int first_tick, last_tick; /* the iteration of its first and last event */
    int calls_removed;         /* events that came once loop_remove() had returned */
};

static struct watched wa, wb, wc;
static struct watched *removed;  /* the watch a callback removed */
static int removed_at, added_at; /* the iteration: events of the k-th see ticks == k */
static bool drain;               /* callbacks read their eventfd, so it fires once */

static void on_event(void *ctx, uint32_t events)
{
    (void)events;
    struct watched *x = ctx;
    x->calls_removed += x == removed;
    if (x->calls++ == 0)
        x->first_tick = ticks;
    x->last_tick = ticks;
    uint64_t n;
    if (drain && read(x->w.fd, &n, sizeof n) < 0) {
        /* nothing to read: it fired for another reason; nothing to undo */
    }
}

/* A's first event adds C. */
static void on_event_adding_c(void *ctx, uint32_t events)
{
    on_event(ctx, events);
    if (wa.calls == 1 && loop_add(loop, &wc.w, EPOLLIN) == 0)
        added_at = ticks;
}

/* The first of A and B to have an event removes the other, whose event may
 * be waiting in the same batch. */
static void on_event_removing_the_other(void *ctx, uint32_t events)
{
    on_event(ctx, events);
    if (removed == NULL) {
        removed = ctx == &wa ? &wb : &wa;
        loop_remove(loop, &removed->w);
        removed_at = ticks;
    }
}

/* An eventfd that reads as ready. */
static void make_ready(struct watched *x, loop_io_fn *fn)
{
    memset(x, 0, sizeof *x);
    x->w = (struct loop_watch){eventfd(1, EFD_NONBLOCK | EFD_CLOEXEC), fn, x};
    x->first_tick = x->last_tick = -1;
}

/* Stops once C had its event, or after ten iterations. */
static int watch_ticker(void *ctx)
{
    (void)ctx;
    ticks++;
    if (wc.calls > 0 || ticks >= 10)
        loop_stop(loop);
    return 0;
}

static void start_watching(void)
{
    create_loop();
    ticks = 0;
    added_at = removed_at = -1;
    removed = NULL;
    loop_add_ticker(loop, watch_ticker, NULL);
}

static void stop_watching(void)
{
    loop_destroy(loop);
    close(wa.w.fd);
    close(wb.w.fd);
    close(wc.w.fd);
}

/* A watch added by a callback gets its event in a later iteration. */
static void test_watch_added_in_a_callback_gets_events(void)
{
    start_watching();
    drain = true;
    make_ready(&wa, on_event_adding_c);
    make_ready(&wb, on_event);
    make_ready(&wc, on_event);
    CHECK(loop_add(loop, &wa.w, EPOLLIN) == 0);
    CHECK(run_watched());
    CHECK(wa.calls == 1 && added_at == 1);
    CHECKF(wc.calls == 1 && wc.first_tick > added_at, "C: %d events, first at %d", wc.calls,
           wc.first_tick);
    stop_watching();
}

/* A watch removed by another's callback gets no event once loop_remove()
 * returned, not even one collected in the same batch (its owner may free
 * it then); the other goes on. Neither is drained, so both are ready in
 * every iteration and both are in the first batch. */
static void test_watch_removed_in_a_callback_gets_no_more_events(void)
{
    start_watching();
    drain = false;
    make_ready(&wa, on_event_removing_the_other);
    make_ready(&wb, on_event_removing_the_other);
    make_ready(&wc, on_event);
    CHECK(loop_add(loop, &wa.w, EPOLLIN) == 0);
    CHECK(loop_add(loop, &wb.w, EPOLLIN) == 0);
    CHECK(run_watched());
    CHECK(removed != NULL && removed_at == 1);
    if (removed != NULL) {
        struct watched *stays = removed == &wa ? &wb : &wa;
        CHECK(stays->calls == ticks - 1); /* one event an iteration, after the first tickers */
        CHECKF(removed->calls_removed == 0, "%d events after loop_remove()",
               removed->calls_removed);
    }
    stop_watching();
}

int main(void)
{
    test_post_runs_on_the_loop_thread();
    test_posts_from_many_threads_run_once_in_order();
    test_close_posts_cancels_queued_tasks_and_refuses_more();
    test_destroy_cancels_queued_tasks();
    test_flush_runs_after_the_tickers_of_every_iteration();
    test_zero_hint_iterates_without_events();
    test_smallest_hint_wins();
    test_no_hint_sleeps_until_an_event();
    test_watch_added_in_a_callback_gets_events();
    test_watch_removed_in_a_callback_gets_no_more_events();
    return check_summary();
}
