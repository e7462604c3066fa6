/* tinyfaas-cli: the command line, the environment, and dispatch to the
 * command that does the work. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli.h"

static const char usage_text[] =
    "usage: tinyfaas-cli COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  deploy DIR --name N --env E [--threads N] [--env-var K=V]...\n"
    "         [--memory-mb M] [--cpus C] [--timeout-s S]\n"
    "                                        zip DIR's contents and deploy them as N\n"
    "  list [--json]                         the deployed functions\n"
    "  delete N                              remove function N\n"
    "  wipe                                  remove every function\n"
    "  logs [N] [--follow]                   handler output (--follow: until Ctrl-C)\n"
    "  scale N THREADS                       run N on THREADS handler containers\n"
    "  invoke N [--http | --coap] [-d DATA | -d @FILE] [--async]\n"
    "                                        call N; its answer's bytes on stdout\n"
    "\n"
    "environment:\n"
    "  TINYFAAS_URL        management API (default http://127.0.0.1:8080)\n"
    "  TINYFAAS_TOKEN      management token, sent as 'Authorization: Bearer TOKEN'\n"
    "                      (unset: the one in $TINYFAAS_STATE_DIR or ./tinyfaas-state)\n"
    "  TINYFAAS_HTTP_PORT  HTTP invocation port on TINYFAAS_URL's host (default 5683)\n"
    "  TINYFAAS_COAP_PORT  CoAP invocation port on TINYFAAS_URL's host (default 5683)\n"
    "\n"
    "exit status: 0 success, 1 failure (the reason on stderr), 2 bad usage\n";

static int usage_error(void)
{
    fputs(usage_text, stderr);
    return CLI_EXIT_USAGE;
}

/* A whole decimal number, nothing around it. */
static bool parse_ll(const char *s, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return false;
    *out = v;
    return true;
}

static bool parse_double(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0')
        return false;
    *out = v;
    return true;
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != '\0' ? v : fallback;
}

static bool valid_port(const char *name, const char *value)
{
    long long port;
    if (parse_ll(value, &port) && port > 0 && port < 65536)
        return true;
    fprintf(stderr, "tinyfaas-cli: %s: '%s' is not a port\n", name, value);
    return false;
}

/* The token a daemon made in its state dir, as the scripts find it: where
 * TINYFAAS_STATE_DIR says, else ./tinyfaas-state. NULL when unreadable. */
static const char *state_dir_token(void)
{
    static char token[300];
    char path[1024];
    snprintf(path, sizeof path, "%s/token", env_or("TINYFAAS_STATE_DIR", "./tinyfaas-state"));
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    bool got = fgets(token, sizeof token, f) != NULL;
    fclose(f);
    token[strcspn(token, " \t\r\n")] = '\0';
    return got && token[0] != '\0' ? token : NULL;
}

static bool read_config(struct cli_config *cfg)
{
    cfg->url = env_or("TINYFAAS_URL", "http://127.0.0.1:8080");
    cfg->token = env_or("TINYFAAS_TOKEN", NULL);
    if (cfg->token == NULL)
        cfg->token = state_dir_token();
    cfg->http_port = env_or("TINYFAAS_HTTP_PORT", "5683");
    cfg->coap_port = env_or("TINYFAAS_COAP_PORT", "5683");
    return valid_port("TINYFAAS_HTTP_PORT", cfg->http_port) &&
           valid_port("TINYFAAS_COAP_PORT", cfg->coap_port);
}

/* Options of every command; each command refuses those not its own. */
enum opt {
    OPT_HELP = 'h',
    OPT_DATA = 'd',
    OPT_NAME = 256,
    OPT_ENV,
    OPT_THREADS,
    OPT_ENV_VAR,
    OPT_MEMORY_MB,
    OPT_CPUS,
    OPT_TIMEOUT_S,
    OPT_JSON,
    OPT_FOLLOW,
    OPT_HTTP,
    OPT_COAP,
    OPT_ASYNC,
};

static const struct option long_options[] = {
    {"help", no_argument, NULL, OPT_HELP},
    {"data", required_argument, NULL, OPT_DATA},
    {"name", required_argument, NULL, OPT_NAME},
    {"env", required_argument, NULL, OPT_ENV},
    {"threads", required_argument, NULL, OPT_THREADS},
    {"env-var", required_argument, NULL, OPT_ENV_VAR},
    {"memory-mb", required_argument, NULL, OPT_MEMORY_MB},
    {"cpus", required_argument, NULL, OPT_CPUS},
    {"timeout-s", required_argument, NULL, OPT_TIMEOUT_S},
    {"json", no_argument, NULL, OPT_JSON},
    {"follow", no_argument, NULL, OPT_FOLLOW},
    {"http", no_argument, NULL, OPT_HTTP},
    {"coap", no_argument, NULL, OPT_COAP},
    {"async", no_argument, NULL, OPT_ASYNC},
    {NULL, 0, NULL, 0},
};

/* The command line after the command's name, options sorted from operands. */
struct cmdline {
    unsigned seen; /* opt_bit() of each option given */
    bool help;
    const char *name, *env, *data;
    long long threads, memory_mb, timeout_s;
    double cpus;
    bool has_threads, has_memory_mb, has_cpus, has_timeout_s, json, follow, http, coap, async;
    const char **env_vars;
    size_t n_env_vars;
    char **operands;
    int n_operands;
};

static unsigned opt_bit(int opt)
{
    return opt == OPT_HELP ? 1u : opt == OPT_DATA ? 2u : 4u << (opt - OPT_NAME);
}

static bool take_option(struct cmdline *c, int opt, const char *arg)
{
    c->seen |= opt_bit(opt);
    switch (opt) {
    case OPT_HELP: c->help = true; return true;
    case OPT_DATA: c->data = arg; return true;
    case OPT_NAME: c->name = arg; return true;
    case OPT_ENV: c->env = arg; return true;
    case OPT_ENV_VAR: c->env_vars[c->n_env_vars++] = arg; return true;
    case OPT_JSON: c->json = true; return true;
    case OPT_FOLLOW: c->follow = true; return true;
    case OPT_HTTP: c->http = true; return true;
    case OPT_COAP: c->coap = true; return true;
    case OPT_ASYNC: c->async = true; return true;
    case OPT_THREADS: return c->has_threads = parse_ll(arg, &c->threads);
    case OPT_MEMORY_MB: return c->has_memory_mb = parse_ll(arg, &c->memory_mb);
    case OPT_CPUS: return c->has_cpus = parse_double(arg, &c->cpus);
    case OPT_TIMEOUT_S: return c->has_timeout_s = parse_ll(arg, &c->timeout_s);
    default: return false;
    }
}

/* getopt_long over argv[0..argc), argv[0] being the command's name; GNU
 * getopt moves operands after the options, so they may come in any order. */
static bool parse_cmdline(int argc, char **argv, struct cmdline *c)
{
    c->env_vars = calloc((size_t)argc, sizeof *c->env_vars);
    if (c->env_vars == NULL)
        return false;
    optind = 1;
    int opt;
    while ((opt = getopt_long(argc, argv, "hd:", long_options, NULL)) != -1) {
        if (opt == '?') /* getopt has said what is wrong */
            return false;
        if (!take_option(c, opt, optarg)) {
            fprintf(stderr, "tinyfaas-cli %s: bad value '%s'\n", argv[0], optarg);
            return false;
        }
    }
    c->operands = argv + optind;
    c->n_operands = argc - optind;
    return true;
}

/* No option was given but those listed (and --help). */
static bool only_options(const struct cmdline *c, const enum opt *allowed, size_t n)
{
    unsigned mask = opt_bit(OPT_HELP);
    for (size_t i = 0; i < n; i++)
        mask |= opt_bit(allowed[i]);
    return (c->seen & ~mask) == 0;
}

#define ONLY(c, ...)                                                                               \
    only_options(c, (const enum opt[]){__VA_ARGS__},                                               \
                 sizeof((const enum opt[]){__VA_ARGS__}) / sizeof(enum opt))
#define NO_OPTIONS(c) ONLY(c, OPT_HELP)

static int run_deploy(const struct cli_config *cfg, const struct cmdline *c)
{
    if (c->n_operands != 1 || c->name == NULL || c->env == NULL ||
        !ONLY(c, OPT_NAME, OPT_ENV, OPT_THREADS, OPT_ENV_VAR, OPT_MEMORY_MB, OPT_CPUS,
              OPT_TIMEOUT_S))
        return usage_error();
    struct cli_deploy_opts o = {.dir = c->operands[0],
                                .name = c->name,
                                .env = c->env,
                                .threads = c->has_threads ? c->threads : 1,
                                .env_vars = c->env_vars,
                                .n_env_vars = c->n_env_vars,
                                .has_memory_mb = c->has_memory_mb,
                                .memory_mb = c->memory_mb,
                                .has_cpus = c->has_cpus,
                                .cpus = c->cpus,
                                .has_timeout_s = c->has_timeout_s,
                                .timeout_s = c->timeout_s};
    return cli_deploy(cfg, &o);
}

static int run_invoke(const struct cli_config *cfg, const struct cmdline *c)
{
    if (c->n_operands != 1 || (c->http && c->coap) ||
        !ONLY(c, OPT_HTTP, OPT_COAP, OPT_DATA, OPT_ASYNC))
        return usage_error();
    struct cli_invoke_opts o = {
        .name = c->operands[0], .coap = c->coap, .data = c->data, .async = c->async};
    return cli_invoke(cfg, &o);
}

static int run_scale(const struct cli_config *cfg, const struct cmdline *c)
{
    long long threads;
    if (c->n_operands != 2 || !parse_ll(c->operands[1], &threads) || !NO_OPTIONS(c))
        return usage_error();
    return cli_scale(cfg, c->operands[0], threads);
}

static int run(const char *command, const struct cli_config *cfg, const struct cmdline *c)
{
    int n = c->n_operands;
    if (strcmp(command, "deploy") == 0)
        return run_deploy(cfg, c);
    if (strcmp(command, "invoke") == 0)
        return run_invoke(cfg, c);
    if (strcmp(command, "scale") == 0)
        return run_scale(cfg, c);
    if (strcmp(command, "list") == 0 && n == 0 && ONLY(c, OPT_JSON))
        return cli_list(cfg, c->json);
    if (strcmp(command, "delete") == 0 && n == 1 && NO_OPTIONS(c))
        return cli_delete(cfg, c->operands[0]);
    if (strcmp(command, "wipe") == 0 && n == 0 && NO_OPTIONS(c))
        return cli_wipe(cfg);
    if (strcmp(command, "logs") == 0 && n <= 1 && ONLY(c, OPT_FOLLOW))
        return cli_logs(cfg, n == 1 ? c->operands[0] : NULL, c->follow);
    return usage_error();
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage_error();
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(usage_text, stdout);
        return CLI_EXIT_OK;
    }
    struct cmdline c = {0};
    struct cli_config cfg;
    int rc;
    if (!parse_cmdline(argc - 1, argv + 1, &c))
        rc = usage_error();
    else if (c.help)
        rc = fputs(usage_text, stdout) >= 0 ? CLI_EXIT_OK : CLI_EXIT_FAIL;
    else if (!read_config(&cfg))
        rc = CLI_EXIT_USAGE;
    else if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        rc = cli_report(&(struct cli_err){"libcurl failed to start"});
    else {
        rc = run(argv[1], &cfg, &c);
        curl_global_cleanup();
    }
    free(c.env_vars);
    return rc;
}
