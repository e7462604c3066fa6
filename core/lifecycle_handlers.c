/* A function's handler containers: started for a deploy, and added or
 * removed when the function is scaled, always with the settings its record
 * keeps (envs, memory, CPUs) and the same hardening. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "healer.h"
#include "hproto.h"
#include "lifecycle_internal.h"
#include "log.h"
#include "metrics.h"
#include "store.h"

#define SOCKET_NAME "handler.sock"

/* The record's envs plus TINYFAAS_FUNCTION (and TINYFAAS_SOCKET with the
 * unix transport, TINYFAAS_SECRET_FILE on Swarm), as execve-style strings
 * that point into r->envs and fn_env. */
static const char **handler_env(const struct lifecycle *lc, const struct function_record *r,
                                char *fn_env, size_t size, size_t *n)
{
    size_t count = json_array_size(r->envs);
    const char **env = calloc(count + 3, sizeof *env);
    if (env == NULL)
        return NULL;
    for (size_t i = 0; i < count; i++)
        env[i] = json_string_value(json_array_get(r->envs, i));
    snprintf(fn_env, size, "TINYFAAS_FUNCTION=%s", r->name);
    env[count++] = fn_env;
    if (lc->cfg.socket_dir != NULL)
        env[count++] = "TINYFAAS_SOCKET=" HANDLER_SOCKET_MOUNT "/" SOCKET_NAME;
    if (lc->cfg.swarm)
        env[count++] = "TINYFAAS_SECRET_FILE=/run/secrets/" DOCKER_SECRET_FILE_NAME;
    *n = count;
    return env;
}

int lifecycle_handler_endpoint(struct lifecycle *lc, const struct function_record *r, size_t i,
                               struct dispatch_endpoint *ep, tf_err *err)
{
    ep->port = HPROTO_DEFAULT_PORT;
    if (lc->cfg.socket_dir == NULL)
        return docker_container_ip(lc->cfg.docker, r->containers[i], r->network, ep->host, err);
    char dir[sizeof ep->path];
    lifecycle_socket_dir(lc, r, i, dir, sizeof dir);
    if ((size_t)snprintf(ep->path, sizeof ep->path, "%s/%s", dir, SOCKET_NAME) >= sizeof ep->path)
        return tf_err_set(err, TF_ERR_INTERNAL, "the socket path %s/%s is too long", dir,
                          SOCKET_NAME);
    return 0;
}

void lifecycle_handler_settings_free(struct handler_settings *h)
{
    json_decref(h->labels);
    free(h->env);
}

int lifecycle_handler_settings(struct lifecycle *lc, const struct function_record *r,
                               struct handler_settings *h, tf_err *err)
{
    snprintf(h->user, sizeof h->user, "%d:%d", LIFECYCLE_HANDLER_UID, LIFECYCLE_HANDLER_UID);
    size_t n_env = 0;
    h->env = handler_env(lc, r, h->fn_env, sizeof h->fn_env, &n_env);
    h->labels = lifecycle_labels(lc, r->name, r->version);
    h->cs = (struct docker_container_spec){.image = r->image,
                                           .network = r->network,
                                           .labels = h->labels,
                                           .env = h->env,
                                           .n_env = n_env,
                                           .memory_bytes = r->memory_mb << 20,
                                           .nano_cpus = (long long)(r->cpus * 1e9),
                                           .pids_limit = LIFECYCLE_PIDS_LIMIT,
                                           .read_only = true,
                                           .user = h->user};
    if (h->env == NULL || h->labels == NULL ||
        lifecycle_handler_digest(&h->cs, lc->cfg.socket_dir != NULL, h->digest) < 0 ||
        json_object_set_new(h->labels, LABEL_HANDLER, json_string(h->digest)) < 0) {
        lifecycle_handler_settings_free(h);
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    }
    return 0;
}

void lifecycle_handlers_digest(struct lifecycle *lc, const struct function_record *r, char out[65])
{
    struct handler_settings h;
    tf_err e;
    out[0] = '\0';
    if (lifecycle_handler_settings(lc, r, &h, &e) == 0) {
        memcpy(out, h.digest, sizeof h.digest);
        lifecycle_handler_settings_free(&h);
    }
}

/* Creates and starts handler i of r with settings h. */
static int start_handler(struct lifecycle *lc, struct function_record *r, size_t i,
                         struct handler_settings *h, struct dispatch_endpoint *ep, tf_err *err)
{
    char cname[200], bind[300] = "", index[24];
    snprintf(cname, sizeof cname, "%s-%zu", r->prefix, i);
    snprintf(index, sizeof index, "%zu", i);
    if (lc->cfg.socket_dir != NULL &&
        lifecycle_make_socket_dir(lc, r, i, bind, sizeof bind, err) < 0)
        return -1;
    h->cs.name = cname;
    h->cs.bind = bind[0] ? bind : NULL;
    if (json_object_set_new(h->labels, LABEL_INDEX, json_string(index)) < 0)
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    int rc = docker_container_create(lc->cfg.docker, &h->cs, r->containers[i], err);
    if (rc == 0)
        rc = docker_container_start(lc->cfg.docker, r->containers[i], err);
    if (rc == 0)
        rc = lifecycle_handler_endpoint(lc, r, i, ep, err);
    return rc;
}

int lifecycle_start_handlers(struct lifecycle *lc, struct function_record *r, size_t from,
                             size_t to, struct dispatch_endpoint *eps, tf_err *err)
{
    struct handler_settings h;
    if (lifecycle_handler_settings(lc, r, &h, err) < 0)
        return -1;
    r->started = atomic_fetch_add(&lc->starts, 1) + 1; /* before any starts: see lifecycle_heal */
    int rc = 0;
    for (size_t i = from; i < to && rc == 0; i++)
        rc = start_handler(lc, r, i, &h, &eps[i], err);
    lifecycle_handler_settings_free(&h);
    return rc;
}

void lifecycle_remove_handlers(struct lifecycle *lc, struct function_record *r, size_t from,
                               size_t to)
{
    tf_err e;
    for (size_t i = from; i < to; i++) {
        if (r->containers[i][0] &&
            docker_container_remove(lc->cfg.docker, r->containers[i], &e) < 0)
            log_warn("function %s: %s", r->name, e.msg);
        r->containers[i][0] = '\0';
    }
    lifecycle_remove_socket_dirs(lc, r, from, to);
}

/* The addresses of r's first n handlers, which already run. */
static int running_endpoints(struct lifecycle *lc, struct function_record *r, size_t n,
                             struct dispatch_endpoint *eps, tf_err *err)
{
    for (size_t i = 0; i < n; i++)
        if (lifecycle_handler_endpoint(lc, r, i, &eps[i], err) < 0)
            return -1;
    return 0;
}

/* Routes calls to r's first n handlers only (the others drain, then go), or
 * to n handlers where r has fewer, starting the missing ones. Calls keep
 * being answered throughout: the route changes only once every handler of
 * the new set said READY. */
static int rescale(struct lifecycle *lc, struct function_record *r, size_t n, tf_err *err)
{
    size_t old = r->n_containers;
    struct dispatch_endpoint *eps = calloc(n, sizeof *eps);
    char(*ids)[DOCKER_ID_MAX] = n > old ? realloc(r->containers, n * sizeof *ids) : r->containers;
    if (eps == NULL || ids == NULL) {
        free(eps);
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    }
    r->containers = ids;
    for (size_t i = old; i < n; i++)
        r->containers[i][0] = '\0';
    size_t kept = n < old ? n : old;
    struct dispatch_limits lim = record_limits(r);
    int rc = running_endpoints(lc, r, kept, eps, err);
    if (rc == 0 && n > old)
        rc = lifecycle_start_handlers(lc, r, old, n, eps, err);
    /* Growing, nothing waits for the drain; shrinking, the handlers let go
     * are removed only once their calls are answered. */
    if (rc == 0 && n > old)
        rc = dispatch_reroute(lc->cfg.dispatcher, r->name, eps, n, lc->cfg.ready_timeout_ms, &lim,
                              err);
    else if (rc == 0)
        rc = dispatch_publish(lc->cfg.dispatcher, r->name, eps, n, lc->cfg.ready_timeout_ms, &lim,
                              err);
    free(eps);
    if (rc < 0) {
        if (n > old)
            lifecycle_remove_handlers(lc, r, old, n); /* the old set keeps serving */
        return rc;
    }
    if (n < old)
        lifecycle_remove_handlers(lc, r, n, old); /* drained by the publish */
    pthread_mutex_lock(&lc->table_lock);
    r->n_containers = n;
    r->threads = (int)n;
    pthread_mutex_unlock(&lc->table_lock);
    return 0;
}

int lifecycle_scale(struct lifecycle *lc, const char *name, long long threads, tf_err *err)
{
    if (threads < 1 || threads > LIFECYCLE_THREADS_MAX)
        return tf_err_set(err, TF_ERR_INVALID, "threads must be between 1 and %d, not %lld",
                          LIFECYCLE_THREADS_MAX, threads);
    struct name_hold held;
    lifecycle_hold_name(lc, name, &held);
    struct function_record *r = lifecycle_held_record(lc, name);
    int rc = 0;
    if (r == NULL)
        rc = tf_err_set(err, TF_ERR_NOT_FOUND, "no function named '%.64s'", name);
    else if (lc->cfg.swarm && threads != r->threads)
        rc = lifecycle_swarm_scale(lc, r, (size_t)threads, err);
    else if (!lc->cfg.swarm && (size_t)threads != r->n_containers)
        rc = rescale(lc, r, (size_t)threads, err);
    tf_err e = {0};
    if (rc == 0 && r != NULL) {
        log_info("function %s: %lld handler(s)", name, threads);
        if (lc->cfg.state_dir != NULL &&
            store_set_threads(lc->cfg.state_dir, name, threads, &e) < 0)
            log_warn("function %s: %s", name, e.msg);
    }
    lifecycle_release_name(lc, &held);
    return rc;
}

/* ---- healing: handlers that died, or stopped serving, are replaced ---- */

/* The most broken handlers one round asks the dispatcher for; the rest wait
 * for the rounds that follow a poke (healer.h). */
#define HEAL_BROKEN_MAX 16

/* Whether handler i of r, which runs, is one the dispatcher named broken:
 * its connection was lost and it has not served again since. */
static bool is_broken(struct lifecycle *lc, const struct function_record *r, size_t i,
                      const struct dispatch_broken *broken, size_t n_broken)
{
    for (size_t k = 0; k < n_broken; k++) {
        struct dispatch_endpoint ep = {0};
        tf_err e = {0};
        if (strcmp(broken[k].name, r->name) == 0 &&
            lifecycle_handler_endpoint(lc, r, i, &ep, &e) == 0 &&
            strcmp(ep.path, broken[k].ep.path) == 0 && strcmp(ep.host, broken[k].ep.host) == 0 &&
            ep.port == broken[k].ep.port)
            return true;
    }
    return false;
}

/* Replaces r's handlers that are not running or are broken, then routes
 * calls to the whole set; the live ones serve throughout. Returns how many
 * were replaced. */
static int heal_record(struct lifecycle *lc, struct function_record *r,
                       const struct docker_ids *running, const struct dispatch_broken *broken,
                       size_t n_broken)
{
    size_t n = r->n_containers, dead = 0;
    for (size_t i = 0; i < n; i++)
        dead += !docker_ids_has(running, r->containers[i]);
    for (size_t k = 0; k < n_broken; k++)
        dead += strcmp(broken[k].name, r->name) == 0;
    if (dead == 0)
        return 0; /* the common round: no engine call at all */
    dead = 0;
    bool *was_dead = calloc(n, sizeof *was_dead);
    struct dispatch_endpoint *eps = calloc(n, sizeof *eps);
    tf_err e = {0};
    int rc = was_dead != NULL && eps != NULL ? 0 : -ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++) {
        bool runs = docker_ids_has(running, r->containers[i]);
        if (runs && !is_broken(lc, r, i, broken, n_broken)) {
            rc = lifecycle_handler_endpoint(lc, r, i, &eps[i], &e);
            continue;
        }
        log_warn("function %s: handler %.12s %s; replacing it", r->name, r->containers[i],
                 runs ? "runs but does not serve" : "is not running");
        lifecycle_remove_handlers(lc, r, i, i + 1);
        was_dead[i] = true;
        dead++;
        rc = lifecycle_start_handlers(lc, r, i, i + 1, eps, &e);
    }
    struct dispatch_limits lim = record_limits(r);
    if (rc == 0 && dead > 0)
        rc = dispatch_reroute(lc->cfg.dispatcher, r->name, eps, n, lc->cfg.ready_timeout_ms, &lim,
                              &e);
    if (dead > 0)
        metrics_handler_restarts(metrics_function(r->name), (unsigned)dead);
    if (rc < 0 && dead > 0) {
        log_warn("function %s: replacing handlers failed: %s (tried again soon)", r->name, e.msg);
        for (size_t i = 0; i < n; i++)
            if (was_dead[i])
                lifecycle_remove_handlers(lc, r, i, i + 1); /* not routed: the next round retries */
    }
    free(was_dead);
    free(eps);
    return rc < 0 ? -1 : (int)dead;
}

/* Heals name unless a change to it is under way or started handlers since
 * the running ones were listed (starts_listed): those are left for the next
 * round, which *failed brings soon. */
static int heal_name(struct lifecycle *lc, const char *name, const struct docker_ids *running,
                     const struct dispatch_broken *broken, size_t n_broken, unsigned starts_listed,
                     bool *failed)
{
    struct name_hold held;
    if (!lifecycle_try_hold_name(lc, name, &held)) {
        *failed = true;
        return 0;
    }
    struct function_record *r = lifecycle_held_record(lc, name);
    int n = 0;
    if (r != NULL && (int)(r->started - starts_listed) > 0)
        *failed = true; /* started after the list: not known to be dead */
    else if (r != NULL)
        n = heal_record(lc, r, running, broken, n_broken);
    lifecycle_release_name(lc, &held);
    *failed |= n < 0;
    return n > 0 ? n : 0;
}

int lifecycle_heal_period_ms(const struct lifecycle *lc)
{
    return lc->cfg.swarm ? LIFECYCLE_SWARM_FOLLOW_MS : HEALER_PERIOD_MS;
}

int lifecycle_heal(struct lifecycle *lc, bool *failed, tf_err *err)
{
    if (lc->cfg.swarm)
        return lifecycle_swarm_heal(lc, failed, err);
    *failed = false;
    char label[64];
    snprintf(label, sizeof label, "%s=%s", LABEL_INSTANCE, lc->cfg.instance_id);
    unsigned starts_listed = atomic_load(&lc->starts);
    struct docker_ids running = {0};
    if (docker_list(lc->cfg.docker, DOCKER_RUNNING, label, docker_ids_collect, &running, err) < 0) {
        docker_ids_free(&running);
        return -1;
    }
    /* Asked once the count of starts was read: a handler replaced in place
     * keeps its socket path, so a name given before its replacement would
     * match the new container, but heal_name leaves a record alone whose
     * handlers started after that. */
    struct dispatch_broken broken[HEAL_BROKEN_MAX];
    tf_err be = {0};
    int n_broken = dispatch_broken_handlers(lc->cfg.dispatcher, broken, HEAL_BROKEN_MAX, &be);
    if (n_broken < 0)
        n_broken = 0; /* the daemon is shutting down */
    size_t n = 0;
    char(*names)[NAME_MAX_LEN + 1] = lifecycle_names(lc, &n);
    int replaced = 0;
    for (size_t i = 0; i < n; i++)
        replaced +=
            heal_name(lc, names[i], &running, broken, (size_t)n_broken, starts_listed, failed);
    free(names);
    docker_ids_free(&running);
    return replaced;
}
