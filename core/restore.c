#include "restore.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store.h"

/* Functions brought back at once: most of a restart's deploy is waiting on
 * the engine (a kept image needs no build), so a few side by side make a
 * restart with many functions that many times shorter. Builds still take
 * turns in the lifecycle's build slots. */
#define RESTORE_WORKERS 8

struct restorer {
    struct lifecycle *lc;
    const char *state_dir;
    pthread_t thread;
    atomic_bool stopping;
    pthread_mutex_t lock;
    pthread_cond_t done; /* a worker ended */
    unsigned running;    /* workers under way, under lock */
    unsigned back;       /* under lock */
    unsigned passed;     /* deleted or uploaded anew meanwhile, under lock */
};

/* One kept function being brought back: its own copy of the spec. */
struct restore_job {
    struct restorer *r;
    struct deploy_spec s;
    char *name, *env, *subfolder;
    char **envs, **constraints;
    unsigned char *zip;
};

static void strings_free(char **v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        free(v[i]);
    free(v);
}

/* A copy of n strings; NULL out of memory. */
static char **strings_copy(const char *const *v, size_t n)
{
    char **out = calloc(n + 1, sizeof *out);
    for (size_t i = 0; out != NULL && i < n; i++)
        if ((out[i] = strdup(v[i])) == NULL) {
            strings_free(out, i);
            return NULL;
        }
    return out;
}

static void job_free(struct restore_job *j)
{
    strings_free(j->envs, j->s.n_envs);
    strings_free(j->constraints, j->s.n_constraints);
    free(j->name);
    free(j->env);
    free(j->subfolder);
    free(j->zip);
    free(j);
}

static struct restore_job *job_new(struct restorer *r, const struct deploy_spec *kept)
{
    struct restore_job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return NULL;
    j->r = r;
    j->s = *kept;
    j->s.restoring = true;
    j->name = strdup(kept->name);
    j->env = strdup(kept->env);
    j->subfolder = strdup(kept->subfolder != NULL ? kept->subfolder : "");
    j->envs = strings_copy(kept->envs, kept->n_envs);
    j->constraints = strings_copy(kept->constraints, kept->n_constraints);
    j->zip = malloc(kept->zip_len + 1);
    if (!(j->name && j->env && j->subfolder && j->envs && j->constraints && j->zip)) {
        job_free(j);
        return NULL;
    }
    memcpy(j->zip, kept->zip, kept->zip_len);
    j->s.name = j->name;
    j->s.env = j->env;
    j->s.subfolder = j->subfolder;
    j->s.envs = (const char *const *)j->envs;
    j->s.constraints = (const char *const *)j->constraints;
    j->s.zip = j->zip;
    return j;
}

static void *restore_job_run(void *arg)
{
    struct restore_job *j = arg;
    struct restorer *r = j->r;
    tf_err err = {0};
    int rc = lifecycle_deploy(r->lc, &j->s, &err);
    if (rc < 0)
        log_warn("function %s did not come back: %s", j->s.name, err.msg);
    job_free(j);
    pthread_mutex_lock(&r->lock);
    r->back += rc == 0;
    r->passed += rc > 0;
    r->running--;
    pthread_cond_broadcast(&r->done);
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

/* Waits until fewer than max workers run. */
static void wait_workers(struct restorer *r, unsigned max)
{
    pthread_mutex_lock(&r->lock);
    while (r->running >= max)
        pthread_cond_wait(&r->done, &r->lock);
    pthread_mutex_unlock(&r->lock);
}

static void restore_one(void *ctx, const struct deploy_spec *kept)
{
    struct restorer *r = ctx;
    wait_workers(r, RESTORE_WORKERS);
    if (atomic_load(&r->stopping))
        return;
    struct restore_job *j = job_new(r, kept);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_mutex_lock(&r->lock);
    if (j != NULL && pthread_create(&t, &attr, restore_job_run, j) == 0) {
        r->running++;
    } else {
        log_warn("function %s did not come back: out of memory or threads", kept->name);
        if (j != NULL)
            job_free(j);
    }
    pthread_mutex_unlock(&r->lock);
    pthread_attr_destroy(&attr);
}

static void *run(void *arg)
{
    struct restorer *r = arg;
    int n = store_load_all(r->state_dir, restore_one, r);
    wait_workers(r, 1);
    if (!atomic_load(&r->stopping))
        lifecycle_restore_done(r->lc); /* at a stop, left for the next start */
    char passed[80] = "";
    if (r->passed > 0)
        snprintf(passed, sizeof passed, " (%u more deleted or uploaded anew meanwhile)", r->passed);
    n -= (int)r->passed;
    if (n > 0 || r->passed > 0)
        log_info("%u of %d kept function(s) back%s%s", r->back, n, passed,
                 r->back < (unsigned)n ? "; see the warnings above" : "");
    return NULL;
}

int restore_start(struct lifecycle *lc, const char *state_dir, struct restorer **out)
{
    struct restorer *r = calloc(1, sizeof *r);
    if (r == NULL)
        return -ENOMEM;
    r->lc = lc;
    r->state_dir = state_dir;
    atomic_init(&r->stopping, false);
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->done, NULL);
    int rc = pthread_create(&r->thread, NULL, run, r);
    if (rc != 0) {
        free(r);
        return -rc;
    }
    *out = r;
    return 0;
}

void restore_stop(struct restorer *r)
{
    if (r == NULL)
        return;
    atomic_store(&r->stopping, true);
    pthread_join(r->thread, NULL); /* after its workers ended */
    pthread_cond_destroy(&r->done);
    pthread_mutex_destroy(&r->lock);
    free(r);
}
