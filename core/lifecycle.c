#include "lifecycle.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lifecycle_internal.h"
#include "log.h"
#include "loop.h"
#include "names.h"
#include "store.h"
#include "sweep.h"

int lifecycle_create(const struct lifecycle_config *cfg, struct lifecycle **out)
{
    struct lifecycle *lc = calloc(1, sizeof *lc);
    if (lc == NULL)
        return -ENOMEM;
    lc->cfg = *cfg;
    pthread_mutex_init(&lc->table_lock, NULL);
    pthread_mutex_init(&lc->net_lock, NULL);
    atomic_init(&lc->starts, 0);
    lifecycle_holds_init(lc);
    *out = lc;
    return 0;
}

static void record_free(struct function_record *r)
{
    if (r == NULL)
        return;
    json_decref(r->envs);
    free(r->containers);
    free(r);
}

void lifecycle_destroy(struct lifecycle *lc)
{
    if (lc == NULL)
        return;
    while (lc->records != NULL) {
        struct function_record *r = lc->records;
        lc->records = r->next;
        record_free(r);
    }
    lifecycle_holds_destroy(lc);
    pthread_mutex_destroy(&lc->net_lock);
    pthread_mutex_destroy(&lc->table_lock);
    free(lc);
}

struct function_record *lifecycle_find_record(struct lifecycle *lc, const char *name)
{
    for (struct function_record *r = lc->records; r != NULL; r = r->next)
        if (strcmp(r->name, name) == 0)
            return r;
    return NULL;
}

struct function_record *lifecycle_held_record(struct lifecycle *lc, const char *name)
{
    pthread_mutex_lock(&lc->table_lock);
    struct function_record *r = lifecycle_find_record(lc, name);
    pthread_mutex_unlock(&lc->table_lock);
    return r;
}

char (*lifecycle_names(struct lifecycle *lc, size_t *n))[NAME_MAX_LEN + 1]
{
    pthread_mutex_lock(&lc->table_lock);
    size_t count = 0;
    for (struct function_record *r = lc->records; r != NULL; r = r->next)
        count++;
    char(*names)[NAME_MAX_LEN + 1] = malloc((count ? count : 1) * sizeof *names);
    *n = names != NULL ? count : 0;
    count = 0;
    for (struct function_record *r = lc->records; r != NULL && names != NULL; r = r->next)
        memcpy(names[count++], r->name, sizeof r->name);
    pthread_mutex_unlock(&lc->table_lock);
    return names;
}

/* Puts r in the table in place of any record of the same name, which it
 * returns. The table is kept in name order, the order /list shows. */
static struct function_record *swap_record(struct lifecycle *lc, struct function_record *r,
                                           const char *name)
{
    pthread_mutex_lock(&lc->table_lock);
    struct function_record *old = NULL;
    for (struct function_record **p = &lc->records; *p != NULL; p = &(*p)->next)
        if (strcmp((*p)->name, name) == 0) {
            old = *p;
            *p = old->next;
            break;
        }
    if (r != NULL) {
        struct function_record **p = &lc->records;
        while (*p != NULL && strcmp((*p)->name, name) < 0)
            p = &(*p)->next;
        r->next = *p;
        *p = r;
    }
    pthread_mutex_unlock(&lc->table_lock);
    return old;
}

/* How long each step of a deploy took, for the log: where deploy time goes. */
struct deploy_times {
    int64_t build_ms, network_ms, start_ms, ready_ms;
    bool cached; /* the image was there already: nothing built */
};

/* Builds, starts and publishes version r of a function. */
static int deploy_version(struct lifecycle *lc, const struct deploy_spec *s,
                          struct function_record *r, struct tarbuf *t,
                          const struct code_facts *facts, struct deploy_times *times, tf_err *err)
{
    int64_t t0 = loop_now_ms();
    lifecycle_take_build_slot(lc);
    int rc = lifecycle_build_image(lc, s, r, t, facts, &times->cached, err);
    lifecycle_give_build_slot(lc);
    int64_t t1 = loop_now_ms();
    times->build_ms = t1 - t0;
    if (rc < 0)
        return rc;
    rc = lifecycle_ensure_network(lc, r, err);
    int64_t t2 = loop_now_ms();
    times->network_ms = t2 - t1;
    if (rc < 0)
        return rc;
    struct dispatch_endpoint *eps = calloc(r->n_containers, sizeof *eps);
    if (eps == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    rc = lifecycle_start_handlers(lc, r, 0, r->n_containers, eps, err);
    int64_t t3 = loop_now_ms();
    times->start_ms = t3 - t2;
    struct dispatch_limits lim = record_limits(r);
    if (rc == 0)
        rc = dispatch_publish(lc->cfg.dispatcher, s->name, eps, r->n_containers,
                              lc->cfg.ready_timeout_ms, &lim, err);
    times->ready_ms = loop_now_ms() - t3;
    free(eps);
    return rc;
}

static struct function_record *new_record(struct lifecycle *lc, const struct deploy_spec *s)
{
    struct function_record *r = calloc(1, sizeof *r);
    if (r == NULL)
        return NULL;
    r->containers = calloc((size_t)s->threads, sizeof *r->containers);
    r->envs = json_array();
    if (r->containers == NULL || r->envs == NULL) {
        record_free(r);
        return NULL;
    }
    for (size_t i = 0; i < s->n_envs; i++)
        json_array_append_new(r->envs, json_string(s->envs[i]));
    snprintf(r->name, sizeof r->name, "%s", s->name);
    snprintf(r->env, sizeof r->env, "%s", s->env);
    r->threads = (int)s->threads;
    r->n_containers = (size_t)s->threads;
    r->memory_mb = s->memory_mb > 0 ? s->memory_mb : LIFECYCLE_DEFAULT_MEMORY_MB;
    r->cpus = s->cpus;
    r->timeout_s = s->timeout_s > 0 ? (int)s->timeout_s : lc->cfg.call_timeout_s;
    r->concurrency = (int)s->concurrency;
    pthread_mutex_lock(&lc->table_lock);
    r->version = ++lc->version;
    pthread_mutex_unlock(&lc->table_lock);
    snprintf(r->prefix, sizeof r->prefix, "tinyfaas-%s-%s-v%u", lc->cfg.instance_id, s->name,
             r->version);
    return r;
}

/* A deployed function is kept in the state dir to come back after a
 * restart. It serves already: a failure here is told, not undone. */
static void keep(struct lifecycle *lc, const struct deploy_spec *s)
{
    tf_err e = {0};
    if (lc->cfg.state_dir != NULL && store_save(lc->cfg.state_dir, s, &e) < 0)
        log_warn("function %s serves, but will not come back after a restart: %s", s->name, e.msg);
}

/* Removes what a failed deploy of r made. Its images go unless the version
 * that serves was built from the same (the engine failed, not the build);
 * the network goes with no version serving. */
static void forget_version(struct lifecycle *lc, struct function_record *r)
{
    lifecycle_remove_objects(lc, r);
    struct function_record *serving = lifecycle_held_record(lc, r->name);
    if (r->digest[0] && (serving == NULL || strcmp(serving->digest, r->digest) != 0))
        lifecycle_remove_images(lc, r->name, IMAGES_OF_DIGEST, r->digest);
    if (serving == NULL)
        lifecycle_remove_network(lc, r->name);
    record_free(r);
}

int lifecycle_deploy(struct lifecycle *lc, const struct deploy_spec *s, tf_err *err)
{
    struct tarbuf t = {0};
    struct code_facts facts = {.rt = runtimes_find(lc->cfg.runtimes, s->env)};
    /* Bad input is refused before anything is made, and outside the lock. */
    int rc = lifecycle_validate(lc, s, err);
    if (rc == 0)
        rc = lifecycle_unpack_code(lc, s, &t, &facts, err);
    if (rc < 0) {
        tarbuf_free(&t);
        return rc;
    }
    /* A deploy holds its name only: other functions' changes, and their
     * builds up to the build slots, go on meanwhile. */
    struct name_hold held;
    lifecycle_hold_name(lc, s->name, &held);
    if (s->restoring && lifecycle_held_record(lc, s->name) != NULL) {
        lifecycle_release_name(lc, &held); /* uploaded anew meanwhile: that one stands */
        tarbuf_free(&t);
        return 0;
    }
    struct function_record *r = new_record(lc, s);
    if (r == NULL) {
        lifecycle_release_name(lc, &held);
        tarbuf_free(&t);
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    }
    log_info("function %s: deploying (%s, %d handler(s))", s->name, s->env, r->threads);
    struct deploy_times times = {0};
    rc = deploy_version(lc, s, r, &t, &facts, &times, err);
    tarbuf_free(&t);
    if (rc < 0) {
        log_warn("function %s: deploy failed: %s", s->name, err->msg);
        forget_version(lc, r);
    } else {
        /* The publish has drained the old version's calls: its objects can go. */
        struct function_record *old = swap_record(lc, r, s->name);
        if (old != NULL) {
            lifecycle_remove_objects(lc, old);
            record_free(old);
        }
        /* Those of older code, of earlier runs too: only the image that serves stays. */
        lifecycle_remove_images(lc, s->name, IMAGES_BUT_DIGEST, r->digest);
        log_info("function %s: deployed (image %lld ms%s, network %lld ms, handlers started "
                 "%lld ms, ready %lld ms)",
                 s->name, (long long)times.build_ms, times.cached ? ", kept from before" : "",
                 (long long)times.network_ms, (long long)times.start_ms, (long long)times.ready_ms);
        keep(lc, s);
    }
    lifecycle_release_name(lc, &held);
    return rc;
}

/* Deletes name, which the caller holds. */
static int delete_held(struct lifecycle *lc, const char *name, tf_err *err)
{
    struct function_record *r = lifecycle_held_record(lc, name);
    if (r == NULL)
        return tf_err_set(err, TF_ERR_NOT_FOUND, "no function named '%.64s'", name);
    tf_err e;
    if (dispatch_unpublish(lc->cfg.dispatcher, name, &e) < 0 && e.kind != TF_ERR_NOT_FOUND)
        log_warn("function %s: unpublish: %s", name, e.msg);
    swap_record(lc, NULL, name);
    if (lc->cfg.state_dir != NULL)
        store_remove(lc->cfg.state_dir, name);
    lifecycle_remove_objects(lc, r);
    lifecycle_remove_network(lc, name);
    lifecycle_remove_images(lc, name, IMAGES_ALL, NULL);
    record_free(r);
    log_info("function %s: deleted", name);
    return 0;
}

int lifecycle_delete(struct lifecycle *lc, const char *name, tf_err *err)
{
    struct name_hold held;
    lifecycle_hold_name(lc, name, &held);
    int rc = delete_held(lc, name, err);
    lifecycle_release_name(lc, &held);
    return rc;
}

/* Deletes the functions deployed when it is called, one after another;
 * one deleted meanwhile is no error. */
int lifecycle_wipe(struct lifecycle *lc, tf_err *err)
{
    size_t n = 0;
    char(*names)[NAME_MAX_LEN + 1] = lifecycle_names(lc, &n);
    if (names == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        tf_err e = {0};
        if (lifecycle_delete(lc, names[i], &e) < 0 && e.kind != TF_ERR_NOT_FOUND)
            rc = tf_err_set(err, e.kind, "%s", e.msg);
    }
    free(names);
    return rc;
}

/* Collects the networks and images that go: all when purging, else those of
 * functions not kept in the state dir (a kept one's network and image are
 * what bring it back at once, with no package index). */
struct cull {
    struct lifecycle *lc;
    bool purge;
    struct docker_ids ids;
};

static void cull_unkept(void *ctx, const char *id, json_t *labels)
{
    struct cull *c = ctx;
    const char *name = json_string_value(json_object_get(labels, LABEL_FUNCTION));
    const char *state = c->lc->cfg.state_dir;
    if (c->purge || name == NULL || !name_is_valid(name, strlen(name)) || state == NULL ||
        !store_has(state, name))
        docker_ids_collect(&c->ids, id, labels);
}

static int remove_everything(struct lifecycle *lc, bool purge, tf_err *err)
{
    char label[128];
    snprintf(label, sizeof label, "%s=%s", LABEL_INSTANCE, lc->cfg.instance_id);
    /* Containers before networks (a network in use cannot go), images last. */
    const enum docker_kind order[] = {DOCKER_CONTAINERS, DOCKER_NETWORKS, DOCKER_IMAGES};
    int rc = 0;
    for (size_t k = 0; k < 3; k++) {
        struct cull c = {.lc = lc, .purge = purge || order[k] == DOCKER_CONTAINERS};
        if (docker_list(lc->cfg.docker, order[k], label, cull_unkept, &c, err) < 0)
            rc = -EIO;
        if (sweep_remove(lc->cfg.docker, order[k], c.ids.ids, c.ids.n, err) < 0)
            rc = -EIO;
        docker_ids_free(&c.ids);
    }
    lifecycle_clear_socket_dirs(lc);
    pthread_mutex_lock(&lc->table_lock);
    while (lc->records != NULL) {
        struct function_record *r = lc->records;
        lc->records = r->next;
        record_free(r);
    }
    pthread_mutex_unlock(&lc->table_lock);
    return rc;
}

int lifecycle_remove_all(struct lifecycle *lc, tf_err *err)
{
    return remove_everything(lc, false, err);
}

int lifecycle_purge(struct lifecycle *lc, tf_err *err)
{
    return remove_everything(lc, true, err);
}
