#include "config.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "paths.h"

static const char usage[] =
    "Usage: tinyfaas [OPTION]...\n"
    "A lightweight Function-as-a-Service platform for the edge.\n"
    "\n"
    "  --coap-port PORT      CoAP invocation, UDP (env COAP_PORT, default 5683; -1 off)\n"
    "  --coaps-port PORT     CoAP over DTLS, UDP (env COAPS_PORT, default 5684; -1 off);\n"
    "                        served when --psk-file is given\n"
    "  --psk-file FILE       DTLS pre-shared keys, a line 'IDENTITY KEY' per device\n"
    "                        (env TINYFAAS_PSK_FILE); --coap-port -1 then leaves\n"
    "                        only authenticated devices able to call functions\n"
    "  --http-port PORT      HTTP invocation, TCP (env HTTP_PORT, default 5683; -1 off)\n"
    "  --mgmt-port PORT      management API, TCP (env MGMT_PORT, default 8080; -1 off)\n"
    "  --state-dir DIR       where the daemon writes (env TINYFAAS_STATE_DIR,\n"
    "                        default ./tinyfaas-state)\n"
    "  --docker-host URL     Docker engine, unix:///path or tcp://host:port\n"
    "                        (env DOCKER_HOST, default unix:///var/run/docker.sock)\n"
    "  --call-timeout SEC    how long a call may run (env TINYFAAS_CALL_TIMEOUT, default 30)\n"
    "  --build-timeout SEC   how long a deploy's compile or dependency install may run\n"
    "                        before the deploy fails with 504 (env\n"
    "                        TINYFAAS_BUILD_TIMEOUT, default 300)\n"
    "  --max-body BYTES      largest invocation body (env TINYFAAS_MAX_BODY, default 1048576)\n"
    "  --coap-answer-bytes BYTES\n"
    "                        CoAP answers held at most, in all: kept to repeat to\n"
    "                        retransmitted requests, and served block-wise (env\n"
    "                        TINYFAAS_COAP_ANSWER_BYTES, default 8388608)\n"
    "  --handler-queue-bytes BYTES\n"
    "                        call bytes queued toward one handler and not yet\n"
    "                        written (env TINYFAAS_HANDLER_QUEUE_BYTES, default\n"
    "                        4194304, or twice --max-body when that is more);\n"
    "                        past it a call gets 503 at once, unless nothing is\n"
    "                        queued toward that handler\n"
    "  --handler-link-timeout MS\n"
    "                        how long a TCP link to a handler may be silent, with\n"
    "                        calls unacknowledged or idle, before it counts as lost\n"
    "                        and its calls in flight get 503 (env\n"
    "                        TINYFAAS_HANDLER_LINK_TIMEOUT, default 3000; 0: the\n"
    "                        kernel's, about 15 minutes); a connect gives up after it\n"
    "  --runtime-dir DIR     the runtime recipes (env TINYFAAS_RUNTIME_DIR, default:\n"
    "                        those installed with this program, or the source\n"
    "                        tree's when it runs from its build dir; here\n"
    "                        %s)\n"
    "  --subnet-pool CIDR    each function's network is a /25 of it (env\n"
    "                        TINYFAAS_SUBNET_POOL, default 10.201.0.0/16: 512\n"
    "                        networks; 'none' leaves it to Docker, about 31)\n"
    "  --registry-images     use registry images (python:3.11-slim, node:20-alpine) as\n"
    "                        runtime bases instead of local builds (env\n"
    "                        TINYFAAS_REGISTRY_IMAGES=1; needs a reachable registry)\n"
    "  --handler-transport unix|tcp\n"
    "                        how the daemon reaches its handlers (env\n"
    "                        TINYFAAS_HANDLER_TRANSPORT): unix sockets in STATE-DIR/\n"
    "                        sockets, mounted into each container (the default with\n"
    "                        an engine on a unix socket), or TCP over the function's\n"
    "                        network (the default with a tcp:// engine or one\n"
    "                        that remaps users)\n"
    "  --backend docker|swarm|auto\n"
    "                        where handlers run (env TINYFAAS_BACKEND, default\n"
    "                        auto): containers on the engine, or a Swarm service\n"
    "                        per function across the swarm's nodes; auto picks\n"
    "                        swarm when the engine is a swarm manager\n"
    "  --registry HOST:PORT  the site's registry, which every swarm node pulls from\n"
    "                        (env TINYFAAS_REGISTRY): each image built is pushed\n"
    "                        there and handed to Swarm by digest; needed on a\n"
    "                        swarm of more than one node (docs/swarm.md)\n"
    "  --no-auth             let the management API take calls without a token (env\n"
    "                        TINYFAAS_NO_AUTH=1); by default it asks for the bearer\n"
    "                        token in $TINYFAAS_TOKEN, else in STATE-DIR/token (made\n"
    "                        at first start, mode 0600, shown once in the log)\n"
    "  --metrics-no-auth     let GET /metrics on the management port answer without\n"
    "                        the token (env TINYFAAS_METRICS_NO_AUTH=1), for a\n"
    "                        Prometheus on a trusted network; docs/metrics.md\n"
    "  --no-metrics          record no metrics and serve no /metrics (env\n"
    "                        TINYFAAS_NO_METRICS=1), to measure what they cost\n"
    "  --live-restore        leave the handlers running at shutdown (env\n"
    "                        TINYFAAS_LIVE_RESTORE=1), for the next start to adopt:\n"
    "                        a restart (an upgrade) then stops no function. By\n"
    "                        default shutdown removes every handler container\n"
    "  --build-images        build every runtime's images now, then exit\n"
    "  --purge               remove everything this instance (its state dir) made:\n"
    "                        containers, networks, function images, kept functions,\n"
    "                        instance id and token; then exit (runtime images stay)\n"
    "  --shim PATH           the static handler shim (default: the one installed or\n"
    "                        built with this program; here %s)\n"
    "  --debug               log more\n"
    "  --help                show this help\n";

static int parse_int(const char *what, const char *text, long min, long max, long *out)
{
    char *end;
    long v = strtol(text, &end, 10);
    if (*text == '\0' || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "tinyfaas: %s must be a number from %ld to %ld, not '%s'\n", what, min, max,
                text);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_port(const char *what, const char *text, int *port)
{
    long v;
    if (parse_int(what, text, -1, 65535, &v) < 0)
        return -1;
    if (v == 0) {
        fprintf(stderr, "tinyfaas: %s must be 1 to 65535, or -1 to turn it off\n", what);
        return -1;
    }
    *port = (int)v;
    return 0;
}

static void set_str(char *dst, size_t size, const char *src)
{
    snprintf(dst, size, "%s", src);
}

static int apply(struct config *cfg, int key, const char *val)
{
    long v;
    switch (key) {
    case 'c': return parse_port("the CoAP port", val, &cfg->coap_port);
    case 'h': return parse_port("the HTTP port", val, &cfg->http_port);
    case 'C': return parse_port("the CoAPs port", val, &cfg->coaps_port);
    case 'P': set_str(cfg->psk_file, sizeof cfg->psk_file, val); return 0;
    case 'm': return parse_port("the management port", val, &cfg->mgmt_port);
    case 's': set_str(cfg->state_dir, sizeof cfg->state_dir, val); return 0;
    case 'd': set_str(cfg->docker_host, sizeof cfg->docker_host, val); return 0;
    case 'S': set_str(cfg->shim_path, sizeof cfg->shim_path, val); return 0;
    case 'R': set_str(cfg->runtime_dir, sizeof cfg->runtime_dir, val); return 0;
    case 'N': set_str(cfg->subnet_pool, sizeof cfg->subnet_pool, val); return 0;
    case 'g': cfg->registry_images = strcmp(val, "0") != 0; return 0;
    case 'A': cfg->no_auth = strcmp(val, "0") != 0; return 0;
    case 'L': cfg->live_restore = strcmp(val, "0") != 0; return 0;
    case 'X': cfg->no_metrics = strcmp(val, "0") != 0; return 0;
    case 'O': cfg->metrics_no_auth = strcmp(val, "0") != 0; return 0;
    case 'W':
        if (strcmp(val, "docker") != 0 && strcmp(val, "swarm") != 0 && strcmp(val, "auto") != 0) {
            fprintf(stderr, "tinyfaas: the backend is docker, swarm or auto, not '%s'\n", val);
            return -1;
        }
        set_str(cfg->backend, sizeof cfg->backend, val);
        return 0;
    case 'Y':
        if (strchr(val, '/') != NULL || strchr(val, '@') != NULL || strlen(val) >= 200) {
            fprintf(stderr, "tinyfaas: the registry is HOST:PORT (or HOST), not '%s'\n", val);
            return -1;
        }
        set_str(cfg->registry, sizeof cfg->registry, val);
        return 0;
    case 'T':
        if (strcmp(val, "unix") != 0 && strcmp(val, "tcp") != 0) {
            fprintf(stderr, "tinyfaas: the handler transport is unix or tcp, not '%s'\n", val);
            return -1;
        }
        set_str(cfg->handler_transport, sizeof cfg->handler_transport, val);
        return 0;
    case 't':
        if (parse_int("the call timeout", val, 1, 3600, &v) < 0)
            return -1;
        cfg->call_timeout_ms = (int)v * 1000;
        return 0;
    case 'u':
        if (parse_int("the build timeout", val, 1, 86400, &v) < 0)
            return -1;
        cfg->build_timeout_s = (int)v;
        return 0;
    case 'B':
        if (parse_int("the largest body", val, 1, 64L << 20, &v) < 0)
            return -1;
        cfg->max_body = (size_t)v;
        return 0;
    case 'b':
        if (parse_int("the CoAP answer bytes", val, 1024, 1L << 30, &v) < 0)
            return -1;
        cfg->coap_answer_bytes = (size_t)v;
        return 0;
    case 'q':
        if (parse_int("the handler queue bytes", val, 65536, 1L << 30, &v) < 0)
            return -1;
        cfg->handler_queue_bytes = (size_t)v;
        return 0;
    case 'k':
        if (parse_int("the handler link timeout", val, 0, 3600000, &v) < 0)
            return -1;
        cfg->handler_link_timeout_ms = (int)v;
        return 0;
    }
    return -1;
}

static const struct {
    const char *env;
    int key;
} env_keys[] = {
    {"COAP_PORT", 'c'},
    {"COAPS_PORT", 'C'},
    {"TINYFAAS_PSK_FILE", 'P'},
    {"HTTP_PORT", 'h'},
    {"MGMT_PORT", 'm'},
    {"TINYFAAS_STATE_DIR", 's'},
    {"DOCKER_HOST", 'd'},
    {"TINYFAAS_CALL_TIMEOUT", 't'},
    {"TINYFAAS_BUILD_TIMEOUT", 'u'},
    {"TINYFAAS_MAX_BODY", 'B'},
    {"TINYFAAS_COAP_ANSWER_BYTES", 'b'},
    {"TINYFAAS_HANDLER_QUEUE_BYTES", 'q'},
    {"TINYFAAS_HANDLER_LINK_TIMEOUT", 'k'},
    {"TINYFAAS_RUNTIME_DIR", 'R'},
    {"TINYFAAS_SUBNET_POOL", 'N'},
    {"TINYFAAS_REGISTRY_IMAGES", 'g'},
    {"TINYFAAS_NO_AUTH", 'A'},
    {"TINYFAAS_LIVE_RESTORE", 'L'},
    {"TINYFAAS_NO_METRICS", 'X'},
    {"TINYFAAS_METRICS_NO_AUTH", 'O'},
    {"TINYFAAS_HANDLER_TRANSPORT", 'T'},
    {"TINYFAAS_BACKEND", 'W'},
    {"TINYFAAS_REGISTRY", 'Y'},
};

/* The setting a flag without an argument turns on, or NULL. */
static int *flag_of(struct config *cfg, int key)
{
    switch (key) {
    case 'D': return &cfg->debug;
    case 'G': return &cfg->registry_images;
    case 'I': return &cfg->build_images;
    case 'U': return &cfg->purge;
    case 'a': return &cfg->no_auth;
    case 'l': return &cfg->live_restore;
    case 'x': return &cfg->no_metrics;
    case 'o': return &cfg->metrics_no_auth;
    }
    return NULL;
}

int config_load(struct config *cfg, int argc, char **argv)
{
    *cfg = (struct config){.coap_port = 5683,
                           .coaps_port = 5684,
                           .http_port = 5683,
                           .mgmt_port = 8080,
                           .call_timeout_ms = 30000,
                           .build_timeout_s = 300,
                           .ready_timeout_ms = 30000,
                           .max_body = 1 << 20,
                           .coap_answer_bytes = 8 << 20,
                           .handler_link_timeout_ms = DISPATCH_LINK_TIMEOUT_DEFAULT_MS,
                           .max_upload = 64 << 20};
    struct paths found;
    paths_default(&found);
    set_str(cfg->state_dir, sizeof cfg->state_dir, "./tinyfaas-state");
    set_str(cfg->runtime_dir, sizeof cfg->runtime_dir, found.runtime_dir);
    set_str(cfg->subnet_pool, sizeof cfg->subnet_pool, "10.201.0.0/16");
    set_str(cfg->shim_path, sizeof cfg->shim_path, found.shim);
    set_str(cfg->backend, sizeof cfg->backend, "auto");
    for (size_t i = 0; i < sizeof env_keys / sizeof env_keys[0]; i++) {
        const char *val = getenv(env_keys[i].env);
        if (val != NULL && *val != '\0' && apply(cfg, env_keys[i].key, val) < 0)
            return -1;
    }
    static const struct option opts[] = {
        {"coap-port", required_argument, NULL, 'c'},
        {"coaps-port", required_argument, NULL, 'C'},
        {"psk-file", required_argument, NULL, 'P'},
        {"http-port", required_argument, NULL, 'h'},
        {"mgmt-port", required_argument, NULL, 'm'},
        {"state-dir", required_argument, NULL, 's'},
        {"docker-host", required_argument, NULL, 'd'},
        {"shim", required_argument, NULL, 'S'},
        {"runtime-dir", required_argument, NULL, 'R'},
        {"subnet-pool", required_argument, NULL, 'N'},
        {"registry-images", no_argument, NULL, 'G'},
        {"build-images", no_argument, NULL, 'I'},
        {"purge", no_argument, NULL, 'U'},
        {"no-auth", no_argument, NULL, 'a'},
        {"live-restore", no_argument, NULL, 'l'},
        {"no-metrics", no_argument, NULL, 'x'},
        {"metrics-no-auth", no_argument, NULL, 'o'},
        {"handler-transport", required_argument, NULL, 'T'},
        {"backend", required_argument, NULL, 'W'},
        {"registry", required_argument, NULL, 'Y'},
        {"call-timeout", required_argument, NULL, 't'},
        {"build-timeout", required_argument, NULL, 'u'},
        {"max-body", required_argument, NULL, 'B'},
        {"coap-answer-bytes", required_argument, NULL, 'b'},
        {"handler-queue-bytes", required_argument, NULL, 'q'},
        {"handler-link-timeout", required_argument, NULL, 'k'},
        {"debug", no_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'H'},
        {NULL, 0, NULL, 0},
    };
    int key;
    while ((key = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (key == 'H') {
            printf(usage, found.runtime_dir, found.shim);
            return 1;
        }
        int *flag = flag_of(cfg, key);
        if (flag != NULL) {
            *flag = 1;
            continue;
        }
        if (key == '?' || apply(cfg, key, optarg) < 0) {
            fputs("Try 'tinyfaas --help'.\n", stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "tinyfaas: unexpected argument '%s'\nTry 'tinyfaas --help'.\n",
                argv[optind]);
        return -1;
    }
    /* Unset, the cap leaves room for a call of the largest body behind
     * another one being written. */
    if (cfg->handler_queue_bytes == 0)
        cfg->handler_queue_bytes = cfg->max_body * 2 > DISPATCH_MAX_UNSENT_DEFAULT
                                       ? cfg->max_body * 2
                                       : DISPATCH_MAX_UNSENT_DEFAULT;
    return 0;
}
