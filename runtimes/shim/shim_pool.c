/* In-process executor: each call runs a linked-in function on one of a few
 * worker threads, so a slow call blocks neither the loop nor other calls.
 * A function whose calls are quick runs on the loop thread instead, once
 * shim_inline.c has judged them from calls timed on the workers.
 * Ownership of a job moves loop -> queue -> worker -> done list -> loop; the
 * two lists are the only state shared with workers and are guarded by one
 * mutex. Workers never touch connections: results go back through an eventfd
 * and the loop thread writes the REPLY. */
#include "shim.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct pool_job {
    struct pool_job *prev, *next; /* live list: loop thread only */
    struct pool_job *qnext;       /* queue or done list: under pool_lock */
    struct shim_conn *conn;
    bool cancelled; /* loop thread only: conn is gone, drop the result */
    bool queued;    /* under pool_lock: not yet taken by a worker */
    bool learning;  /* set before queueing: time this call */
    struct hproto_call call;
    struct shim_result res;
};

static shim_pool_fn pool_fn;
static unsigned pool_threads = 8;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_cond = PTHREAD_COND_INITIALIZER;
static struct pool_job *queue_head, *queue_tail, *done_list;
static struct pool_job *live;
static struct shim_watch pool_wake = {-1, NULL};

void shim_pool_configure(shim_pool_fn fn, unsigned threads, bool allow_inline)
{
    pool_fn = fn;
    pool_threads = threads > 0 ? threads : 1;
    shim_inline_configure(allow_inline);
}

static void job_free(struct pool_job *j)
{
    free(j->res.content_type);
    free(j->res.body);
    free(j);
}

static void live_unlink(struct pool_job *j)
{
    if (j->prev != NULL)
        j->prev->next = j->next;
    else
        live = j->next;
    if (j->next != NULL)
        j->next->prev = j->prev;
}

/* Runs a learning call on a worker and tells shim_inline.c what it held its
 * thread. Calls after the learning are not timed at all. */
static void run_timed(struct pool_job *j)
{
    struct shim_meter meter;
    shim_meter_start(&meter);
    int64_t start = shim_now_us();
    pool_fn(&j->call, &j->res);
    int64_t took = shim_now_us() - start;
    shim_inline_learned(shim_meter_held(&meter, took));
}

static void *worker(void *arg)
{
    uint64_t one = 1;
    bool warm = false; /* the thread's first call pays its one-time costs: not timed */
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&pool_lock);
        while (queue_head == NULL)
            pthread_cond_wait(&pool_cond, &pool_lock);
        struct pool_job *j = queue_head;
        queue_head = j->qnext;
        if (queue_head == NULL)
            queue_tail = NULL;
        j->queued = false;
        pthread_mutex_unlock(&pool_lock);

        if (j->learning && warm)
            run_timed(j);
        else
            pool_fn(&j->call, &j->res);
        warm = true;

        pthread_mutex_lock(&pool_lock);
        /* The loop takes the whole done list at once, so only the job that
         * finds it empty needs to wake the loop: the others ride along. */
        bool wake = done_list == NULL;
        j->qnext = done_list;
        done_list = j;
        pthread_mutex_unlock(&pool_lock);
        /* An eventfd write only fails when the counter would overflow, and
         * then the loop has a wake-up pending anyway. */
        if (wake)
            (void)!write(pool_wake.fd, &one, sizeof one);
    }
    return NULL;
}

/* Replies for every finished job; on the loop thread. */
static void on_wake(struct shim_watch *w, uint32_t events)
{
    uint64_t n;
    (void)events;
    (void)!read(w->fd, &n, sizeof n);
    pthread_mutex_lock(&pool_lock);
    struct pool_job *j = done_list;
    done_list = NULL;
    pthread_mutex_unlock(&pool_lock);
    while (j != NULL) {
        struct pool_job *next = j->qnext;
        live_unlink(j);
        if (!j->cancelled)
            shim_conn_reply(j->conn, j->call.id, j->res.status,
                            j->res.content_type != NULL ? j->res.content_type : "",
                            j->res.body != NULL ? j->res.body : "", j->res.len);
        job_free(j);
        j = next;
    }
}

static int pool_init(const char **why)
{
    pthread_attr_t attr;
    pthread_t t;
    int rc;
    *why = "cannot make the pool's eventfd";
    int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    pool_wake = (struct shim_watch){fd, on_wake};
    if ((rc = shim_watch_add(&pool_wake, EPOLLIN)) < 0)
        return rc;
    *why = "cannot start worker threads";
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (unsigned i = 0; i < pool_threads; i++)
        if ((rc = pthread_create(&t, &attr, worker, NULL)) != 0)
            break;
    pthread_attr_destroy(&attr);
    return -rc;
}

/* Copies call into one allocation, each string NUL-terminated so the
 * function can use them as C strings. */
static struct pool_job *job_new(const struct hproto_call *call)
{
    size_t n = call->n_headers;
    size_t size = sizeof(struct pool_job) + n * sizeof(struct hproto_header) + call->method.len +
                  call->body.len + 2;
    for (size_t i = 0; i < n; i++)
        size += call->headers[i].key.len + call->headers[i].value.len + 2;
    struct pool_job *j = calloc(1, size);
    if (j == NULL)
        return NULL;
    struct hproto_header *hs = (struct hproto_header *)(j + 1);
    char *p = (char *)(hs + n);
#define POOL_COPY(dst, src)                                                                        \
    do {                                                                                           \
        if ((src).len > 0)                                                                         \
            memcpy(p, (src).ptr, (src).len);                                                       \
        (dst) = (struct hproto_bytes){p, (src).len};                                               \
        p += (src).len + 1;                                                                        \
    } while (0)
    j->call.id = call->id;
    POOL_COPY(j->call.method, call->method);
    POOL_COPY(j->call.body, call->body);
    for (size_t i = 0; i < n; i++) {
        POOL_COPY(hs[i].key, call->headers[i].key);
        POOL_COPY(hs[i].value, call->headers[i].value);
    }
#undef POOL_COPY
    j->call.headers = hs;
    j->call.n_headers = n;
    return j;
}

/* Runs j on the loop thread and replies at once. The meter starts once per
 * batch of events, not per call: a batch's calls run back to back, and
 * reading it per call would cost quick calls more than the call itself. */
static void run_inline(struct shim_conn *conn, struct pool_job *j)
{
    static struct shim_meter meter;
    static unsigned long metered_batch;
    if (metered_batch != shim_loop_batch()) {
        metered_batch = shim_loop_batch();
        shim_meter_start(&meter);
    }
    int64_t start = shim_now_us();
    pool_fn(&j->call, &j->res);
    int64_t took = shim_now_us() - start;
    shim_conn_reply(conn, j->call.id, j->res.status,
                    j->res.content_type != NULL ? j->res.content_type : "",
                    j->res.body != NULL ? j->res.body : "", j->res.len);
    job_free(j);
    shim_inline_ran(took, &meter);
}

static int pool_start(struct shim_conn *conn, const struct hproto_call *call, const char **why)
{
    struct pool_job *j = job_new(call);
    if (j == NULL) {
        *why = "out of memory";
        return -ENOMEM;
    }
    enum shim_inline_mode mode = shim_inline_mode();
    if (mode == SHIM_INLINE_ON) {
        run_inline(conn, j);
        return 0;
    }
    j->conn = conn;
    j->learning = mode == SHIM_INLINE_LEARNING;
    j->next = live;
    if (live != NULL)
        live->prev = j;
    live = j;
    pthread_mutex_lock(&pool_lock);
    j->queued = true;
    if (queue_tail != NULL)
        queue_tail->qnext = j;
    else
        queue_head = j;
    queue_tail = j;
    pthread_cond_signal(&pool_cond);
    pthread_mutex_unlock(&pool_lock);
    return 0;
}

/* Drops j from the queue; caller holds pool_lock and j->queued is set. */
static void queue_remove(struct pool_job *j)
{
    struct pool_job **pp = &queue_head, *prev = NULL;
    while (*pp != j) {
        prev = *pp;
        pp = &(*pp)->qnext;
    }
    *pp = j->qnext;
    if (queue_tail == j)
        queue_tail = prev;
}

static void pool_cancel(struct shim_conn *conn)
{
    struct pool_job *j = live, *next;
    pthread_mutex_lock(&pool_lock);
    for (; j != NULL; j = next) {
        next = j->next;
        if (conn != NULL && j->conn != conn)
            continue;
        if (j->queued) {
            queue_remove(j);
            live_unlink(j);
            job_free(j);
        } else {
            /* A thread cannot be stopped safely mid-function: let it finish
             * and throw its result away in on_wake(). */
            j->cancelled = true;
        }
    }
    pthread_mutex_unlock(&pool_lock);
}

/* Running calls are left to the process exit: a worker stuck in the
 * function cannot be joined. */
static void pool_shutdown(void)
{
    pool_cancel(NULL);
}

const struct shim_executor shim_exec_pool = {
    .init = pool_init,
    .start = pool_start,
    .cancel = pool_cancel,
    .child_exited = NULL,
    .shutdown = pool_shutdown,
};
