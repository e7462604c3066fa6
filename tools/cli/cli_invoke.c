/* invoke: a function called with a body, over HTTP (libcurl) or CoAP, its
 * answer's exact bytes on stdout. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli.h"

/* Longest wait for a function's answer, whichever the transport. */
#define INVOKE_TIMEOUT_S 60

/* FILE's exact bytes in *out (malloc'd, NULL when empty). */
static int read_file(const char *path, char **out, size_t *len, struct cli_err *e)
{
    FILE *in = fopen(path, "rb");
    if (in == NULL)
        return cli_err_set(e, "%s: %s", path, strerror(errno));
    FILE *mem = open_memstream(out, len);
    char buf[16384];
    size_t n;
    int rc = mem != NULL ? 0 : cli_err_set(e, "out of memory");
    while (rc == 0 && (n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, mem) != n)
            rc = cli_err_set(e, "out of memory");
    if (rc == 0 && ferror(in))
        rc = cli_err_set(e, "%s: %s", path, strerror(errno));
    fclose(in);
    if (mem != NULL && fclose(mem) != 0 && rc == 0)
        rc = cli_err_set(e, "out of memory");
    if (rc < 0) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

/* -d DATA: those bytes; -d @FILE: the file's; no -d: an empty body. */
static int load_body(const char *data, char **owned, const char **body, size_t *len,
                     struct cli_err *e)
{
    *owned = NULL;
    *body = data != NULL ? data : "";
    *len = strlen(*body);
    if (data == NULL || data[0] != '@')
        return 0;
    if (read_file(data + 1, owned, len, e) < 0)
        return -1;
    *body = *owned != NULL ? *owned : "";
    return 0;
}

static int invoke_http(const struct cli_config *cfg, const struct cli_invoke_opts *o,
                       const char *body, size_t len, struct cli_answer *a, struct cli_err *e)
{
    char *url = cli_url_function(cfg, o->name, e);
    if (url == NULL)
        return -1;
    /* An empty Content-Type drops libcurl's form type: the body is opaque. */
    const char *headers[] = {"Content-Type:", o->async ? "X-tinyFaaS-Async: true" : NULL, NULL};
    struct cli_request rq = {.url = url,
                             .post = true,
                             .body = body,
                             .body_len = len,
                             .headers = headers,
                             .timeout_s = INVOKE_TIMEOUT_S};
    int rc = cli_http_send(&rq, a, e);
    curl_free(url);
    return rc;
}

static int invoke_coap(const struct cli_config *cfg, const struct cli_invoke_opts *o,
                       const char *body, size_t len, struct cli_answer *a, struct cli_err *e)
{
    char host[256];
    if (cli_url_host(cfg, host, sizeof host, e) < 0)
        return -1;
    return cli_coap_call(host, cfg->coap_port, o->name, body, len, o->async, INVOKE_TIMEOUT_S, a,
                         e);
}

int cli_invoke(const struct cli_config *cfg, const struct cli_invoke_opts *o)
{
    struct cli_err e;
    struct cli_answer a;
    char *owned;
    const char *body;
    size_t len;
    if (load_body(o->data, &owned, &body, &len, &e) < 0)
        return cli_report(&e);
    int rc =
        o->coap ? invoke_coap(cfg, o, body, len, &a, &e) : invoke_http(cfg, o, body, len, &a, &e);
    free(owned);
    if (rc < 0)
        return cli_report(&e);
    rc = cli_answer_print(&a);
    cli_answer_free(&a);
    return rc;
}
