/* Functions as Swarm services, what changes while they serve: scaling,
 * following Swarm as it restarts and moves tasks, a service removed by
 * hand made again, and the logs of every replica. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lifecycle_internal.h"
#include "log.h"

/* ---- scaling ---- */

/* What lifecycle_swarm_scale puts back when a new version fails. */
struct version_keep {
    unsigned version;
    int threads;
    char service[DOCKER_ID_MAX];
    char secret[DOCKER_ID_MAX];
    struct replica *replicas;
    size_t n_replicas;
};

/* Fewer replicas: Swarm would stop tasks of its choosing, with calls in
 * flight on them. A new version of the service takes over instead, once
 * its replicas serve, and the old one goes once its calls drained. */
static int scale_down(struct lifecycle *lc, struct function_record *r, size_t n, tf_err *err)
{
    struct version_keep old = {r->version, r->threads, "", "", r->replicas, r->n_replicas};
    memcpy(old.service, r->service, sizeof old.service);
    memcpy(old.secret, r->secret, sizeof old.secret);
    pthread_mutex_lock(&lc->table_lock);
    unsigned version = ++lc->version;
    r->replicas = NULL;
    r->n_replicas = 0;
    r->threads = (int)n;
    pthread_mutex_unlock(&lc->table_lock);
    lifecycle_set_version(lc, r, version);
    int rc = lifecycle_swarm_create(lc, r, err);
    if (rc == 0)
        rc = lifecycle_swarm_serve(lc, r, false, lc->cfg.ready_timeout_ms, err);
    if (rc == 0) {
        lifecycle_swarm_remove_service(lc, r->name, old.service, old.secret);
        free(old.replicas);
        return 0;
    }
    lifecycle_swarm_remove(lc, r); /* the old version serves on */
    lifecycle_set_version(lc, r, old.version);
    pthread_mutex_lock(&lc->table_lock); /* /list and /logs read them meanwhile */
    r->threads = old.threads;
    memcpy(r->service, old.service, sizeof old.service);
    memcpy(r->secret, old.secret, sizeof old.secret);
    free(r->replicas);
    r->replicas = old.replicas;
    r->n_replicas = old.n_replicas;
    pthread_mutex_unlock(&lc->table_lock);
    return rc;
}

int lifecycle_swarm_scale(struct lifecycle *lc, struct function_record *r, size_t n, tf_err *err)
{
    if (n < (size_t)r->threads)
        return scale_down(lc, r, n, err);
    int old = r->threads;
    int rc = docker_service_scale(lc->cfg.docker, r->service, (long long)n, err);
    pthread_mutex_lock(&lc->table_lock);
    r->threads = (int)n;
    pthread_mutex_unlock(&lc->table_lock);
    if (rc == 0)
        rc = lifecycle_swarm_serve(lc, r, true, lc->cfg.ready_timeout_ms, err);
    if (rc < 0) {
        tf_err e;
        pthread_mutex_lock(&lc->table_lock);
        r->threads = old;
        pthread_mutex_unlock(&lc->table_lock);
        if (docker_service_scale(lc->cfg.docker, r->service, old, &e) < 0)
            log_warn("function %s: %s", r->name, e.msg);
    }
    return rc;
}

/* ---- following the swarm ---- */

/* How long a heal round waits for replicas Swarm started to say READY: a
 * slow one is taken up by a later round. */
#define FOLLOW_READY_MS 5000

/* Whether reps are the replicas r routes to. */
static bool same_replicas(const struct function_record *r, const struct replica *reps, size_t n)
{
    if (n != r->n_replicas)
        return false;
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t k = 0; k < n && !found; k++)
            found = strcmp(reps[i].task, r->replicas[k].task) == 0 &&
                    reps[i].ep.port == r->replicas[k].ep.port &&
                    strcmp(reps[i].ep.host, r->replicas[k].ep.host) == 0;
        if (!found)
            return false;
    }
    return true;
}

/* Makes r's service again, under the same name: someone removed it. */
static int recreate(struct lifecycle *lc, struct function_record *r, tf_err *err)
{
    log_warn("function %s: its service %s is gone; making it again", r->name, r->service_name);
    int rc = lifecycle_swarm_create(lc, r, err);
    return rc < 0 ? rc : lifecycle_swarm_serve(lc, r, true, FOLLOW_READY_MS, err);
}

/* Routes r's calls to the replicas that serve now, if they changed.
 * Returns 1 when they did, 0 when not, -1 when routing failed. */
static int follow(struct lifecycle *lc, struct function_record *r, const struct swarm_view *v,
                  bool exists, tf_err *err)
{
    if (!exists)
        return recreate(lc, r, err) < 0 ? -1 : 1;
    struct replica *reps = calloc((size_t)r->threads, sizeof *reps);
    if (reps == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    size_t n = lifecycle_swarm_usable(lc, r, v, reps, (size_t)r->threads);
    pthread_mutex_lock(&lc->table_lock);
    bool same = same_replicas(r, reps, n);
    pthread_mutex_unlock(&lc->table_lock);
    if (n == 0 || same) {
        free(reps);
        return 0; /* none serve: the route keeps what it has, the dispatcher retries */
    }
    log_info("function %s: %zu replica(s) serve now (were %zu)", r->name, n, r->n_replicas);
    return lifecycle_swarm_route(lc, r, reps, n, true, FOLLOW_READY_MS, err) < 0 ? -1 : 1;
}

/* Follows name unless a change to it is under way. */
static void follow_name(struct lifecycle *lc, const char *name, const struct swarm_view *v,
                        const struct docker_ids *services, bool *failed)
{
    struct name_hold held;
    if (!lifecycle_try_hold_name(lc, name, &held)) {
        *failed = true;
        return;
    }
    struct function_record *r = lifecycle_held_record(lc, name);
    tf_err e = {0};
    int n = r != NULL ? follow(lc, r, v, docker_ids_has(services, r->service), &e) : 0;
    /* Once per failing stretch, not every round: a swarm that cannot run a
     * function for hours would otherwise fill the log. */
    if (n < 0 && !r->follow_failing)
        log_warn("function %s: following the swarm: %s (tried again every %d ms)", name, e.msg,
                 LIFECYCLE_SWARM_FOLLOW_MS);
    else if (n >= 0 && r != NULL && r->follow_failing)
        log_info("function %s: follows the swarm again", name);
    if (r != NULL)
        r->follow_failing = n < 0;
    lifecycle_release_name(lc, &held);
    *failed |= n < 0;
}

int lifecycle_swarm_heal(struct lifecycle *lc, bool *failed, tf_err *err)
{
    *failed = false;
    char label[64];
    snprintf(label, sizeof label, "%s=%s", LABEL_INSTANCE, lc->cfg.instance_id);
    struct swarm_view v;
    struct docker_ids services = {0};
    if (lifecycle_swarm_view_load(lc, "label", label, &v, err) < 0)
        return -1;
    if (docker_list(lc->cfg.docker, DOCKER_SERVICES, label, docker_ids_collect, &services, err) <
        0) {
        lifecycle_swarm_view_free(&v);
        return -1;
    }
    size_t n = 0;
    char(*names)[NAME_MAX_LEN + 1] = lifecycle_names(lc, &n);
    for (size_t i = 0; i < n; i++)
        follow_name(lc, names[i], &v, &services, failed);
    free(names);
    docker_ids_free(&services);
    lifecycle_swarm_view_free(&v);
    return 0;
}

/* ---- logs ---- */

struct service_log {
    lifecycle_log_fn *fn;
    void *ctx;
    const char *name;
    bool timestamps;
};

/* "[TIME ]com.docker.swarm.node.id=N,...,com.docker.swarm.task.id=T TEXT"
 * becomes "function=NAME handler=T12 [TIME ]TEXT", as a container's. */
static void service_log_line(void *ctx, const char *line, size_t len)
{
    struct service_log *l = ctx;
    const char *end = line + len, *p = line, *time_end = line;
    if (l->timestamps) {
        const char *sp = memchr(p, ' ', len);
        time_end = p = sp != NULL ? sp + 1 : end;
    }
    const char *details_end = memchr(p, ' ', (size_t)(end - p));
    if (details_end == NULL)
        details_end = end;
    const char *task = "?";
    size_t task_len = 1;
    static const char key[] = "com.docker.swarm.task.id=";
    const char *k = memmem(p, (size_t)(details_end - p), key, sizeof key - 1);
    if (k != NULL) {
        task = k + sizeof key - 1;
        const char *stop = memchr(task, ',', (size_t)(details_end - task));
        task_len = (size_t)((stop != NULL ? stop : details_end) - task);
    }
    const char *text = details_end < end ? details_end + 1 : end;
    char *out = NULL;
    int n = asprintf(&out, "function=%s handler=%.*s %.*s%.*s", l->name,
                     (int)(task_len < 12 ? task_len : 12), task, (int)(time_end - line), line,
                     (int)(end - text), text);
    if (n >= 0)
        l->fn(l->ctx, out, (size_t)n);
    free(out);
}

int lifecycle_swarm_logs(struct lifecycle *lc, const char *name, const char *service, double since,
                         bool timestamps, lifecycle_log_fn *fn, void *ctx, tf_err *err)
{
    struct service_log l = {fn, ctx, name, timestamps};
    return docker_service_logs(lc->cfg.docker, service, since, timestamps, service_log_line, &l,
                               err);
}
