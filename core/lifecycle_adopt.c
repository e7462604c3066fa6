/* Handlers kept running across a restart of the daemon. A daemon stopped
 * with --live-restore, or killed, leaves its handler containers running;
 * the next start adopts those made exactly as it would make them now (the
 * digest of their settings says so) instead of starting every function
 * again, so a restart costs the functions nothing. The others are removed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lifecycle_internal.h"
#include "log.h"
#include "store.h"
#include "sweep.h"

/* The instance's containers, sorted into leftovers and those that go. */
struct sorting {
    struct lifecycle *lc;
    struct docker_ids running;
    struct leftover *found;
    size_t n, cap;
    struct docker_ids gone;
};

/* Parses a label holding a decimal number. */
static bool label_number(json_t *labels, const char *key, unsigned long *out)
{
    const char *s = json_string_value(json_object_get(labels, key));
    char *end;
    if (s == NULL || *s < '0' || *s > '9')
        return false;
    *out = strtoul(s, &end, 10);
    return *end == '\0' && *out <= 0xffffffffUL;
}

/* A running handler of a kept function, with its version, index and
 * settings on its labels, is a leftover; any other container goes. */
static void sort_container(void *ctx, const char *id, json_t *labels)
{
    struct sorting *so = ctx;
    const char *name = json_string_value(json_object_get(labels, LABEL_FUNCTION));
    const char *digest = json_string_value(json_object_get(labels, LABEL_HANDLER));
    const char *state = so->lc->cfg.state_dir;
    unsigned long version, index;
    bool keep = docker_ids_has(&so->running, id) && name != NULL &&
                name_is_valid(name, strlen(name)) && state != NULL && store_has(state, name) &&
                digest != NULL && strlen(digest) == 64 &&
                label_number(labels, LABEL_VERSION, &version) &&
                (so->lc->cfg.swarm ||
                 (label_number(labels, LABEL_INDEX, &index) && index < LIFECYCLE_THREADS_MAX));
    if (so->lc->cfg.swarm)
        index = 0; /* a service is all of a function's handlers */
    if (keep && so->n == so->cap) {
        size_t cap = so->cap ? 2 * so->cap : 16;
        struct leftover *more = realloc(so->found, cap * sizeof *more);
        keep = more != NULL;
        if (more != NULL) {
            so->found = more;
            so->cap = cap;
        }
    }
    if (!keep) {
        docker_ids_collect(&so->gone, id, labels);
        return;
    }
    struct leftover *l = &so->found[so->n++];
    snprintf(l->id, sizeof l->id, "%s", id);
    snprintf(l->name, sizeof l->name, "%s", name);
    memcpy(l->digest, digest, sizeof l->digest);
    l->version = (unsigned)version;
    l->index = index;
}

int lifecycle_sort_leftovers(struct lifecycle *lc, tf_err *err)
{
    char label[128];
    snprintf(label, sizeof label, "%s=%s", LABEL_INSTANCE, lc->cfg.instance_id);
    struct sorting so = {.lc = lc};
    /* On Swarm a function's handlers are a service, which runs as long as it exists. */
    enum docker_kind running = lc->cfg.swarm ? DOCKER_SERVICES : DOCKER_RUNNING;
    enum docker_kind all = lc->cfg.swarm ? DOCKER_SERVICES : DOCKER_CONTAINERS;
    int rc = docker_list(lc->cfg.docker, running, label, docker_ids_collect, &so.running, err);
    if (rc == 0)
        rc = docker_list(lc->cfg.docker, all, label, sort_container, &so, err);
    if (rc == 0)
        rc = lc->cfg.swarm ? lifecycle_swarm_remove_services(lc, so.gone.ids, so.gone.n, err)
                           : sweep_remove(lc->cfg.docker, all, so.gone.ids, so.gone.n, err);
    if (rc == 0 && lc->cfg.swarm)
        rc = lifecycle_swarm_remove_secrets(lc, so.found, so.n, err);
    docker_ids_free(&so.running);
    docker_ids_free(&so.gone);
    if (rc < 0) {
        free(so.found);
        return rc;
    }
    pthread_mutex_lock(&lc->table_lock);
    free(lc->leftovers);
    lc->leftovers = so.found;
    lc->n_leftovers = so.n;
    for (size_t i = 0; i < so.n; i++)
        if (so.found[i].version > lc->version)
            lc->version = so.found[i].version; /* new versions' names never clash with theirs */
    pthread_mutex_unlock(&lc->table_lock);
    if (so.n > 0)
        log_info("%zu %s of the last run still run: adopted where they fit", so.n,
                 lc->cfg.swarm ? "service(s)" : "handler(s)");
    return 0;
}

/* Moves name's leftovers of version (any version: 0) and digest (any: NULL)
 * out of the table into out (room for n_leftovers); returns how many.
 * Caller holds table_lock. */
static size_t take_leftovers(struct lifecycle *lc, const char *name, const char *digest,
                             unsigned version, struct leftover *out)
{
    size_t n = 0;
    for (size_t k = 0; k < lc->n_leftovers;) {
        struct leftover *l = &lc->leftovers[k];
        if ((name == NULL || strcmp(l->name, name) == 0) &&
            (digest == NULL || strcmp(l->digest, digest) == 0) &&
            (version == 0 || l->version == version)) {
            out[n++] = *l;
            *l = lc->leftovers[--lc->n_leftovers];
        } else {
            k++;
        }
    }
    return n;
}

/* The version of name's leftovers made with digest; 0 when none. */
static unsigned fitting_version(struct lifecycle *lc, const char *name, const char *digest)
{
    for (size_t k = 0; k < lc->n_leftovers; k++)
        if (strcmp(lc->leftovers[k].name, name) == 0 &&
            strcmp(lc->leftovers[k].digest, digest) == 0)
            return lc->leftovers[k].version;
    return 0;
}

static void remove_leftovers(struct lifecycle *lc, const struct leftover *ls, size_t n)
{
    tf_err e;
    for (size_t i = 0; i < n; i++) {
        if (lc->cfg.swarm) {
            lifecycle_swarm_remove_leftover(lc, &ls[i]);
            continue;
        }
        if (docker_container_remove(lc->cfg.docker, ls[i].id, &e) < 0)
            log_warn("function %s: %s", ls[i].name, e.msg);
        lifecycle_remove_leftover_socket_dir(lc, &ls[i]);
    }
}

size_t lifecycle_adopt_handlers(struct lifecycle *lc, struct function_record *r,
                                struct dispatch_endpoint *eps, bool *adopted)
{
    char digest[65];
    lifecycle_handlers_digest(lc, r, digest);
    pthread_mutex_lock(&lc->table_lock);
    unsigned version = digest[0] ? fitting_version(lc, r->name, digest) : 0;
    struct leftover *mine = version ? malloc(lc->n_leftovers * sizeof *mine) : NULL;
    size_t n = mine != NULL ? take_leftovers(lc, r->name, digest, version, mine) : 0;
    pthread_mutex_unlock(&lc->table_lock);
    if (n == 0) {
        free(mine);
        lifecycle_drop_leftovers(lc, r->name); /* made otherwise: of no use now */
        return 0;
    }
    lifecycle_set_version(lc, r, version);
    r->started = atomic_fetch_add(&lc->starts, 1) + 1; /* see lifecycle_heal */
    size_t count = 0;
    for (size_t k = 0; k < n; k++) {
        size_t i = mine[k].index;
        tf_err e = {0};
        if (i >= r->n_containers || adopted[i]) /* scaled down meanwhile */
            continue;
        snprintf(r->containers[i], DOCKER_ID_MAX, "%s", mine[k].id);
        if (lifecycle_handler_endpoint(lc, r, i, &eps[i], &e) < 0) {
            log_warn("function %s: %s; its handler is started again", r->name, e.msg);
            r->containers[i][0] = '\0';
            continue;
        }
        adopted[i] = true;
        mine[k].id[0] = '\0'; /* r's now */
        count++;
    }
    for (size_t k = 0; k < n; k++)
        if (mine[k].id[0])
            remove_leftovers(lc, &mine[k], 1);
    free(mine);
    lifecycle_drop_leftovers(lc, r->name);
    return count;
}

void lifecycle_drop_leftovers(struct lifecycle *lc, const char *name)
{
    pthread_mutex_lock(&lc->table_lock);
    struct leftover *mine = lc->n_leftovers ? malloc(lc->n_leftovers * sizeof *mine) : NULL;
    size_t n = mine != NULL ? take_leftovers(lc, name, NULL, 0, mine) : 0;
    pthread_mutex_unlock(&lc->table_lock);
    remove_leftovers(lc, mine, n);
    free(mine);
}
