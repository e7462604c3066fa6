/* A deploy's spec checked before anything is made: names, env, limits. */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>

#include "lifecycle_internal.h"
#include "names.h"
#include "runtimes.h"

/* KEY=VALUE with KEY a shell variable name. */
static bool env_entry_valid(const char *kv)
{
    const char *eq = strchr(kv, '=');
    if (eq == NULL || eq == kv)
        return false;
    for (const char *p = kv; p < eq; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_'))
            return false;
    return !isdigit((unsigned char)kv[0]);
}

/* Per handler container: below 16 MiB no runtime starts; the CPU bound is
 * the engine's own (a fraction of the host's CPUs). */
#define MIN_MEMORY_MB   16
#define MAX_MEMORY_MB   65536
#define MAX_CPUS        256
#define MAX_TIMEOUT_S   3600
#define MAX_CONCURRENCY 256 /* the shim takes no more in flight per connection */

/* A placement constraint as Swarm reads it: "node.labels.site==north",
 * "node.role!=manager"; Swarm itself tells which names it knows. */
static bool constraint_valid(const char *c)
{
    size_t n = strlen(c);
    if (n < 4 || n > 256 || (strstr(c, "==") == NULL && strstr(c, "!=") == NULL))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)c[i] < 0x20 || c[i] == 0x7f)
            return false;
    return true;
}

static int validate_constraints(const struct deploy_spec *s, tf_err *err)
{
    if (s->n_constraints > LIFECYCLE_CONSTRAINTS_MAX)
        return tf_err_set(err, TF_ERR_INVALID, "at most %d constraints, not %zu",
                          LIFECYCLE_CONSTRAINTS_MAX, s->n_constraints);
    for (size_t i = 0; i < s->n_constraints; i++)
        if (!constraint_valid(s->constraints[i]))
            return tf_err_set(err, TF_ERR_INVALID,
                              "constraint '%.60s' is not NAME==VALUE or NAME!=VALUE",
                              s->constraints[i]);
    return 0;
}

int lifecycle_validate(const struct lifecycle *lc, const struct deploy_spec *s, tf_err *err)
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
    if (s->n_constraints > 0 && !lc->cfg.swarm)
        return tf_err_set(err, TF_ERR_INVALID,
                          "constraints place Swarm services: this daemon runs on one engine "
                          "(--backend docker)");
    return validate_constraints(s, err);
}
