/* tinyfaas-cli: the operator's client. Management calls go to the daemon's
 * management API over libcurl; invocations go over HTTP (libcurl) or CoAP
 * (libcoap). Each file owns one concern; this header is what they share.
 *
 * Errors: a function that can fail returns 0 (or a pointer) on success and
 * -1 (or NULL) on failure, with the one-line reason in a struct cli_err.
 * Commands return the process's exit status (enum cli_exit). */
#ifndef TINYFAAS_CLI_H
#define TINYFAAS_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

enum cli_exit {
    CLI_EXIT_OK = 0,    /* the daemon said 2xx / 2.xx */
    CLI_EXIT_FAIL = 1,  /* the daemon refused, or could not be reached */
    CLI_EXIT_USAGE = 2, /* the command line was wrong */
};

/* --- errors and reports (cli_report.c) -------------------------------------- */

struct cli_err {
    char msg[1024]; /* one line, no trailing newline */
};

/* Records a printf-style reason in e; returns -1. */
int cli_err_set(struct cli_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "tinyfaas-cli: REASON" on stderr; returns CLI_EXIT_FAIL. */
int cli_report(const struct cli_err *e);

/* --- settings from the environment (cli_main.c reads them) -------------- */

struct cli_config {
    const char *url;       /* TINYFAAS_URL: the management API's base URL */
    const char *token;     /* TINYFAAS_TOKEN; NULL: none sent */
    const char *http_port; /* TINYFAAS_HTTP_PORT, digits only */
    const char *coap_port; /* TINYFAAS_COAP_PORT, digits only */
};

/* --- URLs derived from TINYFAAS_URL (cli_url.c) --------------------------- */

/* The management URL for path ("/list"), with the NULL-terminated query
 * items "key=value" appended, each value URL-encoded. Free with curl_free(). */
char *cli_url_mgmt(const struct cli_config *cfg, const char *path, const char *const *query,
                   struct cli_err *e);

/* http://HOST:HTTP_PORT/NAME, HOST being TINYFAAS_URL's. Free with curl_free(). */
char *cli_url_function(const struct cli_config *cfg, const char *name, struct cli_err *e);

/* TINYFAAS_URL's host, without the brackets of an IPv6 literal. */
int cli_url_host(const struct cli_config *cfg, char *host, size_t size, struct cli_err *e);

/* --- an answer from the daemon, HTTP or CoAP (cli_report.c) --------------- */

struct cli_answer {
    bool ok;         /* HTTP 2xx or CoAP 2.xx */
    char status[16]; /* as the user knows it: "404" or "4.04" */
    char phrase[64]; /* the protocol's standard reason, used when the body is empty */
    char *body;      /* malloc'd; NULL when empty */
    size_t len;
};

/* On success writes the body's exact bytes to stdout and returns
 * CLI_EXIT_OK; otherwise prints "tinyfaas-cli: STATUS: REASON" on stderr,
 * REASON being the body without its trailing newlines, and returns
 * CLI_EXIT_FAIL. */
int cli_answer_print(const struct cli_answer *a);

/* Frees the body; the answer may be reused. */
void cli_answer_free(struct cli_answer *a);

/* --- one HTTP request over libcurl (cli_http.c) --------------------------- */

/* Called about once a second while a request runs; non-zero aborts it. */
typedef int cli_tick_fn(void *ctx);

struct cli_request {
    const char *url;
    bool post;        /* POST with body (may be empty); else GET */
    const void *body; /* POST body, body_len bytes */
    size_t body_len;
    const char *const *headers; /* NULL-terminated "Name: value" lines, or NULL */
    const char *bearer;         /* sent as "Authorization: Bearer ..." when set */
    long timeout_s;             /* whole request; 0: no limit */
    cli_tick_fn *tick;          /* NULL: none */
    void *tick_ctx;
};

/* Sends the request and collects the answer; -1 (libcurl's reason in e)
 * when no answer came. */
int cli_http_send(const struct cli_request *rq, struct cli_answer *a, struct cli_err *e);

/* --- management calls (cli_mgmt.c) ---------------------------------------- */

struct cli_mgmt_call {
    bool post;
    const char *path;         /* "/list" */
    const char *const *query; /* NULL-terminated "key=value" items, or NULL */
    json_t *json;             /* POST body, or NULL: empty */
    bool want_json;           /* Accept: application/json */
    cli_tick_fn *tick;        /* NULL: none */
    void *tick_ctx;
};

/* Sends a management call with the token; the answer is the caller's. */
int cli_mgmt_request(const struct cli_config *cfg, const struct cli_mgmt_call *call,
                     struct cli_answer *a, struct cli_err *e);

/* Sends a management call and prints its answer; returns the exit status. */
int cli_mgmt_run(const struct cli_config *cfg, const struct cli_mgmt_call *call);

int cli_list(const struct cli_config *cfg, bool json);
int cli_delete(const struct cli_config *cfg, const char *name);
int cli_wipe(const struct cli_config *cfg);
int cli_scale(const struct cli_config *cfg, const char *name, long long threads);

/* --- logs, once or followed (cli_logs.c) ---------------------------------- */

/* name NULL: every function's. follow: poll until SIGINT, which exits 0. */
int cli_logs(const struct cli_config *cfg, const char *name, bool follow);

/* --- deploy (cli_deploy.c, cli_zip.c, cli_progress.c) --------------------- */

struct cli_deploy_opts {
    const char *dir, *name, *env;
    long long threads;
    const char **env_vars; /* "K=V" */
    size_t n_env_vars;
    bool has_memory_mb, has_cpus, has_timeout_s;
    long long memory_mb, timeout_s;
    double cpus;
};

int cli_deploy(const struct cli_config *cfg, const struct cli_deploy_opts *o);

/* The contents of dir as a zip (entries relative to dir), base64-encoded,
 * NUL-terminated; free() it. NULL on error. */
char *cli_zip_base64(const char *dir, struct cli_err *e);

/* "deploying NAME: 3 s" on stderr, rewritten in place, when it is a terminal. */
struct cli_progress {
    const char *name;
    bool on;            /* stderr is a terminal */
    long long start_ms; /* monotonic */
    long long shown;    /* seconds last shown; -1: nothing yet */
    int width;          /* characters on the line now */
};

void cli_progress_start(struct cli_progress *p, const char *name);
/* A cli_tick_fn: updates the line when a second has passed; never aborts. */
int cli_progress_tick(void *progress);
/* Blanks the line, so what follows starts on a clean one. */
void cli_progress_clear(struct cli_progress *p);

/* --- invocation (cli_invoke.c, cli_coap.c) -------------------------------- */

struct cli_invoke_opts {
    const char *name;
    bool coap;        /* else HTTP */
    const char *data; /* NULL: empty body; "@FILE": that file's bytes */
    bool async;
};

int cli_invoke(const struct cli_config *cfg, const struct cli_invoke_opts *o);

/* A confirmable CoAP POST to coap://host:port/name, block-wise when large;
 * waits at most timeout_s for the answer. -1 (libcoap's reason in e) when
 * none came. */
int cli_coap_call(const char *host, const char *port, const char *name, const void *body,
                  size_t len, bool async, int timeout_s, struct cli_answer *a, struct cli_err *e);

/* --- clocks (cli_time.c) -------------------------------------------------- */

/* Milliseconds on the monotonic clock. */
long long cli_now_ms(void);

/* The UNIX time now, with microseconds: "1764180000.123456". */
void cli_unix_time(char *buf, size_t size);

#endif
