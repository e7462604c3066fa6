/* What the management API shows of the functions: the list and the logs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lifecycle_internal.h"

json_t *lifecycle_list(struct lifecycle *lc)
{
    json_t *list = json_array();
    pthread_mutex_lock(&lc->table_lock);
    for (struct function_record *r = lc->records; r != NULL && list != NULL; r = r->next)
        json_array_append_new(list,
                              json_pack("{s:s, s:s, s:i, s:O, s:I, s:f, s:i, s:i}", "name", r->name,
                                        "env", r->env, "threads", r->threads, "envs", r->envs,
                                        "memory_mb", (json_int_t)r->memory_mb, "cpus", r->cpus,
                                        "timeout_s", r->timeout_s, "concurrency", r->concurrency));
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
