/* The shim's single event loop: epoll over listener, connections, pipes and
 * the signalfd. Objects freed while handling a batch are buried and freed
 * after it, so stale events in the same batch never touch freed memory. */
#include "shim.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

static int loop_fd = -1;
static bool loop_stopping;
static struct shim_grave *loop_graves;
static unsigned long loop_batches;

int shim_loop_init(void)
{
    loop_fd = epoll_create1(EPOLL_CLOEXEC);
    return loop_fd < 0 ? -errno : 0;
}

int shim_watch_add(struct shim_watch *w, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};
    return epoll_ctl(loop_fd, EPOLL_CTL_ADD, w->fd, &ev) < 0 ? -errno : 0;
}

int shim_watch_set(struct shim_watch *w, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};
    return epoll_ctl(loop_fd, EPOLL_CTL_MOD, w->fd, &ev) < 0 ? -errno : 0;
}

void shim_watch_close(struct shim_watch *w)
{
    if (w->fd < 0)
        return;
    /* close() alone would not remove the fd if a child still shared it. */
    epoll_ctl(loop_fd, EPOLL_CTL_DEL, w->fd, NULL);
    close(w->fd);
    w->fd = -1;
}

void shim_loop_bury(struct shim_grave *g)
{
    g->next = loop_graves;
    loop_graves = g;
}

static void loop_sweep(void)
{
    while (loop_graves != NULL) {
        struct shim_grave *g = loop_graves;
        loop_graves = g->next;
        g->destroy(g);
    }
}

int shim_loop_run(void)
{
    struct epoll_event evs[64];
    while (!loop_stopping) {
        int n = epoll_wait(loop_fd, evs, (int)(sizeof evs / sizeof evs[0]), -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        loop_batches++;
        for (int i = 0; i < n; i++) {
            struct shim_watch *w = evs[i].data.ptr;
            if (w->fd >= 0)
                w->ready(w, evs[i].events);
        }
        shim_conn_flush_pending();
        loop_sweep();
    }
    return 0;
}

void shim_loop_stop(void)
{
    loop_stopping = true;
}

unsigned long shim_loop_batch(void)
{
    return loop_batches;
}
