/* Functions as Swarm services: each version of a function is one service,
 * its replicas the handlers, wherever Swarm places them. Swarm starts,
 * restarts and moves the tasks; the daemon never replaces one itself. It
 * follows where they run (the tasks API: each task's node and the port it
 * published there in host mode) and routes calls to those that run. */
#include <nettle/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hproto.h"
#include "lifecycle_internal.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "sweep.h"

/* How often a deploy asks whether its replicas run. */
#define POLL_MS 250

/* A task of a removed service is gone from the tasks API once it stopped
 * (StopGracePeriod is 1 s): its network can then go. */
#define REMOVE_WAIT_MS 20000

void lifecycle_swarm_name(const struct lifecycle *lc, struct function_record *r)
{
    /* A service name is a DNS label: at most 63 characters, ending in a
     * letter or digit. The version keeps names unique once cut. */
    int n = snprintf(r->service_name, sizeof r->service_name, "tinyfaas-%s-v%u-%s",
                     lc->cfg.instance_id, r->version, r->name);
    if (n >= (int)sizeof r->service_name)
        n = (int)sizeof r->service_name - 1;
    while (n > 0 && (r->service_name[n - 1] == '-' || r->service_name[n - 1] == '_'))
        r->service_name[--n] = '\0';
}

/* The secret a service's handlers prove the daemon with: derived from the
 * daemon's key and the service's name, so a restarted daemon knows it. */
static void handler_secret(const struct lifecycle *lc, const char *service_name, char out[65])
{
    struct hmac_sha256_ctx ctx;
    uint8_t mac[SHA256_DIGEST_SIZE];
    hmac_sha256_set_key(&ctx, strlen(lc->cfg.handler_key), (const uint8_t *)lc->cfg.handler_key);
    hmac_sha256_update(&ctx, strlen(service_name), (const uint8_t *)service_name);
    hmac_sha256_digest(&ctx, sizeof mac, mac);
    for (size_t i = 0; i < sizeof mac; i++)
        snprintf(out + 2 * i, 3, "%02x", mac[i]);
}

/* ---- what the swarm runs: tasks and nodes ---- */

void lifecycle_swarm_view_free(struct swarm_view *v)
{
    free(v->tasks);
    free(v->nodes);
    *v = (struct swarm_view){0};
}

/* The tasks matching key=value, and the nodes. */
int lifecycle_swarm_view_load(struct lifecycle *lc, const char *key, const char *value,
                              struct swarm_view *v, tf_err *err)
{
    *v = (struct swarm_view){0};
    int rc =
        docker_tasks(lc->cfg.docker, key, value, HPROTO_DEFAULT_PORT, &v->tasks, &v->n_tasks, err);
    if (rc == 0)
        rc = docker_nodes(lc->cfg.docker, &v->nodes, &v->n_nodes, err);
    if (rc < 0)
        lifecycle_swarm_view_free(v);
    return rc;
}

static const struct docker_node *view_node(const struct swarm_view *v, const char *id)
{
    for (size_t i = 0; i < v->n_nodes; i++)
        if (strcmp(v->nodes[i].id, id) == 0)
            return &v->nodes[i];
    return NULL;
}

/* Fills out[0..max) with the replicas of r's service that serve: running
 * as the manager wants, their port published, on a node that is up (a
 * task on a node that went down still says running). Returns how many. */
size_t lifecycle_swarm_usable(const struct lifecycle *lc, const struct function_record *r,
                              const struct swarm_view *v, struct replica *out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < v->n_tasks && n < max; i++) {
        const struct docker_task *t = &v->tasks[i];
        const struct docker_node *node = view_node(v, t->node);
        if (strcmp(t->service, r->service) != 0 || strcmp(t->desired, "running") != 0 ||
            strcmp(t->state, "running") != 0 || t->port == 0 || node == NULL || !node->ready ||
            node->addr[0] == '\0')
            continue;
        struct replica *p = &out[n++];
        *p = (struct replica){0};
        snprintf(p->task, sizeof p->task, "%s", t->id);
        snprintf(p->node, sizeof p->node, "%s", node->hostname);
        /* A single node's swarm may give no address of its own. */
        snprintf(p->ep.host, sizeof p->ep.host, "%s",
                 strcmp(node->addr, "0.0.0.0") == 0 ? "127.0.0.1" : node->addr);
        p->ep.port = t->port;
        handler_secret(lc, r->service_name, p->ep.secret);
    }
    return n;
}

/* How many of r's tasks failed, and how many wait with a reason (no node
 * fits them); why gets the last reason. */
static size_t task_failures(const struct function_record *r, const struct swarm_view *v,
                            size_t *unplaced, char *why, size_t size)
{
    size_t n = 0;
    *unplaced = 0;
    for (size_t i = 0; i < v->n_tasks; i++) {
        const struct docker_task *t = &v->tasks[i];
        bool failed = strcmp(t->state, "failed") == 0 || strcmp(t->state, "rejected") == 0;
        bool waits = strcmp(t->state, "pending") == 0 && t->error[0] != '\0';
        if (strcmp(t->service, r->service) != 0 || !(failed || waits))
            continue;
        n += failed;
        *unplaced += waits;
        snprintf(why, size, "%s", t->error[0] ? t->error : t->state);
    }
    return n;
}

/* A task the scheduler cannot place says so at once, and goes on waiting
 * for a node that fits; a deploy waits this long for one to join. */
#define UNPLACED_MS 3000

/* Waits until want replicas of r's service serve, at most timeout_ms;
 * *out (malloc'd) gets them. Tasks that keep failing (an image no node
 * has, a constraint no node meets) end the wait early with their reason. */
static int wait_replicas(struct lifecycle *lc, struct function_record *r, size_t want,
                         int timeout_ms, struct replica **out, tf_err *err)
{
    *out = calloc(want, sizeof **out);
    if (*out == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    log_debug("function %s: waiting for %zu replica(s) of %s", r->name, want, r->service);
    int64_t deadline = loop_now_ms() + timeout_ms;
    int64_t unplaced_since = 0;
    char why[200] = "";
    size_t have = 0;
    for (;;) {
        struct swarm_view v;
        if (lifecycle_swarm_view_load(lc, "service", r->service, &v, err) < 0)
            break;
        have = lifecycle_swarm_usable(lc, r, &v, *out, want);
        size_t unplaced, failures = task_failures(r, &v, &unplaced, why, sizeof why);
        lifecycle_swarm_view_free(&v);
        if (have == want)
            return 0;
        if (unplaced == 0)
            unplaced_since = 0;
        else if (unplaced_since == 0)
            unplaced_since = loop_now_ms();
        if (failures >= 2 * want + 1 ||
            (unplaced_since != 0 && loop_now_ms() - unplaced_since >= UNPLACED_MS)) {
            tf_err_set(err, TF_ERR_UPSTREAM, "the swarm does not run %s: %s", r->name, why);
            break;
        }
        if (atomic_load(&lc->stopping)) {
            tf_err_set(err, TF_ERR_UNAVAILABLE, "the daemon is shutting down");
            break;
        }
        if (loop_now_ms() >= deadline) {
            tf_err_set(err, TF_ERR_TIMEOUT, "%zu of %zu replicas of %s run after %d ms%s%s", have,
                       want, r->name, timeout_ms, why[0] ? ": " : "", why);
            break;
        }
        nanosleep(&(struct timespec){0, POLL_MS * 1000000L}, NULL);
    }
    free(*out);
    *out = NULL;
    return -1;
}

/* ---- making and removing services ---- */

/* Pushes image ("name:tag") to the registry; ref gets it by digest. */
static int push(struct lifecycle *lc, const char *image, char ref[DOCKER_REF_MAX], tf_err *err)
{
    char repo[DOCKER_REF_MAX];
    const char *colon = strrchr(image, ':');
    if (colon == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "the image %s has no tag", image);
    snprintf(repo, sizeof repo, "%s/%.*s", lc->cfg.registry, (int)(colon - image), image);
    return docker_image_push(lc->cfg.docker, image, repo, colon + 1, ref, err);
}

/* The runtime image r is built on goes to the registry too, so that a
 * site's registry holds every image its nodes run; its registry name is
 * dropped here again (the runtime images are kept under their own). */
static int push_base(struct lifecycle *lc, const struct function_record *r, tf_err *err)
{
    char ref[DOCKER_REF_MAX], alias[DOCKER_REF_MAX];
    if (r->base[0] == '\0' || push(lc, r->base, ref, err) < 0)
        return r->base[0] == '\0' ? 0 : -1;
    snprintf(alias, sizeof alias, "%s/%s", lc->cfg.registry, r->base);
    tf_err e;
    if (docker_image_untag(lc->cfg.docker, alias, &e) < 0)
        log_warn("function %s: %s", r->name, e.msg);
    return 0;
}

/* The image r's service runs, by digest, so that no node asks a registry
 * for a name: pushed to the site's registry, which every node pulls from,
 * or, with none (a swarm of one node), the local image's id. */
static int service_image(struct lifecycle *lc, struct function_record *r, tf_err *err)
{
    log_debug("function %s: image %s for the swarm", r->name, r->image);
    if (lc->cfg.registry == NULL)
        return docker_image_id(lc->cfg.docker, r->image, r->image_ref, err);
    int rc = push_base(lc, r, err);
    return rc < 0 ? rc : push(lc, r->image, r->image_ref, err);
}

/* The service spec of r: bare leaves out what differs between versions
 * that serve alike (name, labels, secret, replicas), for the digest that
 * tells whether a service left running fits. */
static json_t *service_body(const struct function_record *r, struct handler_settings *h, bool bare)
{
    struct docker_container_spec cs = h->cs;
    cs.image = r->image_ref;
    if (bare)
        cs.labels = NULL;
    struct docker_service_spec ss = {.name = bare ? NULL : r->service_name,
                                     .labels = bare ? NULL : h->labels,
                                     .container = &cs,
                                     .replicas = bare ? 0 : r->threads,
                                     .constraints = r->constraints,
                                     .network = r->network,
                                     .secret_id = bare ? NULL : r->secret,
                                     .secret_name = r->service_name,
                                     .secret_uid = "65534",
                                     .target_port = HPROTO_DEFAULT_PORT};
    return docker_service_body(&ss);
}

/* The digest of r's service spec, bare (lifecycle_handler_digest's kind). */
static int service_digest(const struct function_record *r, struct handler_settings *h, char out[65])
{
    json_t *body = service_body(r, h, true);
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(body);
    if (text == NULL)
        return -1;
    lifecycle_text_digest(text, out);
    free(text);
    return 0;
}

/* Makes r's secret and service. */
static int create_service(struct lifecycle *lc, struct function_record *r,
                          struct handler_settings *h, const char *digest, tf_err *err)
{
    char secret[65];
    handler_secret(lc, r->service_name, secret);
    int rc = docker_secret_create(lc->cfg.docker, r->service_name, secret, 64, h->labels, r->secret,
                                  err);
    /* One of that name stays from before the service was removed by hand:
     * a service takes a secret by id, made anew here. */
    if (rc < 0 && err->kind == TF_ERR_CONFLICT &&
        docker_secret_remove(lc->cfg.docker, r->service_name, err) == 0)
        rc = docker_secret_create(lc->cfg.docker, r->service_name, secret, 64, h->labels, r->secret,
                                  err);
    json_t *labels = json_deep_copy(h->labels);
    if (labels == NULL || json_object_set_new(labels, LABEL_HANDLER, json_string(digest)) < 0)
        rc = rc < 0 ? rc : tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    json_t *saved = h->labels;
    h->labels = labels;
    json_t *body = rc == 0 ? service_body(r, h, false) : NULL;
    h->labels = saved;
    json_decref(labels);
    if (rc == 0 && body == NULL)
        rc = tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    char service[DOCKER_ID_MAX];
    if (rc == 0)
        rc = docker_service_create(lc->cfg.docker, body, service, err);
    if (rc == 0) { /* /logs reads it meanwhile */
        pthread_mutex_lock(&lc->table_lock);
        memcpy(r->service, service, sizeof r->service);
        pthread_mutex_unlock(&lc->table_lock);
    }
    json_decref(body);
    return rc;
}

int lifecycle_swarm_create(struct lifecycle *lc, struct function_record *r, tf_err *err)
{
    struct handler_settings h;
    char digest[65];
    int rc = lifecycle_handler_settings(lc, r, &h, err);
    if (rc < 0)
        return rc;
    rc = service_digest(r, &h, digest) < 0 ? tf_err_set(err, TF_ERR_INTERNAL, "out of memory")
                                           : create_service(lc, r, &h, digest, err);
    lifecycle_handler_settings_free(&h);
    return rc;
}

/* How many tasks of the services ids[0..n) v holds on nodes that are up:
 * a node that is down reports nothing more about its tasks. */
static size_t tasks_left(const struct swarm_view *v, char (*ids)[DOCKER_ID_MAX], size_t n)
{
    size_t left = 0;
    for (size_t i = 0; i < v->n_tasks; i++) {
        const struct docker_node *node = view_node(v, v->tasks[i].node);
        for (size_t k = 0; k < n && (node == NULL || node->ready); k++)
            left += strcmp(v->tasks[i].service, ids[k]) == 0;
    }
    return left;
}

/* The services whose containers on this node are counted. */
struct local_count {
    char (*ids)[DOCKER_ID_MAX];
    size_t n, left;
};

static void count_local(void *ctx, const char *id, json_t *labels)
{
    (void)id;
    struct local_count *c = ctx;
    const char *service = json_string_value(json_object_get(labels, "com.docker.swarm.service.id"));
    for (size_t k = 0; service != NULL && k < c->n; k++)
        c->left += strcmp(service, c->ids[k]) == 0;
}

/* Waits at most REMOVE_WAIT_MS until no task of the services ids[0..n) is
 * left, nor any of their containers on this node (the manager may forget
 * a removed service's tasks before its nodes have removed their
 * containers, and an image in use cannot go). */
static void wait_tasks_gone(struct lifecycle *lc, char (*ids)[DOCKER_ID_MAX], size_t n)
{
    char label[64];
    snprintf(label, sizeof label, "%s=%s", LABEL_INSTANCE, lc->cfg.instance_id);
    int64_t deadline = loop_now_ms() + REMOVE_WAIT_MS;
    for (;;) {
        struct swarm_view v;
        tf_err e = {0};
        if (lifecycle_swarm_view_load(lc, "label", label, &v, &e) < 0)
            return;
        size_t left = tasks_left(&v, ids, n);
        lifecycle_swarm_view_free(&v);
        struct local_count c = {ids, n, 0};
        if (docker_list(lc->cfg.docker, DOCKER_CONTAINERS, label, count_local, &c, &e) == 0)
            left += c.left;
        if (left == 0 || loop_now_ms() >= deadline)
            return;
        nanosleep(&(struct timespec){0, POLL_MS * 1000000L}, NULL);
    }
}

/* Removes a service and its secret (both by name or id). */
void lifecycle_swarm_remove_service(struct lifecycle *lc, const char *name, const char *service,
                                    const char *secret)
{
    tf_err e;
    if (service[0] && docker_service_remove(lc->cfg.docker, service, &e) < 0)
        log_warn("function %s: %s", name, e.msg);
    char id[1][DOCKER_ID_MAX];
    snprintf(id[0], sizeof id[0], "%s", service);
    if (service[0])
        wait_tasks_gone(lc, id, 1);
    if (secret[0] && docker_secret_remove(lc->cfg.docker, secret, &e) < 0)
        log_warn("function %s: %s", name, e.msg);
}

void lifecycle_swarm_remove(struct lifecycle *lc, const struct function_record *r)
{
    lifecycle_swarm_remove_service(lc, r->name, r->service, r->secret);
}

/* Routes calls to the replicas of r in reps (n), and keeps them in r. */
int lifecycle_swarm_route(struct lifecycle *lc, struct function_record *r, struct replica *reps,
                          size_t n, bool reroute, int ready_ms, tf_err *err)
{
    struct dispatch_endpoint *eps = calloc(n, sizeof *eps);
    if (eps == NULL) {
        free(reps);
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        eps[i] = reps[i].ep;
    struct dispatch_limits lim = record_limits(r);
    int rc = reroute ? dispatch_reroute(lc->cfg.dispatcher, r->name, eps, n, ready_ms, &lim, err)
                     : dispatch_publish(lc->cfg.dispatcher, r->name, eps, n, ready_ms, &lim, err);
    free(eps);
    if (rc < 0) {
        free(reps);
        return rc;
    }
    pthread_mutex_lock(&lc->table_lock);
    free(r->replicas);
    r->replicas = reps;
    r->n_replicas = n;
    pthread_mutex_unlock(&lc->table_lock);
    return 0;
}

/* Waits for r's replicas, then routes calls to them. */
int lifecycle_swarm_serve(struct lifecycle *lc, struct function_record *r, bool reroute,
                          int ready_ms, tf_err *err)
{
    struct replica *reps = NULL;
    int rc = wait_replicas(lc, r, (size_t)r->threads, lc->cfg.ready_timeout_ms, &reps, err);
    return rc < 0 ? rc
                  : lifecycle_swarm_route(lc, r, reps, (size_t)r->threads, reroute, ready_ms, err);
}

/* Takes over, for r coming back after a restart, the service the last run
 * left, when it was made as r's would be now. */
static bool adopt(struct lifecycle *lc, struct function_record *r, const char *digest)
{
    for (size_t i = 0; i < lc->n_leftovers; i++) {
        struct leftover *l = &lc->leftovers[i];
        if (strcmp(l->name, r->name) != 0 || strcmp(l->digest, digest) != 0)
            continue;
        lifecycle_set_version(lc, r, l->version);
        snprintf(r->service, sizeof r->service, "%s", l->id);
        snprintf(r->secret, sizeof r->secret, "%s", r->service_name);
        lc->leftovers[i] = lc->leftovers[--lc->n_leftovers];
        return true;
    }
    return false;
}

int lifecycle_swarm_start(struct lifecycle *lc, struct function_record *r, bool restoring,
                          size_t *adopted, tf_err *err)
{
    struct handler_settings h;
    char digest[65];
    *adopted = 0;
    int rc = service_image(lc, r, err);
    if (rc == 0)
        rc = lifecycle_handler_settings(lc, r, &h, err);
    if (rc < 0)
        return rc;
    if (service_digest(r, &h, digest) < 0) {
        lifecycle_handler_settings_free(&h);
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    }
    pthread_mutex_lock(&lc->table_lock);
    bool taken = restoring && adopt(lc, r, digest);
    pthread_mutex_unlock(&lc->table_lock);
    if (taken) {
        log_debug("function %s: adopting service %s", r->name, r->service);
        *adopted = (size_t)r->threads;
        rc = docker_service_scale(lc->cfg.docker, r->service, r->threads, err);
        if (rc == 0)
            rc = lifecycle_swarm_serve(lc, r, false, lc->cfg.ready_timeout_ms, err);
        if (rc == 0) {
            lifecycle_handler_settings_free(&h);
            return 0;
        }
        log_warn("function %s: the service left running does not serve (%s); making it anew",
                 r->name, err->msg);
        lifecycle_swarm_remove(lc, r);
        *adopted = 0;
        pthread_mutex_lock(&lc->table_lock);
        unsigned version = ++lc->version;
        pthread_mutex_unlock(&lc->table_lock);
        lifecycle_set_version(lc, r, version);
        lifecycle_handler_settings_free(&h);
        if (lifecycle_handler_settings(lc, r, &h, err) < 0)
            return -1;
    }
    rc = create_service(lc, r, &h, digest, err);
    lifecycle_handler_settings_free(&h);
    return rc < 0 ? rc : lifecycle_swarm_serve(lc, r, false, lc->cfg.ready_timeout_ms, err);
}

/* ---- what the last run left ---- */

void lifecycle_swarm_remove_leftover(struct lifecycle *lc, const struct leftover *l)
{
    struct function_record r = {.version = l->version};
    snprintf(r.name, sizeof r.name, "%s", l->name);
    lifecycle_swarm_name(lc, &r);
    lifecycle_swarm_remove_service(lc, l->name, l->id, r.service_name);
}

/* Collects the secrets of no kept service. */
struct secret_cull {
    const struct leftover *keep;
    size_t n;
    struct docker_ids gone;
};

static void cull_secret(void *ctx, const char *id, json_t *labels)
{
    struct secret_cull *c = ctx;
    const char *name = json_string_value(json_object_get(labels, LABEL_FUNCTION));
    const char *version = json_string_value(json_object_get(labels, LABEL_VERSION));
    for (size_t i = 0; name != NULL && version != NULL && i < c->n; i++)
        if (strcmp(c->keep[i].name, name) == 0 && strtoul(version, NULL, 10) == c->keep[i].version)
            return;
    docker_ids_collect(&c->gone, id, labels);
}

int lifecycle_swarm_remove_secrets(struct lifecycle *lc, const struct leftover *keep, size_t n,
                                   tf_err *err)
{
    char label[64];
    snprintf(label, sizeof label, "%s=%s", LABEL_INSTANCE, lc->cfg.instance_id);
    struct secret_cull c = {.keep = keep, .n = n};
    int rc = docker_list(lc->cfg.docker, DOCKER_SECRETS, label, cull_secret, &c, err);
    if (rc == 0)
        rc = sweep_remove(lc->cfg.docker, DOCKER_SECRETS, c.gone.ids, c.gone.n, err);
    docker_ids_free(&c.gone);
    return rc;
}

int lifecycle_swarm_remove_services(struct lifecycle *lc, char (*ids)[DOCKER_ID_MAX], size_t n,
                                    tf_err *err)
{
    int rc = sweep_remove(lc->cfg.docker, DOCKER_SERVICES, ids, n, err);
    wait_tasks_gone(lc, ids, n); /* their tasks stop side by side */
    return rc;
}

int lifecycle_swarm_remove_all(struct lifecycle *lc, tf_err *err)
{
    char label[64];
    snprintf(label, sizeof label, "%s=%s", LABEL_INSTANCE, lc->cfg.instance_id);
    struct docker_ids services = {0};
    int rc =
        docker_list(lc->cfg.docker, DOCKER_SERVICES, label, docker_ids_collect, &services, err);
    if (rc == 0)
        rc = lifecycle_swarm_remove_services(lc, services.ids, services.n, err);
    docker_ids_free(&services);
    if (rc == 0)
        rc = lifecycle_swarm_remove_secrets(lc, NULL, 0, err);
    return rc;
}
