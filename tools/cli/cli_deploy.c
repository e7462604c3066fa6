/* deploy: a folder zipped and POSTed to /upload with its settings; the
 * answer is the function's invocation URLs. */
#include <stdlib.h>

#include "cli.h"

/* {"name","env","threads","zip","envs":[...]}, plus the limits when given. */
static json_t *upload_body(const struct cli_deploy_opts *o, const char *zip)
{
    json_t *envs = json_array();
    for (size_t i = 0; envs != NULL && i < o->n_env_vars; i++)
        if (json_array_append_new(envs, json_string(o->env_vars[i])) < 0) {
            json_decref(envs);
            envs = NULL;
        }
    json_t *body = json_pack("{s:s, s:s, s:I, s:s, s:o}", "name", o->name, "env", o->env, "threads",
                             (json_int_t)o->threads, "zip", zip, "envs", envs);
    if (body == NULL)
        return NULL;
    if ((o->has_memory_mb &&
         json_object_set_new(body, "memory_mb", json_integer((json_int_t)o->memory_mb)) < 0) ||
        (o->has_cpus && json_object_set_new(body, "cpus", json_real(o->cpus)) < 0) ||
        (o->has_timeout_s &&
         json_object_set_new(body, "timeout_s", json_integer((json_int_t)o->timeout_s)) < 0)) {
        json_decref(body);
        return NULL;
    }
    return body;
}

int cli_deploy(const struct cli_config *cfg, const struct cli_deploy_opts *o)
{
    struct cli_err e;
    char *zip = cli_zip_base64(o->dir, &e);
    if (zip == NULL)
        return cli_report(&e);
    struct cli_progress progress;
    struct cli_answer a;
    struct cli_mgmt_call call = {.post = true,
                                 .path = "/upload",
                                 .json = upload_body(o, zip),
                                 .tick = cli_progress_tick,
                                 .tick_ctx = &progress};
    free(zip);
    if (call.json == NULL)
        return cli_report(&(struct cli_err){"name, env and env vars must be UTF-8"});
    cli_progress_start(&progress, o->name);
    int rc = cli_mgmt_request(cfg, &call, &a, &e);
    cli_progress_clear(&progress);
    json_decref(call.json);
    if (rc < 0)
        return cli_report(&e);
    rc = cli_answer_print(&a);
    cli_answer_free(&a);
    return rc;
}
