#include "loop.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define LOOP_MAX_TICKERS 8
#define LOOP_MAX_EVENTS  256
/* After events, the loop polls for more without sleeping until this long
 * after they arrived, then blocks in epoll_wait. A call at a time would
 * otherwise sleep twice per call (for the request, for the reply), and on a
 * virtual machine each wake-up costs tens of µs. An idle loop still blocks,
 * and with many calls in flight events are nearly always waiting anyway.
 * Why 20 µs, from arrival rather than from handling: docs/internals.md. */
#define LOOP_SPIN_NS 20000

struct loop_task {
    loop_task_fn *fn;
    void *arg;
    struct loop_task *next;
};

struct loop_ticker {
    loop_tick_fn *fn;
    void *ctx;
};

struct loop {
    int epfd;
    bool running;
    struct loop_ticker tickers[LOOP_MAX_TICKERS];
    int n_tickers;
    void (*flush)(void *ctx);
    void *flush_ctx;
    /* Posts from control threads: a short mutex-guarded queue and an eventfd
     * to wake the loop; never touched per request. */
    struct loop_watch post_watch;
    pthread_mutex_t post_lock;
    struct loop_task *post_head, *post_tail;
    bool posts_closed;
    /* The batch being dispatched, so loop_remove() can drop the events of
     * a watch removed before its turn: its owner may free it at once. */
    struct epoll_event *batch;
    int batch_next, batch_n;
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t loop_now_ms(void)
{
    return now_ns() / 1000000;
}

static struct loop_task *take_posts(struct loop *l)
{
    pthread_mutex_lock(&l->post_lock);
    struct loop_task *t = l->post_head;
    l->post_head = l->post_tail = NULL;
    pthread_mutex_unlock(&l->post_lock);
    return t;
}

static void run_tasks(struct loop_task *t, bool cancelled)
{
    while (t != NULL) {
        struct loop_task *next = t->next;
        t->fn(t->arg, cancelled);
        free(t);
        t = next;
    }
}

static void on_post(void *ctx, uint32_t events)
{
    (void)events;
    struct loop *l = ctx;
    uint64_t n;
    /* Reading resets the eventfd counter; a failed read means nothing to do. */
    if (read(l->post_watch.fd, &n, sizeof n) < 0 && errno != EAGAIN)
        return;
    run_tasks(take_posts(l), false);
}

int loop_create(struct loop **out)
{
    struct loop *l = calloc(1, sizeof *l);
    if (l == NULL)
        return -ENOMEM;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->epfd < 0 || efd < 0) {
        int e = -errno;
        if (l->epfd >= 0)
            close(l->epfd);
        if (efd >= 0)
            close(efd);
        free(l);
        return e;
    }
    pthread_mutex_init(&l->post_lock, NULL);
    l->post_watch = (struct loop_watch){.fd = efd, .fn = on_post, .ctx = l};
    int rc = loop_add(l, &l->post_watch, EPOLLIN);
    if (rc < 0) {
        loop_destroy(l);
        return rc;
    }
    *out = l;
    return 0;
}

void loop_close_posts(struct loop *l)
{
    pthread_mutex_lock(&l->post_lock);
    l->posts_closed = true;
    pthread_mutex_unlock(&l->post_lock);
    run_tasks(take_posts(l), true);
}

void loop_destroy(struct loop *l)
{
    if (l == NULL)
        return;
    loop_close_posts(l);
    close(l->post_watch.fd);
    close(l->epfd);
    pthread_mutex_destroy(&l->post_lock);
    free(l);
}

int loop_add(struct loop *l, struct loop_watch *w, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};
    return epoll_ctl(l->epfd, EPOLL_CTL_ADD, w->fd, &ev) < 0 ? -errno : 0;
}

int loop_modify(struct loop *l, struct loop_watch *w, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};
    return epoll_ctl(l->epfd, EPOLL_CTL_MOD, w->fd, &ev) < 0 ? -errno : 0;
}

void loop_remove(struct loop *l, struct loop_watch *w)
{
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    for (int i = l->batch_next; i < l->batch_n; i++)
        if (l->batch[i].data.ptr == w)
            l->batch[i].data.ptr = NULL;
}

int loop_add_ticker(struct loop *l, loop_tick_fn *fn, void *ctx)
{
    if (l->n_tickers == LOOP_MAX_TICKERS)
        return -ENOSPC;
    l->tickers[l->n_tickers++] = (struct loop_ticker){fn, ctx};
    return 0;
}

void loop_set_flush(struct loop *l, void (*fn)(void *ctx), void *ctx)
{
    l->flush = fn;
    l->flush_ctx = ctx;
}

static int run_tickers(struct loop *l)
{
    int timeout = -1;
    for (int i = 0; i < l->n_tickers; i++) {
        int t = l->tickers[i].fn(l->tickers[i].ctx);
        if (t >= 0 && (timeout < 0 || t < timeout))
            timeout = t;
    }
    if (l->flush != NULL)
        l->flush(l->flush_ctx);
    return timeout;
}

/* Waits for events: polls while the last came less than LOOP_SPIN_NS ago,
 * then sleeps up to timeout ms. */
static int wait_events(struct loop *l, struct epoll_event *events, int timeout, int64_t came_ns)
{
    int n = 0;
    while (n == 0 && now_ns() - came_ns < LOOP_SPIN_NS)
        n = epoll_wait(l->epfd, events, LOOP_MAX_EVENTS, 0);
    return n != 0 ? n : epoll_wait(l->epfd, events, LOOP_MAX_EVENTS, timeout);
}

int loop_run(struct loop *l)
{
    struct epoll_event events[LOOP_MAX_EVENTS];
    l->running = true;
    int timeout = run_tickers(l);
    int64_t came_ns = 0;
    while (l->running) {
        int n = wait_events(l, events, timeout, came_ns);
        if (n > 0)
            came_ns = now_ns();
        if (n < 0 && errno != EINTR)
            return -errno;
        l->batch = events;
        l->batch_n = n > 0 ? n : 0;
        for (l->batch_next = 0; l->batch_next < l->batch_n;) {
            struct epoll_event *ev = &events[l->batch_next++];
            struct loop_watch *w = ev->data.ptr;
            if (w != NULL) /* NULL: removed earlier in this batch */
                w->fn(w->ctx, ev->events);
        }
        l->batch_n = 0;
        timeout = run_tickers(l);
    }
    return 0;
}

void loop_stop(struct loop *l)
{
    l->running = false;
}

int loop_post(struct loop *l, loop_task_fn *fn, void *arg)
{
    struct loop_task *t = malloc(sizeof *t);
    if (t == NULL)
        return -ENOMEM;
    *t = (struct loop_task){.fn = fn, .arg = arg};
    pthread_mutex_lock(&l->post_lock);
    if (l->posts_closed) {
        pthread_mutex_unlock(&l->post_lock);
        free(t);
        return -ESHUTDOWN;
    }
    if (l->post_tail != NULL)
        l->post_tail->next = t;
    else
        l->post_head = t;
    l->post_tail = t;
    pthread_mutex_unlock(&l->post_lock);
    uint64_t one = 1;
    /* The eventfd counter cannot overflow here in practice; a wake-up is all we need. */
    if (write(l->post_watch.fd, &one, sizeof one) < 0) {
        /* EAGAIN means the counter is already non-zero: the loop will wake anyway. */
    }
    return 0;
}
