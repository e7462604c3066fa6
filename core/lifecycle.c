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
#include "metrics.h"
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
    json_decref(r->constraints);
    free(r->replicas);
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
    free(lc->leftovers);
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
    bool cached;    /* the image was there already: nothing built */
    size_t adopted; /* handlers the last run left running, taken over */
};

/* How long handlers left running get to say READY: they run already, and
 * say it as soon as they accept the connection. */
#define ADOPTED_READY_MS 3000

/* Starts r's handlers, and routes calls to them once they all said READY;
 * *started is when they were started. */
static int start_and_publish(struct lifecycle *lc, struct function_record *r,
                             struct dispatch_endpoint *eps, int64_t *started, tf_err *err)
{
    struct dispatch_limits lim = record_limits(r);
    int rc = lifecycle_start_handlers(lc, r, 0, r->n_containers, eps, err);
    *started = loop_now_ms();
    if (rc == 0)
        rc = dispatch_publish(lc->cfg.dispatcher, r->name, eps, r->n_containers,
                              lc->cfg.ready_timeout_ms, &lim, err);
    return rc;
}

/* For r coming back from the store: takes over the handlers the last run
 * left running, starts the others, and routes calls to them. Adopted
 * handlers that do not serve (stopped, stuck) are replaced by new ones. */
static int adopt_and_publish(struct lifecycle *lc, struct function_record *r,
                             struct dispatch_endpoint *eps, size_t *adopted, int64_t *started,
                             tf_err *err)
{
    bool *taken = calloc(r->n_containers, sizeof *taken);
    if (taken == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    *adopted = lifecycle_adopt_handlers(lc, r, eps, taken);
    int rc = 0;
    for (size_t i = 0; i < r->n_containers && rc == 0; i++)
        if (!taken[i])
            rc = lifecycle_start_handlers(lc, r, i, i + 1, eps, err);
    free(taken);
    *started = loop_now_ms();
    struct dispatch_limits lim = record_limits(r);
    int ready_ms = *adopted == r->n_containers ? ADOPTED_READY_MS : lc->cfg.ready_timeout_ms;
    if (rc == 0)
        rc = dispatch_publish(lc->cfg.dispatcher, r->name, eps, r->n_containers, ready_ms, &lim,
                              err);
    if (rc == 0 || *adopted == 0)
        return rc;
    log_warn("function %s: the handlers left running do not serve (%s); starting them anew",
             r->name, err->msg);
    lifecycle_remove_handlers(lc, r, 0, r->n_containers);
    *adopted = 0;
    return start_and_publish(lc, r, eps, started, err);
}

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
    int64_t t3 = t2;
    if (lc->cfg.swarm) {
        rc = lifecycle_swarm_start(lc, r, s->restoring, &times->adopted, err);
        t3 = loop_now_ms(); /* replicas run and serve: Swarm started them */
    } else {
        rc = s->restoring ? adopt_and_publish(lc, r, eps, &times->adopted, &t3, err)
                          : start_and_publish(lc, r, eps, &t3, err);
    }
    times->start_ms = t3 - t2;
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
    r->constraints = json_array();
    if (r->containers == NULL || r->envs == NULL || r->constraints == NULL) {
        record_free(r);
        return NULL;
    }
    for (size_t i = 0; i < s->n_envs; i++)
        json_array_append_new(r->envs, json_string(s->envs[i]));
    for (size_t i = 0; i < s->n_constraints; i++)
        json_array_append_new(r->constraints, json_string(s->constraints[i]));
    snprintf(r->name, sizeof r->name, "%s", s->name);
    snprintf(r->env, sizeof r->env, "%s", s->env);
    r->threads = (int)s->threads;
    r->n_containers = (size_t)s->threads;
    r->memory_mb = s->memory_mb > 0 ? s->memory_mb : LIFECYCLE_DEFAULT_MEMORY_MB;
    r->cpus = s->cpus;
    r->timeout_s = s->timeout_s > 0 ? (int)s->timeout_s : lc->cfg.call_timeout_s;
    r->concurrency = (int)s->concurrency;
    pthread_mutex_lock(&lc->table_lock);
    unsigned version = ++lc->version;
    pthread_mutex_unlock(&lc->table_lock);
    lifecycle_set_version(lc, r, version);
    return r;
}

void lifecycle_set_version(struct lifecycle *lc, struct function_record *r, unsigned version)
{
    r->version = version;
    snprintf(r->prefix, sizeof r->prefix, "tinyfaas-%s-%s-v%u", lc->cfg.instance_id, r->name,
             version);
    lifecycle_swarm_name(lc, r);
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

/* How a deploy that failed with kind ended, for its metric. */
static enum metrics_deploy deploy_result(enum tf_err_kind kind)
{
    switch (kind) {
    case TF_ERR_NONE: return METRICS_DEPLOY_SUCCESS;
    case TF_ERR_INVALID:
    case TF_ERR_TOO_LARGE:
    case TF_ERR_CONFLICT: return METRICS_DEPLOY_INVALID;
    case TF_ERR_BUILD: return METRICS_DEPLOY_BUILD_ERROR;
    case TF_ERR_TIMEOUT: return METRICS_DEPLOY_TIMEOUT;
    default: return METRICS_DEPLOY_ERROR;
    }
}

static int deploy(struct lifecycle *lc, const struct deploy_spec *s, tf_err *err);

/* Whether a copy of name is in the state dir. */
static bool kept(const struct lifecycle *lc, const char *name)
{
    return lc->cfg.state_dir != NULL && store_has(lc->cfg.state_dir, name);
}

/* Whether name, held, is still to come back from the state dir: not when
 * it was uploaded anew meanwhile (that one stands), nor when it was deleted
 * or wiped before its turn came. */
static bool still_to_restore(struct lifecycle *lc, const char *name)
{
    if (lifecycle_held_record(lc, name) != NULL)
        return false;
    if (!kept(lc, name)) {
        log_info("function %s: deleted before it came back", name);
        return false;
    }
    return true;
}

int lifecycle_deploy(struct lifecycle *lc, const struct deploy_spec *s, tf_err *err)
{
    uint64_t start = metrics_start();
    int rc = deploy(lc, s, err);
    /* A name that is none is counted apart: it makes no slot of its own. */
    bool named = s->name != NULL && name_is_valid(s->name, strlen(s->name));
    if (rc < 0 && err->kind == TF_ERR_TOO_LARGE)
        metrics_limit_hit(METRICS_LIMIT_MGMT_CODE_SIZE);
    metrics_deploy_done(named ? metrics_function(s->name) : metrics_unknown(),
                        deploy_result(rc < 0 ? err->kind : TF_ERR_NONE), start);
    return rc;
}

static int deploy(struct lifecycle *lc, const struct deploy_spec *s, tf_err *err)
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
    if (s->restoring && !still_to_restore(lc, s->name)) {
        lifecycle_release_name(lc, &held);
        tarbuf_free(&t);
        return 1;
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
        char adopted[48] = "";
        if (times.adopted > 0)
            snprintf(adopted, sizeof adopted, ", %zu left running adopted", times.adopted);
        log_info("function %s: deployed (image %lld ms%s, network %lld ms, handlers started "
                 "%lld ms%s, ready %lld ms)",
                 s->name, (long long)times.build_ms, times.cached ? ", kept from before" : "",
                 (long long)times.network_ms, (long long)times.start_ms, adopted,
                 (long long)times.ready_ms);
        keep(lc, s);
    }
    lifecycle_release_name(lc, &held);
    return rc;
}

/* Deletes name, which the caller holds: the version that serves, or the
 * kept copy of one that has not come back (yet, or at all) since the
 * start. was_kept: its copy was there, and a wipe has forgotten it. */
static int delete_held(struct lifecycle *lc, const char *name, bool was_kept, tf_err *err)
{
    struct function_record *r = lifecycle_held_record(lc, name);
    if (r == NULL && !was_kept && !kept(lc, name))
        return tf_err_set(err, TF_ERR_NOT_FOUND, "no function named '%.64s'", name);
    if (r != NULL) {
        tf_err e;
        if (dispatch_unpublish(lc->cfg.dispatcher, name, &e) < 0 && e.kind != TF_ERR_NOT_FOUND)
            log_warn("function %s: unpublish: %s", name, e.msg);
        swap_record(lc, NULL, name);
    }
    if (lc->cfg.state_dir != NULL)
        store_remove(lc->cfg.state_dir, name);
    if (r != NULL)
        lifecycle_remove_objects(lc, r);
    lifecycle_drop_leftovers(lc, name); /* before the network they are on */
    lifecycle_remove_network(lc, name);
    lifecycle_remove_images(lc, name, IMAGES_ALL, NULL);
    log_info("function %s: deleted%s", name, r != NULL ? "" : " (it had not come back)");
    record_free(r);
    return 0;
}

static int delete_name(struct lifecycle *lc, const char *name, bool was_kept, tf_err *err)
{
    struct name_hold held;
    lifecycle_hold_name(lc, name, &held);
    int rc = delete_held(lc, name, was_kept, err);
    lifecycle_release_name(lc, &held);
    return rc;
}

int lifecycle_delete(struct lifecycle *lc, const char *name, tf_err *err)
{
    return delete_name(lc, name, false, err);
}

/* Names, as a growing array. */
struct names {
    char (*at)[NAME_MAX_LEN + 1];
    size_t n, cap;
    bool failed; /* out of memory */
};

static void names_add(void *ctx, const char *name)
{
    struct names *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        void *at = realloc(l->at, cap * sizeof *l->at);
        if (at == NULL) {
            l->failed = true;
            return;
        }
        l->at = at;
        l->cap = cap;
    }
    snprintf(l->at[l->n++], sizeof l->at[0], "%s", name);
}

/* Deletes each of names; one deleted meanwhile is no error. */
static int delete_each(struct lifecycle *lc, char (*names)[NAME_MAX_LEN + 1], size_t n,
                       bool was_kept, tf_err *err)
{
    for (size_t i = 0; i < n; i++) {
        tf_err e = {0};
        if (delete_name(lc, names[i], was_kept, &e) < 0 && e.kind != TF_ERR_NOT_FOUND)
            return tf_err_set(err, e.kind, "%s", e.msg);
    }
    return 0;
}

/* Deletes the functions kept in the state dir and those deployed when it
 * is called, one after another. The kept copies are forgotten first: a
 * restart's restore that has not reached one yet passes it over, rather
 * than bring it back only for the wipe to delete it. */
int lifecycle_wipe(struct lifecycle *lc, tf_err *err)
{
    struct names kept_names = {0};
    size_t n = 0;
    char(*deployed)[NAME_MAX_LEN + 1] = lifecycle_names(lc, &n);
    if (lc->cfg.state_dir != NULL)
        store_each_name(lc->cfg.state_dir, names_add, &kept_names);
    int rc = 0;
    if (deployed == NULL || kept_names.failed)
        rc = tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    for (size_t i = 0; rc == 0 && i < kept_names.n; i++)
        store_remove(lc->cfg.state_dir, kept_names.at[i]);
    /* The kept first: a deployed one among them is then deleted already. */
    if (rc == 0)
        rc = delete_each(lc, kept_names.at, kept_names.n, true, err);
    if (rc == 0)
        rc = delete_each(lc, deployed, n, false, err);
    free(kept_names.at);
    free(deployed);
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

/* What remove_everything keeps. */
enum cleanup {
    AT_START, /* handlers of kept functions left running, to adopt */
    AT_STOP,  /* nothing but the kept functions' networks and images */
    PURGING,  /* nothing */
};

static void forget_records(struct lifecycle *lc)
{
    pthread_mutex_lock(&lc->table_lock);
    while (lc->records != NULL) {
        struct function_record *r = lc->records;
        lc->records = r->next;
        record_free(r);
    }
    pthread_mutex_unlock(&lc->table_lock);
}

static int remove_everything(struct lifecycle *lc, enum cleanup mode, tf_err *err)
{
    char label[128];
    snprintf(label, sizeof label, "%s=%s", LABEL_INSTANCE, lc->cfg.instance_id);
    int rc = 0;
    if (mode == AT_START) {
        rc = lifecycle_sort_leftovers(lc, err) < 0 ? -EIO : 0;
    } else {
        lifecycle_drop_leftovers(lc, NULL); /* removed below with every container */
        if (lc->cfg.swarm && lifecycle_swarm_remove_all(lc, err) < 0)
            rc = -EIO;
    }
    /* Containers before networks (a network in use cannot go), images last. */
    const enum docker_kind order[] = {DOCKER_CONTAINERS, DOCKER_NETWORKS, DOCKER_IMAGES};
    for (size_t k = mode == AT_START ? 1 : 0; k < 3; k++) {
        struct cull c = {.lc = lc, .purge = mode == PURGING || order[k] == DOCKER_CONTAINERS};
        if (docker_list(lc->cfg.docker, order[k], label, cull_unkept, &c, err) < 0)
            rc = -EIO;
        if (sweep_remove(lc->cfg.docker, order[k], c.ids.ids, c.ids.n, err) < 0)
            rc = -EIO;
        docker_ids_free(&c.ids);
    }
    lifecycle_clear_socket_dirs(lc);
    forget_records(lc);
    return rc;
}

int lifecycle_recover(struct lifecycle *lc, tf_err *err)
{
    return remove_everything(lc, AT_START, err);
}

int lifecycle_remove_all(struct lifecycle *lc, tf_err *err)
{
    return remove_everything(lc, AT_STOP, err);
}

int lifecycle_purge(struct lifecycle *lc, tf_err *err)
{
    return remove_everything(lc, PURGING, err);
}

void lifecycle_stopping(struct lifecycle *lc)
{
    atomic_store(&lc->stopping, true);
}

size_t lifecycle_leave_running(struct lifecycle *lc)
{
    size_t n = 0;
    pthread_mutex_lock(&lc->table_lock);
    for (struct function_record *r = lc->records; r != NULL; r = r->next)
        for (size_t i = 0; i < r->n_containers; i++)
            n += r->containers[i][0] != '\0';
    for (struct function_record *r = lc->records; r != NULL; r = r->next)
        n += r->n_replicas;
    n += lc->n_leftovers;
    pthread_mutex_unlock(&lc->table_lock);
    forget_records(lc);
    return n;
}

void lifecycle_restore_done(struct lifecycle *lc)
{
    lifecycle_drop_leftovers(lc, NULL);
}
