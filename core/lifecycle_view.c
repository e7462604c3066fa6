/* What the management API shows of the functions: the list and the logs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lifecycle_internal.h"

/* Where r's replicas run: [{"node", "task", "address"}]. */
static json_t *replicas(const struct function_record *r)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < r->n_replicas; i++) {
        char where[80];
        snprintf(where, sizeof where, "%s:%u", r->replicas[i].ep.host, r->replicas[i].ep.port);
        json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "node", r->replicas[i].node, "task",
                                           r->replicas[i].task, "address", where));
    }
    return a;
}

json_t *lifecycle_list(struct lifecycle *lc)
{
    json_t *list = json_array();
    pthread_mutex_lock(&lc->table_lock);
    for (struct function_record *r = lc->records; r != NULL && list != NULL; r = r->next) {
        json_t *fn = json_pack("{s:s, s:s, s:i, s:O, s:I, s:f, s:i, s:i, s:O}", "name", r->name,
                               "env", r->env, "threads", r->threads, "envs", r->envs, "memory_mb",
                               (json_int_t)r->memory_mb, "cpus", r->cpus, "timeout_s", r->timeout_s,
                               "concurrency", r->concurrency, "constraints", r->constraints);
        if (fn != NULL && lc->cfg.swarm)
            json_object_set_new(fn, "replicas", replicas(r));
        json_array_append_new(list, fn);
    }
    pthread_mutex_unlock(&lc->table_lock);
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

/* The handlers whose logs are read: copied, so no lock is held while the
 * engine answers. A handler removed meanwhile has no logs to give. */
struct log_source {
    char name[NAME_MAX_LEN + 1];
    char container[DOCKER_ID_MAX];
    char service[DOCKER_ID_MAX]; /* on Swarm: every replica's output */
};

static struct log_source *log_sources(struct lifecycle *lc, const char *name, size_t *n,
                                      bool *known)
{
    pthread_mutex_lock(&lc->table_lock);
    size_t count = 0;
    for (struct function_record *r = lc->records; r != NULL; r = r->next)
        if (name == NULL || strcmp(name, r->name) == 0)
            count += r->n_containers + 1;
    struct log_source *src = calloc(count ? count : 1, sizeof *src);
    *n = 0;
    for (struct function_record *r = lc->records; r != NULL && src != NULL; r = r->next) {
        if (lc->cfg.swarm && (name == NULL || strcmp(name, r->name) == 0)) {
            memcpy(src[*n].name, r->name, sizeof src[*n].name);
            memcpy(src[*n].service, r->service, sizeof src[*n].service);
            (*n)++;
            continue;
        }
        for (size_t i = 0; i < r->n_containers && (name == NULL || strcmp(name, r->name) == 0);
             i++) {
            memcpy(src[*n].name, r->name, sizeof src[*n].name);
            memcpy(src[*n].container, r->containers[i], sizeof src[*n].container);
            (*n)++;
        }
    }
    *known = name == NULL || lifecycle_find_record(lc, name) != NULL;
    pthread_mutex_unlock(&lc->table_lock);
    return src;
}

int lifecycle_logs(struct lifecycle *lc, const char *name, double since, bool timestamps,
                   lifecycle_log_fn *fn, void *ctx, tf_err *err)
{
    size_t n = 0;
    bool known = false;
    struct log_source *src = log_sources(lc, name, &n, &known);
    int rc = 0;
    if (!known)
        rc = tf_err_set(err, TF_ERR_NOT_FOUND, "no function named '%.64s'", name);
    else if (src == NULL)
        rc = tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct log_ctx l = {fn, ctx, src[i].name, src[i].container};
        tf_err e = {0};
        if (src[i].service[0] != '\0')
            rc = lifecycle_swarm_logs(lc, src[i].name, src[i].service, since, timestamps, fn, ctx,
                                      &e);
        else if (src[i].container[0] != '\0')
            rc = docker_container_logs(lc->cfg.docker, src[i].container, since, timestamps,
                                       log_line, &l, &e);
        if (rc < 0 && e.kind == TF_ERR_NOT_FOUND)
            rc = 0; /* removed since it was listed */
        else if (rc < 0)
            tf_err_set(err, e.kind, "%s", e.msg);
    }
    free(src);
    return rc;
}
