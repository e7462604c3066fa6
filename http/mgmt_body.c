#include "mgmt_body.h"

#include <stdlib.h>

json_t *mgmt_body_parse(const char *body, size_t len, tf_err *e)
{
    json_error_t je;
    json_t *j = json_loadb(body != NULL ? body : "", len, 0, &je);
    if (j == NULL)
        tf_err_set(e, TF_ERR_INVALID, "invalid JSON: %s (line %d)", je.text, je.line);
    else if (!json_is_object(j)) {
        json_decref(j);
        j = NULL;
        tf_err_set(e, TF_ERR_INVALID, "the body must be a JSON object");
    }
    return j;
}

int mgmt_body_string(json_t *o, const char *key, bool required, const char **out, tf_err *e)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return required ? tf_err_set(e, TF_ERR_INVALID, "missing \"%s\"", key) : 0;
    if (!json_is_string(v))
        return tf_err_set(e, TF_ERR_INVALID, "\"%s\" must be a string", key);
    *out = json_string_value(v);
    return 0;
}

int mgmt_body_threads(json_t *o, long long *out, tf_err *e)
{
    json_t *v = json_object_get(o, "threads");
    if (v == NULL || json_is_null(v)) {
        *out = 1;
        return 0;
    }
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    /* Scripts that quote every value send "3": take it, as tinyFaaS did. */
    char *end;
    if (json_is_string(v) && (*out = strtoll(json_string_value(v), &end, 10), *end == '\0') &&
        json_string_length(v) > 0)
        return 0;
    return tf_err_set(e, TF_ERR_INVALID, "\"threads\" must be a whole number");
}

/* An optional number: missing or null leaves *out as it is. */
static int get_number(json_t *o, const char *key, double *out, tf_err *e)
{
    json_t *v = json_object_get(o, key);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_number(v))
        return tf_err_set(e, TF_ERR_INVALID, "\"%s\" must be a number", key);
    *out = json_number_value(v);
    return 0;
}

/* The optional limits of an upload: memory_mb (whole MiB), cpus, timeout_s. */
static int get_limits(json_t *o, struct deploy_spec *s, tf_err *e)
{
    double mb = 0, timeout = 0, concurrency = 0;
    if (get_number(o, "memory_mb", &mb, e) < 0 || get_number(o, "cpus", &s->cpus, e) < 0 ||
        get_number(o, "timeout_s", &timeout, e) < 0 ||
        get_number(o, "concurrency", &concurrency, e) < 0)
        return -1;
    if (concurrency < 0 || concurrency > 1e9 || concurrency != (double)(long long)concurrency)
        return tf_err_set(e, TF_ERR_INVALID, "\"concurrency\" must be a whole number, at most 256");
    s->concurrency = (long long)concurrency;
    if (timeout < 0 || timeout > 1e9 || timeout != (double)(long long)timeout)
        return tf_err_set(e, TF_ERR_INVALID,
                          "\"timeout_s\" must be a whole number of seconds, at most 3600");
    s->timeout_s = (long long)timeout;
    /* Range first: a cast of a huge double is undefined; the lifecycle
     * checks the real bounds. */
    if (mb < 0 || mb > 1e9 || mb != (double)(long long)mb)
        return tf_err_set(e, TF_ERR_INVALID,
                          "\"memory_mb\" must be a whole number of MiB, at most 65536");
    s->memory_mb = (long long)mb;
    return 0;
}

/* An optional array of at most max strings, such as "envs" (KEY=VALUE)
 * or "constraints"; what shape says what each must be like. */
static int get_strings(json_t *o, const char *key, const char *shape, const char **out, size_t max,
                       size_t *n, tf_err *e)
{
    json_t *v = json_object_get(o, key);
    *n = 0;
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_array(v))
        return tf_err_set(e, TF_ERR_INVALID, "\"%s\" must be an array of %s strings", key, shape);
    if (json_array_size(v) > max)
        return tf_err_set(e, TF_ERR_INVALID, "\"%s\" has more than %zu entries", key, max);
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        if (!json_is_string(item))
            return tf_err_set(e, TF_ERR_INVALID, "\"%s\" must be an array of %s strings", key,
                              shape);
        out[(*n)++] = json_string_value(item);
    }
    return 0;
}

int mgmt_upload_parse(const char *body, size_t len, bool from_url, struct mgmt_upload *u, tf_err *e)
{
    *u = (struct mgmt_upload){.spec = {.envs = u->envs, .constraints = u->constraints}};
    json_t *j = u->json = mgmt_body_parse(body, len, e);
    struct deploy_spec *s = &u->spec;
    if (j == NULL || mgmt_body_string(j, "name", true, &s->name, e) < 0 ||
        mgmt_body_string(j, "env", true, &s->env, e) < 0 ||
        mgmt_body_threads(j, &s->threads, e) < 0 ||
        get_strings(j, "envs", "\"KEY=VALUE\"", u->envs, MGMT_MAX_ENVS, &s->n_envs, e) < 0 ||
        get_strings(j, "constraints", "\"NAME==VALUE\"", u->constraints, LIFECYCLE_CONSTRAINTS_MAX,
                    &s->n_constraints, e) < 0 ||
        get_limits(j, s, e) < 0 ||
        mgmt_body_string(j, from_url ? "url" : "zip", true, &u->code, e) < 0 ||
        (from_url && mgmt_body_string(j, "subfolder_path", false, &s->subfolder, e) < 0))
        return -1;
    return 0;
}

void mgmt_upload_free(struct mgmt_upload *u)
{
    json_decref(u->json);
    u->json = NULL;
}
