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
    pthread_cond_t wake; /* signalled to stop or when poked */
    bool stopping;       /* under lock */
    bool poked;          /* under lock */
    bool engine_down;    /* told once per outage, not every round */
    int quick_rounds;    /* rounds still due at HEALER_RETRY_MS after a poke */
};

static struct timespec deadline_in(int ms)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += ms / 1000;
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

static bool earlier(struct timespec a, struct timespec b)
{
    return a.tv_sec < b.tv_sec || (a.tv_sec == b.tv_sec && a.tv_nsec < b.tv_nsec);
}

/* Waits period_ms, or HEALER_POKE_DELAY_MS from a poke if that is sooner.
 * Returns false to stop. */
static bool wait_round(struct healer *h, int period_ms)
{
    struct timespec until = deadline_in(period_ms);
    pthread_mutex_lock(&h->lock);
    while (!h->stopping) {
        if (h->poked) {
            h->poked = false;
            h->quick_rounds = HEALER_QUICK_ROUNDS;
            struct timespec soon = deadline_in(HEALER_POKE_DELAY_MS);
            if (earlier(soon, until))
                until = soon;
        }
        if (pthread_cond_timedwait(&h->wake, &h->lock, &until) == ETIMEDOUT)
            break;
    }
    bool go_on = !h->stopping;
    pthread_mutex_unlock(&h->lock);
    return go_on;
}

static void *run(void *arg)
{
    struct healer *h = arg;
    bool failed = false;
    for (;;) {
        bool quick = h->engine_down || failed || h->quick_rounds > 0;
        if (!wait_round(h, quick ? HEALER_RETRY_MS : lifecycle_heal_period_ms(h->lc)))
            break;
        if (h->quick_rounds > 0)
            h->quick_rounds--;
        tf_err err = {0};
        int replaced = lifecycle_heal(h->lc, &failed, &err);
        if (replaced < 0 && !h->engine_down)
            log_warn("cannot check the handlers: %s (trying every %d ms)", err.msg,
                     HEALER_RETRY_MS);
        else if (replaced >= 0 && h->engine_down)
            log_info("the Docker engine answers again");
        h->engine_down = replaced < 0;
        if (replaced > 0)
            log_info("replaced %d handler(s) that had stopped or no longer served", replaced);
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

void healer_poke(struct healer *h)
{
    pthread_mutex_lock(&h->lock);
    h->poked = true;
    pthread_cond_signal(&h->wake);
    pthread_mutex_unlock(&h->lock);
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
