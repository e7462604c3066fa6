#include "lifecycle.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "compile.h"
#include "fnzip.h"
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
    pthread_mutex_init(&lc->change_lock, NULL);
    pthread_mutex_init(&lc->table_lock, NULL);
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
    pthread_mutex_destroy(&lc->change_lock);
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

/* Puts r in the table in place of any record of the same name, which it returns. */
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
        r->next = lc->records;
        lc->records = r;
    }
    pthread_mutex_unlock(&lc->table_lock);
    return old;
}

/* ---- validation ---- */

static int env_entry_valid(const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (eq == NULL || eq == kv)
        return 0;
    for (const char *p = kv; p < eq; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_'))
            return 0;
    return !isdigit((unsigned char)kv[0]);
}

/* Per handler container: below 16 MiB no runtime starts; the CPU bound is
 * the engine's own (a fraction of the host's CPUs). */
#define MIN_MEMORY_MB   16
#define MAX_MEMORY_MB   65536
#define MAX_CPUS        256
#define MAX_TIMEOUT_S   3600
#define MAX_CONCURRENCY 256 /* the shim takes no more in flight per connection */
/* How long compiling a function may take before the deploy gives up. */
#define COMPILE_TIMEOUT_S 300

static int validate(struct lifecycle *lc, const struct deploy_spec *s, tf_err *err)
{
    if (s->name == NULL || !name_is_valid(s->name, strlen(s->name)))
        return tf_err_set(err, TF_ERR_INVALID,
                          "invalid function name '%s': use [A-Za-z0-9][A-Za-z0-9_-]{0,62}",
                          s->name ? s->name : "");
    if (runtimes_find(lc->cfg.runtimes, s->env) == NULL)
        return tf_err_set(err, TF_ERR_INVALID, "unknown env '%s' (known: %s)", s->env ? s->env : "",
                          runtimes_names(lc->cfg.runtimes));
    if (s->threads < 1 || s->threads > LIFECYCLE_THREADS_MAX)
        return tf_err_set(err, TF_ERR_INVALID, "threads must be between 1 and %d, not %lld",
                          LIFECYCLE_THREADS_MAX, s->threads);
    for (size_t i = 0; i < s->n_envs; i++)
        if (!env_entry_valid(s->envs[i]))
            return tf_err_set(err, TF_ERR_INVALID, "envs entry '%.60s' is not KEY=VALUE",
                              s->envs[i]);
    if (s->memory_mb != 0 && (s->memory_mb < MIN_MEMORY_MB || s->memory_mb > MAX_MEMORY_MB))
        return tf_err_set(err, TF_ERR_INVALID, "memory_mb must be between %d and %d, not %lld",
                          MIN_MEMORY_MB, MAX_MEMORY_MB, s->memory_mb);
    if (s->timeout_s < 0 || s->timeout_s > MAX_TIMEOUT_S)
        return tf_err_set(err, TF_ERR_INVALID, "timeout_s must be between 1 and %d, not %lld",
                          MAX_TIMEOUT_S, s->timeout_s);
    if (s->concurrency < 0 || s->concurrency > MAX_CONCURRENCY)
        return tf_err_set(err, TF_ERR_INVALID, "concurrency must be between 1 and %d, not %lld",
                          MAX_CONCURRENCY, s->concurrency);
    if (s->cpus < 0 || s->cpus > MAX_CPUS || (s->cpus > 0 && s->cpus < 0.01))
        return tf_err_set(err, TF_ERR_INVALID, "cpus must be between 0.01 and %d, not %g", MAX_CPUS,
                          s->cpus);
    return 0;
}

/* ---- Docker objects ---- */

json_t *lifecycle_labels(struct lifecycle *lc, const char *name, unsigned version)
{
    char v[16];
    snprintf(v, sizeof v, "%u", version);
    return json_pack("{s:s, s:s, s:s}", LABEL_INSTANCE, lc->cfg.instance_id, LABEL_FUNCTION, name,
                     LABEL_VERSION, v);
}

struct image_sweep {
    struct lifecycle *lc;
    const char *name;
    unsigned version; /* 0: every version */
    char (*ids)[DOCKER_ID_MAX];
    size_t n;
};

static void pick_image(void *ctx, const char *id, json_t *labels)
{
    struct image_sweep *sw = ctx;
    const char *fn = json_string_value(json_object_get(labels, LABEL_FUNCTION));
    const char *v = json_string_value(json_object_get(labels, LABEL_VERSION));
    if (fn == NULL || strcmp(fn, sw->name) != 0 || sw->n == 256)
        return;
    if (sw->version != 0 && (v == NULL || strtoul(v, NULL, 10) != sw->version))
        return;
    snprintf(sw->ids[sw->n++], DOCKER_ID_MAX, "%s", id);
}

/* Removes a function's images, the intermediate ones of multi-stage builds
 * and failed builds included: every image labelled with its name (and version). */
static void remove_images(struct lifecycle *lc, const char *name, unsigned version)
{
    char label[128], ids[256][DOCKER_ID_MAX];
    snprintf(label, sizeof label, "%s=%s", LABEL_INSTANCE, lc->cfg.instance_id);
    struct image_sweep sw = {lc, name, version, ids, 0};
    tf_err e;
    if (docker_list(lc->cfg.docker, DOCKER_IMAGES, label, pick_image, &sw, &e) < 0)
        log_warn("function %s: %s", name, e.msg);
    /* Newest first, so a child goes before the image it was built on. */
    for (size_t i = 0; i < sw.n; i++)
        if (docker_image_remove(lc->cfg.docker, ids[i], &e) < 0)
            log_warn("function %s: %s", name, e.msg);
}

/* Removes what a record names; every step runs even if one fails. */
static void remove_objects(struct lifecycle *lc, const struct function_record *r)
{
    tf_err e;
    for (size_t i = 0; i < r->n_containers; i++)
        if (r->containers[i][0] &&
            docker_container_remove(lc->cfg.docker, r->containers[i], &e) < 0)
            log_warn("function %s: %s", r->name, e.msg);
    lifecycle_remove_socket_dirs(lc, r, 0, r->n_containers);
    if (r->network[0] && docker_network_remove(lc->cfg.docker, r->network, &e) < 0)
        log_warn("function %s: %s", r->name, e.msg);
    if (r->image[0] && docker_image_remove(lc->cfg.docker, r->image, &e) < 0)
        log_warn("function %s: %s", r->name, e.msg);
    remove_images(lc, r->name, r->version);
}

/* What unpacking the user's code told about it. */
struct code_facts {
    const struct runtime *rt;
    bool has_entry; /* the runtime's entry file is at the top */
    bool has_deps;  /* the function declares dependencies to install */
};

static void see_file(void *ctx, const char *path, const void *data, size_t len)
{
    struct code_facts *f = ctx;
    const char *rel = path + strlen("fn/");
    if (strcmp(rel, runtime_entry(f->rt)) == 0)
        f->has_entry = true;
    if (runtime_declares_deps(f->rt, rel, data, len))
        f->has_deps = true;
}

/* Unpacks the user's zip under fn/ of a new build context; the Dockerfile is
 * added later, once the base image is known. */
static int unpack_code(struct lifecycle *lc, const struct deploy_spec *s, struct tarbuf *t,
                       struct code_facts *facts, tf_err *err)
{
    struct fnzip_limits limits = {lc->cfg.max_zip_entries, lc->cfg.max_zip_bytes};
    const char *entry = runtime_entry(facts->rt);
    int rc = tarbuf_open(t, err);
    t->on_file = see_file;
    t->on_file_ctx = facts;
    if (rc == 0)
        rc = fnzip_to_tar(s->zip, s->zip_len, s->subfolder, "fn/", &limits, t, err);
    t->on_file = NULL;
    if (rc == 0 && !facts->has_entry)
        return tf_err_set(err, TF_ERR_INVALID,
                          "the %s runtime needs %s at the top of the function folder", s->env,
                          entry);
    return rc;
}

/* The build's own error lines (a compiler's, pip's, npm's), kept so a
 * failed deploy's answer says what the tool said, not just that it failed. */
struct build_log {
    const char *name;
    char lines[6][200];
    size_t n;
};

static void log_build(void *ctx, const char *line)
{
    struct build_log *b = ctx;
    log_debug("build %s: %s", b->name, line);
    while (*line == '\033') { /* colour codes some tools print */
        const char *m = strchr(line, 'm');
        if (m == NULL)
            break;
        line = m + 1;
    }
    if (strcasestr(line, "error") == NULL || strncmp(line, "Step ", 5) == 0)
        return;
    if (b->n == 6) {
        memmove(b->lines[0], b->lines[1], sizeof b->lines[0] * 5);
        b->n = 5;
    }
    snprintf(b->lines[b->n++], sizeof b->lines[0], "%s", line);
}

/* Says what the tool said, in place of the engine's "returned a non-zero code". */
static void explain_build(const struct build_log *b, tf_err *err)
{
    if (b->n == 0)
        return;
    char msg[TF_ERR_MSG_MAX];
    size_t len = (size_t)snprintf(msg, sizeof msg, "the function's build failed");
    for (size_t i = 0; i < b->n && len < sizeof msg; i++)
        len += (size_t)snprintf(msg + len, sizeof msg - len, "%s%s", i ? " | " : ": ", b->lines[i]);
    tf_err_set(err, TF_ERR_BUILD, "%s", msg);
}

/* The function's image from its runtime's function.Dockerfile template. */
static int build_from_template(struct lifecycle *lc, const struct deploy_spec *s,
                               const struct function_record *r, struct tarbuf *t,
                               const struct code_facts *facts, const char *base,
                               const char *builder, struct build_log *blog, tf_err *err)
{
    char labels_line[256];
    /* Every stage's images carry the labels, so a failed build leaves nothing unfindable. */
    snprintf(labels_line, sizeof labels_line, "LABEL %s=\"%s\" %s=\"%s\" %s=\"%u\"", LABEL_INSTANCE,
             lc->cfg.instance_id, LABEL_FUNCTION, s->name, LABEL_VERSION, r->version);
    char *dockerfile = NULL;
    int rc = runtime_function_dockerfile(lc->cfg.runtimes, facts->rt, facts->has_deps, base,
                                         builder, labels_line, &dockerfile, err);
    if (rc == 0)
        rc = tarbuf_add_file(t, "Dockerfile", dockerfile, strlen(dockerfile), 0644, err);
    free(dockerfile);
    if (rc == 0)
        rc = tarbuf_close(t, err);
    /* No labels for the builder to add: the template's @LABELS@ lines label
     * every stage's images, the last one included. */
    if (rc == 0)
        rc = docker_image_build(lc->cfg.docker, t->data, t->len, r->image, NULL, log_build, blog,
                                err);
    return rc;
}

/* The function's image compiled in a throwaway builder container (compile.h). */
static int compile_function(struct lifecycle *lc, const struct deploy_spec *s,
                            const struct function_record *r, struct tarbuf *t, const char *builder,
                            const char *command, struct build_log *blog, tf_err *err)
{
    int rc = tarbuf_close(t, err);
    if (rc < 0)
        return rc;
    struct compile_job job = {
        .builder = builder,
        .command = command,
        .fn_tar = t->data,
        .fn_tar_len = t->len,
        .labels = lifecycle_labels(lc, s->name, r->version),
        .tag = r->image,
        .timeout_s = COMPILE_TIMEOUT_S,
        .output = log_build,
        .ctx = blog,
    };
    if (job.labels == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    rc = compile_image(lc->cfg.docker, &job, err);
    json_decref(job.labels);
    return rc;
}

/* Builds r's image from the unpacked code in t (which it closes). */
static int build_image(struct lifecycle *lc, const struct deploy_spec *s, struct function_record *r,
                       struct tarbuf *t, const struct code_facts *facts, tf_err *err)
{
    char base[256], builder[256];
    int rc = runtime_ensure_images(lc->cfg.runtimes, facts->rt, lc->cfg.docker, facts->has_deps,
                                   base, builder, sizeof base, err);
    if (rc < 0)
        return rc;
    snprintf(r->image, sizeof r->image, "%s:latest", r->network);
    for (char *p = r->image; *p; p++)
        *p = (char)tolower((unsigned char)*p); /* image references must be lower case */
    struct build_log blog = {.name = r->name};
    const char *command = runtime_compile_command(facts->rt);
    rc = command ? compile_function(lc, s, r, t, builder, command, &blog, err)
                 : build_from_template(lc, s, r, t, facts, base, builder, &blog, err);
    if (rc < 0) {
        r->image[0] = '\0'; /* a failed build tags nothing */
        explain_build(&blog, err);
    }
    return rc;
}

static bool subnet_taken(struct lifecycle *lc, int index)
{
    for (struct function_record *x = lc->records; x != NULL; x = x->next)
        if (x->subnet == index)
            return true;
    return false;
}

/* The function's own network. With a subnet pool, a /25 of it (126 handlers
 * at most, 64 needed): Docker's default pools hold only about 31 networks,
 * fewer than the functions of a busy gateway. Called under the change lock. */
static int create_network(struct lifecycle *lc, const struct deploy_spec *s,
                          struct function_record *r, tf_err *err)
{
    json_t *labels = lifecycle_labels(lc, s->name, r->version);
    char net_id[DOCKER_ID_MAX];
    unsigned a, b, c, d, prefix;
    int rc = -1;
    if (lc->cfg.subnet_pool == NULL) {
        rc = docker_network_create(lc->cfg.docker, r->network, NULL, labels, net_id, err);
    } else if (sscanf(lc->cfg.subnet_pool, "%u.%u.%u.%u/%u", &a, &b, &c, &d, &prefix) == 5 &&
               prefix <= 25) {
        uint32_t base = (a << 24) | (b << 16) | (c << 8) | d, count = 1u << (25 - prefix);
        bool taken = true; /* by a network not ours: the next /25 may be free */
        for (uint32_t i = 0; i < count && taken; i++) {
            if (subnet_taken(lc, (int)i))
                continue;
            uint32_t net = base + (i << 7);
            char subnet[32];
            snprintf(subnet, sizeof subnet, "%u.%u.%u.%u/25", net >> 24, (net >> 16) & 255,
                     (net >> 8) & 255, net & 255);
            tf_err e = {0};
            rc = docker_network_create(lc->cfg.docker, r->network, subnet, labels, net_id, &e);
            if (rc == 0)
                r->subnet = (int)i;
            taken = rc < 0 && e.kind == TF_ERR_CONFLICT;
            if (rc < 0 && !taken)
                tf_err_set(err, e.kind, "%s", e.msg);
        }
        if (taken)
            rc = tf_err_set(err, TF_ERR_UNAVAILABLE, "no free /25 left in the subnet pool %s",
                            lc->cfg.subnet_pool);
    } else {
        tf_err_set(err, TF_ERR_INVALID, "subnet pool '%s' is not A.B.C.D/N with N at most 25",
                   lc->cfg.subnet_pool);
    }
    json_decref(labels);
    return rc;
}

/* How long each step of a deploy took, for the log: where deploy time goes. */
struct deploy_times {
    int64_t build_ms, network_ms, start_ms, ready_ms;
};

/* Builds, starts and publishes version r of a function. */
static int deploy_version(struct lifecycle *lc, const struct deploy_spec *s,
                          struct function_record *r, struct tarbuf *t,
                          const struct code_facts *facts, struct deploy_times *times, tf_err *err)
{
    int64_t t0 = loop_now_ms();
    int rc = build_image(lc, s, r, t, facts, err);
    int64_t t1 = loop_now_ms();
    times->build_ms = t1 - t0;
    if (rc < 0)
        return rc;
    rc = create_network(lc, s, r, err);
    int64_t t2 = loop_now_ms();
    times->network_ms = t2 - t1;
    if (rc < 0) {
        r->network[0] = '\0';
        return rc;
    }
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
    r->version = ++lc->version;
    r->subnet = -1;
    snprintf(r->network, sizeof r->network, "tinyfaas-%s-%s-v%u", lc->cfg.instance_id, s->name,
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

int lifecycle_deploy(struct lifecycle *lc, const struct deploy_spec *s, tf_err *err)
{
    struct tarbuf t = {0};
    struct code_facts facts = {.rt = runtimes_find(lc->cfg.runtimes, s->env)};
    /* Bad input is refused before anything is made, and outside the lock. */
    int rc = validate(lc, s, err);
    if (rc == 0)
        rc = unpack_code(lc, s, &t, &facts, err);
    if (rc < 0) {
        tarbuf_free(&t);
        return rc;
    }
    pthread_mutex_lock(&lc->change_lock);
    if (s->restoring && lifecycle_find_record(lc, s->name) != NULL) {
        pthread_mutex_unlock(&lc->change_lock); /* uploaded anew meanwhile: that one stands */
        tarbuf_free(&t);
        return 0;
    }
    struct function_record *r = new_record(lc, s);
    if (r == NULL) {
        pthread_mutex_unlock(&lc->change_lock);
        tarbuf_free(&t);
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    }
    log_info("function %s: deploying (%s, %d handler(s))", s->name, s->env, r->threads);
    struct deploy_times times = {0};
    rc = deploy_version(lc, s, r, &t, &facts, &times, err);
    tarbuf_free(&t);
    if (rc < 0) {
        log_warn("function %s: deploy failed: %s", s->name, err->msg);
        remove_objects(lc, r);
        record_free(r);
    } else {
        /* The publish has drained the old version's calls: its objects can go. */
        struct function_record *old = swap_record(lc, r, s->name);
        if (old != NULL) {
            remove_objects(lc, old);
            record_free(old);
        }
        log_info("function %s: deployed (image %lld ms, network %lld ms, handlers started "
                 "%lld ms, ready %lld ms)",
                 s->name, (long long)times.build_ms, (long long)times.network_ms,
                 (long long)times.start_ms, (long long)times.ready_ms);
        keep(lc, s);
    }
    pthread_mutex_unlock(&lc->change_lock);
    return rc;
}

static int delete_locked(struct lifecycle *lc, const char *name, tf_err *err)
{
    pthread_mutex_lock(&lc->table_lock);
    struct function_record *r = lifecycle_find_record(lc, name);
    pthread_mutex_unlock(&lc->table_lock);
    if (r == NULL)
        return tf_err_set(err, TF_ERR_NOT_FOUND, "no function named '%.64s'", name);
    tf_err e;
    if (dispatch_unpublish(lc->cfg.dispatcher, name, &e) < 0 && e.kind != TF_ERR_NOT_FOUND)
        log_warn("function %s: unpublish: %s", name, e.msg);
    swap_record(lc, NULL, name);
    if (lc->cfg.state_dir != NULL)
        store_remove(lc->cfg.state_dir, name);
    remove_objects(lc, r);
    record_free(r);
    log_info("function %s: deleted", name);
    return 0;
}

int lifecycle_delete(struct lifecycle *lc, const char *name, tf_err *err)
{
    pthread_mutex_lock(&lc->change_lock);
    int rc = delete_locked(lc, name, err);
    pthread_mutex_unlock(&lc->change_lock);
    return rc;
}

int lifecycle_wipe(struct lifecycle *lc, tf_err *err)
{
    pthread_mutex_lock(&lc->change_lock);
    int rc = 0;
    while (rc == 0 && lc->records != NULL) {
        char name[NAME_MAX_LEN + 1];
        snprintf(name, sizeof name, "%s", lc->records->name);
        rc = delete_locked(lc, name, err);
    }
    pthread_mutex_unlock(&lc->change_lock);
    return rc;
}

static int by_name(const void *a, const void *b)
{
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "name"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "name"));
    return strcmp(x, y);
}

json_t *lifecycle_list(struct lifecycle *lc)
{
    json_t *items[1024];
    size_t n = 0;
    pthread_mutex_lock(&lc->table_lock);
    for (struct function_record *r = lc->records; r != NULL && n < 1024; r = r->next)
        items[n++] =
            json_pack("{s:s, s:s, s:i, s:O, s:I, s:f, s:i, s:i}", "name", r->name, "env", r->env,
                      "threads", r->threads, "envs", r->envs, "memory_mb", (json_int_t)r->memory_mb,
                      "cpus", r->cpus, "timeout_s", r->timeout_s, "concurrency", r->concurrency);
    pthread_mutex_unlock(&lc->table_lock);
    qsort(items, n, sizeof items[0], by_name);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, items[i]);
    return list;
}

struct log_ctx {
    lifecycle_log_fn *fn;
    void *ctx;
    const char *name;
    const char *handler;
};

static void log_line(void *ctx, const char *line, size_t len)
{
    struct log_ctx *l = ctx;
    char *out = NULL;
    int n = asprintf(&out, "function=%s handler=%.12s %.*s", l->name, l->handler, (int)len, line);
    if (n >= 0)
        l->fn(l->ctx, out, (size_t)n);
    free(out);
}

int lifecycle_logs(struct lifecycle *lc, const char *name, double since, bool timestamps,
                   lifecycle_log_fn *fn, void *ctx, tf_err *err)
{
    /* Logs are read under the change lock so a record cannot vanish meanwhile. */
    pthread_mutex_lock(&lc->change_lock);
    int rc = 0;
    if (name != NULL && lifecycle_find_record(lc, name) == NULL) {
        rc = tf_err_set(err, TF_ERR_NOT_FOUND, "no function named '%.64s'", name);
    }
    for (struct function_record *r = lc->records; r != NULL && rc == 0; r = r->next) {
        if (name != NULL && strcmp(name, r->name) != 0)
            continue;
        for (size_t i = 0; i < r->n_containers && rc == 0; i++) {
            struct log_ctx l = {fn, ctx, r->name, r->containers[i]};
            rc = docker_container_logs(lc->cfg.docker, r->containers[i], since, timestamps,
                                       log_line, &l, err);
        }
    }
    pthread_mutex_unlock(&lc->change_lock);
    return rc;
}

void id_list_collect(void *ctx, const char *id, json_t *labels)
{
    (void)labels;
    struct id_list *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        void *ids = realloc(l->ids, cap * sizeof *l->ids);
        if (ids == NULL)
            return;
        l->ids = ids;
        l->cap = cap;
    }
    snprintf(l->ids[l->n++], DOCKER_ID_MAX, "%s", id);
}

bool id_list_has(const struct id_list *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->ids[i], id) == 0)
            return true;
    return false;
}

int lifecycle_remove_all(struct lifecycle *lc, tf_err *err)
{
    char label[128];
    snprintf(label, sizeof label, "%s=%s", LABEL_INSTANCE, lc->cfg.instance_id);
    /* Containers before networks (a network in use cannot go), images last. */
    const enum docker_kind order[] = {DOCKER_CONTAINERS, DOCKER_NETWORKS, DOCKER_IMAGES};
    int rc = 0;
    for (size_t k = 0; k < 3; k++) {
        struct id_list l = {0};
        if (docker_list(lc->cfg.docker, order[k], label, id_list_collect, &l, err) < 0)
            rc = -EIO;
        if (sweep_remove(lc->cfg.docker, order[k], l.ids, l.n, err) < 0)
            rc = -EIO;
        free(l.ids);
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
