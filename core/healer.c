#include "healer.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"

struct healer {
    struct lifecycle *lc;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake; /* signalled to stop */
    bool stopping;       /* under lock */
    bool engine_down;    /* told once per outage, not every round */
};

/* Waits one period, or less when told to stop. Returns false to stop. */
static bool wait_period(struct healer *h)
{
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += HEALER_PERIOD_MS / 1000;
    until.tv_nsec += (long)(HEALER_PERIOD_MS % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&h->lock);
    while (!h->stopping && pthread_cond_timedwait(&h->wake, &h->lock, &until) != ETIMEDOUT)
        ;
    bool go_on = !h->stopping;
    pthread_mutex_unlock(&h->lock);
    return go_on;
}

static void *run(void *arg)
{
    struct healer *h = arg;
    while (wait_period(h)) {
        tf_err err = {0};
        int replaced = lifecycle_heal(h->lc, &err);
        if (replaced < 0 && !h->engine_down)
            log_warn("cannot check the handlers: %s (trying every %d ms)", err.msg,
                     HEALER_PERIOD_MS);
        else if (replaced >= 0 && h->engine_down)
            log_info("the Docker engine answers again");
        h->engine_down = replaced < 0;
        if (replaced > 0)
            log_info("replaced %d handler(s) that had stopped", replaced);
    }
    return NULL;
}

int healer_start(struct lifecycle *lc, struct healer **out)
{
    struct healer *h = calloc(1, sizeof *h);
    if (h == NULL)
        return -ENOMEM;
    h->lc = lc;
    pthread_mutex_init(&h->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&h->wake, &attr);
    pthread_condattr_destroy(&attr);
    int rc = pthread_create(&h->thread, NULL, run, h);
    if (rc != 0) {
        pthread_cond_destroy(&h->wake);
        pthread_mutex_destroy(&h->lock);
        free(h);
        return -rc;
    }
    *out = h;
    return 0;
}

void healer_stop(struct healer *h)
{
    if (h == NULL)
        return;
    pthread_mutex_lock(&h->lock);
    h->stopping = true;
    pthread_cond_signal(&h->wake);
    pthread_mutex_unlock(&h->lock);
    pthread_join(h->thread, NULL);
    pthread_cond_destroy(&h->wake);
    pthread_mutex_destroy(&h->lock);
    free(h);
}
