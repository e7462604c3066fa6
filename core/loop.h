/* The data path's event loop: one thread owns every socket of the front ends
 * and the handler connections, so the hot path takes no lock. Other threads
 * reach it only through loop_post(). */
#ifndef TF_LOOP_H
#define TF_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h> /* the event masks (EPOLLIN, ...) are the loop's own */

struct loop;

/* Called on readiness of a watched fd with the epoll events. */
typedef void loop_io_fn(void *ctx, uint32_t events);

/* A watched fd; the struct must outlive its registration. */
struct loop_watch {
    int fd;
    loop_io_fn *fn;
    void *ctx;
};

/* Called once per iteration after events; returns the ms it may sleep next (-1: no limit). */
typedef int loop_tick_fn(void *ctx);

/* Runs on the loop thread; cancelled is true when the loop shut down first. */
typedef void loop_task_fn(void *arg, bool cancelled);

/* Creates a loop. Return 0 or a negative errno. */
int loop_create(struct loop **out);

/* Frees the loop; tasks still queued run with cancelled = true. */
void loop_destroy(struct loop *l);

/* Watches w->fd for events (EPOLLIN, EPOLLOUT...). Return 0 or a negative errno. */
int loop_add(struct loop *l, struct loop_watch *w, uint32_t events);
int loop_modify(struct loop *l, struct loop_watch *w, uint32_t events);
void loop_remove(struct loop *l, struct loop_watch *w);

/* Registers a ticker (at most LOOP_MAX_TICKERS). */
int loop_add_ticker(struct loop *l, loop_tick_fn *fn, void *ctx);

/* Sets the hook run after every iteration's tickers, to send what the
 * iteration queued in as few writes as possible. */
void loop_set_flush(struct loop *l, void (*fn)(void *ctx), void *ctx);

/* Runs until loop_stop(). Return 0 or a negative errno. */
int loop_run(struct loop *l);

/* Makes loop_run() return after the current iteration (loop thread only). */
void loop_stop(struct loop *l);

/* Queues fn(arg) to run on the loop thread; safe from any thread. Returns
 * -ESHUTDOWN once the loop has stopped (fn is then not called). */
int loop_post(struct loop *l, loop_task_fn *fn, void *arg);

/* Ends posting: later loop_post() calls fail, and queued tasks run cancelled. */
void loop_close_posts(struct loop *l);

/* Monotonic time in milliseconds. */
int64_t loop_now_ms(void);

#endif
