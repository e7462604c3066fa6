#include "http_deadline.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "dlist.h"
#include "log.h"

struct tracked {
    struct http_deadlines *dl;
    int fd;
    long long since_ms; /* when the connection could start sending headers */
    bool waiting;       /* for headers (else a request is being served) */
    bool shut;
    struct dlist_link link;
};

struct http_deadlines {
    int ms;
    enum metrics_limit limit;
    pthread_mutex_t lock;
    struct dlist tracked; /* every connection, in the order they opened */
    /* The sweeper thread, if any, waits on wake until stopping. */
    pthread_t sweeper;
    bool has_sweeper, stopping;
    pthread_cond_t wake;
};

static struct log_limit expired = LOG_LIMIT_INIT("header deadline closes", 20, 60);

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

int http_deadlines_create(int ms, enum metrics_limit limit, struct http_deadlines **out)
{
    struct http_deadlines *dl = calloc(1, sizeof *dl);
    if (dl == NULL)
        return -1;
    dl->ms = ms;
    dl->limit = limit;
    pthread_mutex_init(&dl->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&dl->wake, &attr);
    pthread_condattr_destroy(&attr);
    *out = dl;
    return 0;
}

/* After the server stopped: every connection's CLOSED has come. */
void http_deadlines_free(struct http_deadlines *dl)
{
    if (dl == NULL)
        return;
    if (dl->has_sweeper) {
        pthread_mutex_lock(&dl->lock);
        dl->stopping = true;
        pthread_cond_signal(&dl->wake);
        pthread_mutex_unlock(&dl->lock);
        pthread_join(dl->sweeper, NULL);
    }
    pthread_cond_destroy(&dl->wake);
    pthread_mutex_destroy(&dl->lock);
    free(dl);
}

static void track(struct http_deadlines *dl, struct MHD_Connection *conn, void **ctx)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct tracked *t = calloc(1, sizeof *t);
    if (t == NULL || info == NULL) {
        free(t); /* untracked: libmicrohttpd's idle timeout still applies */
        return;
    }
    *t = (struct tracked){.dl = dl, .fd = info->connect_fd, .since_ms = now_ms(), .waiting = true};
    pthread_mutex_lock(&dl->lock);
    dlist_push_tail(&dl->tracked, &t->link);
    pthread_mutex_unlock(&dl->lock);
    *ctx = t;
}

static void untrack(struct tracked *t)
{
    struct http_deadlines *dl = t->dl;
    pthread_mutex_lock(&dl->lock);
    dlist_unlink(&dl->tracked, &t->link);
    pthread_mutex_unlock(&dl->lock);
    free(t);
}

void http_deadlines_notify(void *dl, struct MHD_Connection *conn, void **socket_context,
                           enum MHD_ConnectionNotificationCode toe)
{
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        track(dl, conn, socket_context);
    else if (*socket_context != NULL) {
        untrack(*socket_context);
        *socket_context = NULL;
    }
}

static void set_waiting(struct MHD_Connection *conn, bool waiting)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct tracked *t = info != NULL ? info->socket_context : NULL;
    if (t == NULL)
        return;
    long long now = waiting ? now_ms() : 0; /* only a wait's start is ever read */
    pthread_mutex_lock(&t->dl->lock);
    t->waiting = waiting;
    if (waiting)
        t->since_ms = now;
    pthread_mutex_unlock(&t->dl->lock);
}

void http_deadlines_headers_in(struct MHD_Connection *conn)
{
    set_waiting(conn, false);
}

void http_deadlines_request_done(struct MHD_Connection *conn)
{
    set_waiting(conn, true);
}

size_t http_deadlines_open(struct http_deadlines *dl)
{
    pthread_mutex_lock(&dl->lock);
    size_t n = dl->tracked.n;
    pthread_mutex_unlock(&dl->lock);
    return n;
}

unsigned http_deadlines_sweep(struct http_deadlines *dl)
{
    long long cutoff = now_ms() - dl->ms;
    unsigned n = 0;
    pthread_mutex_lock(&dl->lock);
    for (struct dlist_link *l = dl->tracked.head; l != NULL; l = l->next) {
        struct tracked *t = dlist_entry(l, struct tracked, link);
        if (t->waiting && !t->shut && t->since_ms <= cutoff) {
            shutdown(t->fd, SHUT_RDWR);
            t->shut = true;
            n++;
        }
    }
    pthread_mutex_unlock(&dl->lock);
    for (unsigned i = 0; i < n; i++)
        metrics_limit_hit(dl->limit);
    if (n > 0)
        log_warn_limited(&expired, "closed %u connection(s) whose request headers took over %d s",
                         n, dl->ms / 1000);
    return n;
}

static void *sweep_every_second(void *arg)
{
    struct http_deadlines *dl = arg;
    pthread_mutex_lock(&dl->lock);
    while (!dl->stopping) {
        struct timespec at;
        clock_gettime(CLOCK_MONOTONIC, &at);
        at.tv_sec += 1;
        pthread_cond_timedwait(&dl->wake, &dl->lock, &at);
        if (dl->stopping)
            break;
        pthread_mutex_unlock(&dl->lock);
        http_deadlines_sweep(dl);
        pthread_mutex_lock(&dl->lock);
    }
    pthread_mutex_unlock(&dl->lock);
    return NULL;
}

int http_deadlines_sweep_in_thread(struct http_deadlines *dl)
{
    if (pthread_create(&dl->sweeper, NULL, sweep_every_second, dl) != 0)
        return -1;
    dl->has_sweeper = true;
    return 0;
}
