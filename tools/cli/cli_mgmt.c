/* The management API's calls: each one request with the token, the answer
 * printed as the daemon wrote it. */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli.h"

int cli_mgmt_request(const struct cli_config *cfg, const struct cli_mgmt_call *call,
                     struct cli_answer *a, struct cli_err *e)
{
    char *url = cli_url_mgmt(cfg, call->path, call->query, e);
    char *body = call->json != NULL ? json_dumps(call->json, JSON_COMPACT) : NULL;
    int rc = -1;
    if (url == NULL)
        goto out;
    if (call->json != NULL && body == NULL) {
        cli_err_set(e, "out of memory");
        goto out;
    }
    /* The daemon reads any body as JSON; the type is said for proxies and logs. */
    const char *headers[] = {call->json != NULL ? "Content-Type: application/json" : NULL, NULL,
                             NULL};
    if (call->want_json)
        headers[call->json != NULL ? 1 : 0] = "Accept: application/json";
    struct cli_request rq = {.url = url,
                             .post = call->post,
                             .body = body,
                             .body_len = body != NULL ? strlen(body) : 0,
                             .headers = headers,
                             .bearer = cfg->token,
                             .tick = call->tick,
                             .tick_ctx = call->tick_ctx};
    rc = cli_http_send(&rq, a, e);
out:
    free(body);
    curl_free(url);
    return rc;
}

int cli_mgmt_run(const struct cli_config *cfg, const struct cli_mgmt_call *call)
{
    struct cli_answer a;
    struct cli_err e;
    if (cli_mgmt_request(cfg, call, &a, &e) < 0)
        return cli_report(&e);
    int rc = cli_answer_print(&a);
    cli_answer_free(&a);
    return rc;
}

int cli_list(const struct cli_config *cfg, bool json)
{
    struct cli_mgmt_call call = {.path = "/list", .want_json = json};
    return cli_mgmt_run(cfg, &call);
}

/* POSTs json (which it takes) to path; jansson gives NULL for a string
 * that is not UTF-8, the only way building these bodies fails. */
static int post_json(const struct cli_config *cfg, const char *path, json_t *json)
{
    if (json == NULL)
        return cli_report(&(struct cli_err){"the name must be UTF-8"});
    struct cli_mgmt_call call = {.post = true, .path = path, .json = json};
    int rc = cli_mgmt_run(cfg, &call);
    json_decref(json);
    return rc;
}

int cli_delete(const struct cli_config *cfg, const char *name)
{
    return post_json(cfg, "/delete", json_pack("{s:s}", "name", name));
}

int cli_wipe(const struct cli_config *cfg)
{
    struct cli_mgmt_call call = {.post = true, .path = "/wipe"};
    return cli_mgmt_run(cfg, &call);
}

int cli_scale(const struct cli_config *cfg, const char *name, long long threads)
{
    return post_json(cfg, "/scale",
                     json_pack("{s:s, s:I}", "name", name, "threads", (json_int_t)threads));
}
