/* Docker backend: the Engine API calls the platform needs, on the transport
 * in docker_http.c. Every object is made with the caller's labels so it can
 * be found again (docker_list) after a crash. */
#include "docker.h"

#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docker_http.h"

/* The newest API we speak, and the oldest we accept (Docker 1.12). */
#define API_MAX_MINOR 41
#define API_MIN_MINOR 24

/* A long log line is handed on in pieces of this size rather than held. */
#define LOG_LINE_MAX ((size_t)1 << 20)

/* Parses "1.41" into 141-style major*1000+minor; -1 when not a version. */
static int api_parse(const char *s)
{
    unsigned major, minor;
    char tail;
    if (s == NULL || sscanf(s, "%u.%u%c", &major, &minor, &tail) != 2 || major > 9 || minor > 999)
        return -1;
    return (int)(major * 1000 + minor);
}

/* A libcurl built with libssh2 (Debian's, which the default build links)
 * starts it in curl_global_init, and libssh2's start initialises OpenSSL for
 * scp:// and sftp://, which the engine API never uses: 1.5 MB of the daemon's
 * RSS. libssh2 does that only in its first libssh2_init, so make that first
 * call here, with LIBSSH2_INIT_NO_CRYPTO. Looked up at run time, not linked:
 * the tiny profile's libcurl has no libssh2. */
static void libssh2_start_without_crypto(void)
{
    static const int libssh2_init_no_crypto = 0x0001;
    int (*libssh2_init)(int);
    *(void **)&libssh2_init = dlsym(RTLD_DEFAULT, "libssh2_init");
    if (libssh2_init != NULL)
        libssh2_init(libssh2_init_no_crypto);
}

void docker_global_init(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, libssh2_start_without_crypto);
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void docker_global_cleanup(void)
{
    curl_global_cleanup();
}

int docker_open(struct docker **out, const char *host, tf_err *err)
{
    struct docker *d = NULL;
    json_t *v = NULL;
    int rc;

    *out = NULL;
    if (host == NULL || *host == '\0')
        host = getenv("DOCKER_HOST");
    if (host == NULL || *host == '\0')
        host = "unix:///var/run/docker.sock";
    d = calloc(1, sizeof *d);
    if (d == NULL) {
        return tf_err_set(err, TF_ERR_INTERNAL, "docker: out of memory");
    }
    /* Reference counted by libcurl, and thread-safe since 7.84. */
    docker_global_init();
    rc = docker__parse_host(d, host, err);
    if (rc < 0)
        goto fail;
    /* Unversioned: the engine answers /version whatever API it speaks. */
    rc = docker__call(d, "GET", "/version", NULL, &v, 0, NULL, "version", err);
    if (rc < 0)
        goto fail;
    const char *api = json_string_value(json_object_get(v, "ApiVersion"));
    const char *min = json_string_value(json_object_get(v, "MinAPIVersion"));
    int have = api_parse(api), want = have;
    if (have < 0) {
        rc = tf_err_set(err, TF_ERR_UPSTREAM, "docker: version: engine at %s gave no ApiVersion",
                        d->host);
        goto fail;
    }
    if (have < 1000 + API_MIN_MINOR) {
        rc = tf_err_set(err, TF_ERR_INTERNAL,
                        "docker: engine at %s speaks API %s; tinyFaaS needs 1.%d or newer", d->host,
                        api, API_MIN_MINOR);
        goto fail;
    }
    if (want > 1000 + API_MAX_MINOR)
        want = 1000 + API_MAX_MINOR;
    if (api_parse(min) > want) {
        rc = tf_err_set(err, TF_ERR_INTERNAL,
                        "docker: engine at %s no longer speaks API 1.%d (oldest: %s)", d->host,
                        API_MAX_MINOR, min);
        goto fail;
    }
    snprintf(d->version, sizeof d->version, "%d.%d", want / 1000, want % 1000);
    snprintf(d->prefix, sizeof d->prefix, "/v%s", d->version);
    json_decref(v);
    *out = d;
    return 0;
fail:
    json_decref(v);
    free(d);
    curl_global_cleanup();
    return rc;
}

void docker_close(struct docker *d)
{
    if (d == NULL)
        return;
    free(d);
    curl_global_cleanup();
}

const char *docker_api_version(const struct docker *d)
{
    return d->version;
}

bool docker_is_local(const struct docker *d)
{
    return d->sock[0] != '\0';
}

int docker_remaps_users(struct docker *d, tf_err *err)
{
    json_t *info = NULL;
    int rc = docker__call(d, "GET", "/info", NULL, &info, 0, NULL, "info", err);
    if (rc < 0)
        return rc;
    size_t i;
    json_t *opt;
    int remaps = 0;
    json_array_foreach(json_object_get(info, "SecurityOptions"), i, opt)
    {
        const char *s = json_string_value(opt);
        remaps |= s != NULL && strncmp(s, "name=userns", 11) == 0;
    }
    json_decref(info);
    return remaps;
}

static int no_memory(const char *what, tf_err *err)
{
    return tf_err_set(err, TF_ERR_INTERNAL, "docker: %s: out of memory", what);
}

/* The build answer is a stream of JSON objects, one a line; a line can
 * arrive split across writes, so it is gathered here first. */
struct build {
    struct docker__buf line;
    docker_progress_fn *progress;
    void *ctx;
    char *error; /* the first error the builder reported */
};

static void build_object(struct build *b, const char *text, size_t len)
{
    json_t *j = json_loadb(text, len, 0, NULL);
    const char *s = json_string_value(json_object_get(j, "stream"));
    const char *e = json_string_value(json_object_get(j, "error"));

    if (e == NULL)
        e = json_string_value(json_object_get(json_object_get(j, "errorDetail"), "message"));
    if (e && b->error == NULL)
        b->error = strdup(e);
    /* The builder sends "Step 1/2 : X" and its "\n" as separate objects, and
     * may put several lines in one: hand on each non-empty line, trimmed. */
    while (s && *s && b->progress) {
        const char *nl = strchr(s, '\n');
        size_t n = nl ? (size_t)(nl - s) : strlen(s);
        const char *p = s;
        while (n && (*p == ' ' || *p == '\t' || *p == '\r'))
            p++, n--;
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r'))
            n--;
        if (n) {
            char *l = strndup(p, n);
            if (l)
                b->progress(b->ctx, l);
            free(l);
        }
        s = nl ? nl + 1 : s + strlen(s);
    }
    json_decref(j);
}

static int build_feed(void *ctx, const char *p, size_t n)
{
    struct build *b = ctx;
    size_t from = b->line.len;
    int rc = docker__buf_add(&b->line, p, n);
    if (rc < 0)
        return rc;
    /* Only the new bytes can end a line: the rest were searched before. */
    if (memchr(b->line.p + from, '\n', n) == NULL)
        return 0;
    char *start = b->line.p, *nl;
    while ((nl = memchr(start, '\n', b->line.len - (size_t)(start - b->line.p))) != NULL) {
        if (nl > start)
            build_object(b, start, (size_t)(nl - start));
        start = nl + 1;
    }
    size_t rest = b->line.len - (size_t)(start - b->line.p);
    memmove(b->line.p, start, rest + 1);
    b->line.len = rest;
    return 0;
}

int docker_image_build(struct docker *d, const void *tar, size_t tar_len, const char *tag,
                       json_t *labels, docker_progress_fn *progress, void *ctx, tf_err *err)
{
    struct build b = {.progress = progress, .ctx = ctx};
    struct docker__sink sink = {.stream = build_feed, .ctx = &b};
    char *lab = NULL, *path = NULL;
    long http;
    int rc;

    if (labels != NULL) {
        lab = json_dumps(labels, JSON_COMPACT);
        path = lab ? docker__path("/build?t=%s&labels=%s&rm=1&forcerm=1", tag, lab) : NULL;
    } else {
        path = docker__path("/build?t=%s&rm=1&forcerm=1", tag);
    }
    if (path == NULL) {
        rc = no_memory("build", err);
        goto out;
    }
    /* No timeout: a build may run a long step without saying anything. */
    rc = docker__request(d, "POST", path, tar, tar_len, "application/x-tar", 0, &sink, &http, err);
    if (rc < 0)
        goto out;
    if (http < 200 || http >= 300) {
        /* Parse errors (400) and a context without a Dockerfile (500) are
         * both faults in what the user built from. */
        rc = docker__engine_error(http, &sink.body, "build", err);
        if (err)
            err->kind = TF_ERR_BUILD;
        goto out;
    }
    if (b.line.len)
        build_object(&b, b.line.p, b.line.len);
    if (b.error) {
        rc = tf_err_set(err, TF_ERR_BUILD, "docker: build: %s", b.error);
    }
out:
    docker__buf_free(&b.line);
    docker__buf_free(&sink.body);
    free(b.error);
    free(lab);
    free(path);
    return rc;
}

/* 1 when GET fmt(ref) finds the object, 0 when the engine says 404. */
static int object_exists(struct docker *d, const char *fmt, const char *ref, const char *what,
                         tf_err *err)
{
    char *path = docker__path(fmt, ref);
    long http = 0;
    if (path == NULL)
        return no_memory(what, err);
    int rc = docker__call(d, "GET", path, NULL, NULL, 1, &http, what, err);
    free(path);
    if (rc < 0)
        return rc;
    return http == 404 ? 0 : 1;
}

int docker_image_exists(struct docker *d, const char *ref, tf_err *err)
{
    return object_exists(d, "/images/%s/json", ref, "inspect image", err);
}

int docker_network_exists(struct docker *d, const char *name, tf_err *err)
{
    return object_exists(d, "/networks/%s", name, "inspect network", err);
}

int docker_image_remove(struct docker *d, const char *ref, tf_err *err)
{
    return docker__remove(d, "/images/%s?force=1", ref, "remove image", err);
}

int docker_network_create(struct docker *d, const char *name, const char *subnet, json_t *labels,
                          char id_out[DOCKER_ID_MAX], tf_err *err)
{
    json_t *ans = NULL;
    json_t *body = json_pack("{s:s, s:s, s:o, s:b}", "Name", name, "Driver", "bridge", "Labels",
                             labels ? json_incref(labels) : json_object(), "CheckDuplicate", 1);
    int rc;

    id_out[0] = '\0';
    if (body == NULL)
        return no_memory("create network", err);
    if (subnet != NULL &&
        json_object_set_new(body, "IPAM", json_pack("{s:[{s:s}]}", "Config", "Subnet", subnet)) <
            0) {
        json_decref(body);
        return no_memory("create network", err);
    }
    rc = docker__call(d, "POST", "/networks/create", body, &ans, 0, NULL, "create network", err);
    /* The engine says so in words only: "Pool overlaps with other one on this address space". */
    if (rc < 0 && subnet != NULL && err != NULL && strstr(err->msg, "overlaps") != NULL)
        err->kind = TF_ERR_CONFLICT;
    if (rc == 0)
        rc = docker__copy_id(ans, "Id", id_out, "create network", err);
    json_decref(ans);
    json_decref(body);
    return rc;
}

int docker_network_remove(struct docker *d, const char *id, tf_err *err)
{
    return docker__remove(d, "/networks/%s", id, "remove network", err);
}

/* Logs are capped so a chatty handler cannot fill the disk; no restart
 * policy, since the platform itself watches and replaces handlers. A handler
 * gets no capabilities, cannot gain privileges through setuid files, and
 * cannot fork without bound. */
static json_t *host_config(const struct docker_container_spec *spec)
{
    json_t *host = json_pack("{s:{s:s}, s:{s:s, s:{s:s, s:s}}, s:[s], s:[s], s:b}", "RestartPolicy",
                             "Name", "no", "LogConfig", "Type", "json-file", "Config", "max-size",
                             "10m", "max-file", "2", "CapDrop", "ALL", "SecurityOpt",
                             "no-new-privileges:true", "ReadonlyRootfs", spec->read_only);
    if (host == NULL)
        return NULL;
    if (spec->read_only)
        json_object_set_new(host, "Tmpfs", json_pack("{s:s}", "/tmp", "rw,nosuid,nodev,size=64m"));
    if (spec->pids_limit > 0)
        json_object_set_new(host, "PidsLimit", json_integer(spec->pids_limit));
    if (spec->memory_bytes > 0) {
        /* Swap equal to memory: none beyond the limit. */
        json_object_set_new(host, "Memory", json_integer(spec->memory_bytes));
        json_object_set_new(host, "MemorySwap", json_integer(spec->memory_bytes));
    }
    if (spec->nano_cpus > 0)
        json_object_set_new(host, "NanoCpus", json_integer(spec->nano_cpus));
    if (spec->bind != NULL)
        json_object_set_new(host, "Binds", json_pack("[s]", spec->bind));
    return host;
}

json_t *docker_container_body(const struct docker_container_spec *spec)
{
    json_t *env = json_array();
    for (size_t i = 0; env && i < spec->n_env; i++)
        if (json_array_append_new(env, json_string(spec->env[i])) < 0) {
            json_decref(env);
            return NULL;
        }
    json_t *host = host_config(spec);
    json_t *body =
        json_pack("{s:s, s:o, s:o, s:o}", "Image", spec->image, "Env", env, "Labels",
                  spec->labels ? json_incref(spec->labels) : json_object(), "HostConfig", host);
    bool ok = body != NULL;
    if (ok && spec->entrypoint) {
        json_t *ep = json_array();
        for (size_t i = 0; ep && i < spec->n_entrypoint; i++)
            if (json_array_append_new(ep, json_string(spec->entrypoint[i])) < 0) {
                json_decref(ep);
                ep = NULL;
            }
        ok = json_object_set_new(body, "Entrypoint", ep) == 0;
    }
    if (ok && spec->user != NULL)
        ok = json_object_set_new(body, "User", json_string(spec->user)) == 0;
    if (ok && spec->workdir != NULL)
        ok = json_object_set_new(body, "WorkingDir", json_string(spec->workdir)) == 0;
    if (ok && spec->network) {
        json_t *ep = json_pack("{s:{s:{}}}", "EndpointsConfig", spec->network);
        ok = ep != NULL && json_object_set_new(body, "NetworkingConfig", ep) == 0 &&
             json_object_set_new(host, "NetworkMode", json_string(spec->network)) == 0;
    }
    if (!ok) {
        json_decref(body);
        return NULL;
    }
    return body;
}

int docker_container_create(struct docker *d, const struct docker_container_spec *spec,
                            char id_out[DOCKER_ID_MAX], tf_err *err)
{
    json_t *ans = NULL, *body = docker_container_body(spec);
    id_out[0] = '\0';
    char *path = spec->name ? docker__path("/containers/create?name=%s", spec->name)
                            : strdup("/containers/create");
    int rc = body != NULL && path != NULL ? 0 : no_memory("create container", err);
    if (rc == 0)
        rc = docker__call(d, "POST", path, body, &ans, 0, NULL, "create container", err);
    if (rc == 0)
        rc = docker__copy_id(ans, "Id", id_out, "create container", err);
    json_decref(ans);
    json_decref(body);
    free(path);
    return rc;
}

/* GET on one object's path, its JSON answer in *out. */
static int inspect(struct docker *d, const char *fmt, const char *id, json_t **out,
                   const char *what, tf_err *err)
{
    char *path = docker__path(fmt, id);
    if (path == NULL)
        return no_memory(what, err);
    int rc = docker__call(d, "GET", path, NULL, out, 0, NULL, what, err);
    free(path);
    if (rc == 0 && !json_is_object(*out)) {
        tf_err_set(err, TF_ERR_UPSTREAM, "docker: %s: the engine gave no object", what);
        json_decref(*out);
        *out = NULL;
        rc = -EPROTO;
    }
    return rc;
}

int docker_container_start(struct docker *d, const char *id, tf_err *err)
{
    char *path = docker__path("/containers/%s/start", id);
    if (path == NULL)
        return no_memory("start container", err);
    int rc = docker__call(d, "POST", path, NULL, NULL, 0, NULL, "start container", err);
    free(path);
    return rc;
}

int docker_container_ip(struct docker *d, const char *id, const char *network, char ip_out[64],
                        tf_err *err)
{
    json_t *c = NULL;
    int rc;

    ip_out[0] = '\0';
    rc = inspect(d, "/containers/%s/json", id, &c, "inspect container", err);
    if (rc < 0)
        return rc;
    json_t *nets = json_object_get(json_object_get(c, "NetworkSettings"), "Networks");
    json_t *net = json_object_get(nets, network);
    if (net == NULL) {
        /* The map is keyed by network name; the caller may hold its id,
         * whole or in the short form the CLI prints. */
        const char *key;
        json_t *v;
        size_t n = strlen(network);
        json_object_foreach(nets, key, v)
        {
            const char *nid = json_string_value(json_object_get(v, "NetworkID"));
            if (nid && n >= 12 && strncmp(nid, network, n) == 0) {
                net = v;
                break;
            }
        }
    }
    const char *ip = json_string_value(json_object_get(net, "IPAddress"));
    if (ip == NULL || *ip == '\0' || strlen(ip) >= 64) {
        rc = tf_err_set(err, TF_ERR_INTERNAL,
                        "docker: container %.12s has no address on network %s", id, network);
    } else {
        snprintf(ip_out, 64, "%s", ip);
    }
    json_decref(c);
    return rc;
}

int docker_container_running(struct docker *d, const char *id, int *exit_code, tf_err *err)
{
    json_t *c = NULL;
    int rc = inspect(d, "/containers/%s/json", id, &c, "inspect container", err);
    if (rc < 0)
        return rc;
    json_t *state = json_object_get(c, "State");
    if (!json_is_object(state)) {
        json_decref(c);
        return tf_err_set(err, TF_ERR_UPSTREAM,
                          "docker: inspect container: the engine gave no State");
    }
    int running = json_is_true(json_object_get(state, "Running"));
    if (!running && exit_code)
        *exit_code = (int)json_integer_value(json_object_get(state, "ExitCode"));
    json_decref(c);
    return running;
}

int docker_container_remove(struct docker *d, const char *id, tf_err *err)
{
    return docker__remove(d, "/containers/%s?force=1&v=1", id, "remove container", err);
}

int docker_list(struct docker *d, enum docker_kind kind, const char *label, docker_list_fn *fn,
                void *ctx, tf_err *err)
{
    static const char *const fmts[] = {
        [DOCKER_CONTAINERS] = "/containers/json?all=1&filters=%s",
        [DOCKER_NETWORKS] = "/networks?filters=%s",
        [DOCKER_IMAGES] = "/images/json?filters=%s",
        [DOCKER_RUNNING] = "/containers/json?filters=%s",
        [DOCKER_SERVICES] = "/services?filters=%s",
        [DOCKER_SECRETS] = "/secrets?filters=%s",
    };
    json_t *filters = NULL, *ans = NULL;
    char *text = NULL, *path = NULL;
    int rc;

    if ((unsigned)kind > DOCKER_SECRETS) {
        return tf_err_set(err, TF_ERR_INTERNAL, "docker: list: unknown kind %d", (int)kind);
    }
    filters = json_pack("{s:[s]}", "label", label);
    text = filters ? json_dumps(filters, JSON_COMPACT) : NULL;
    path = text ? docker__path(fmts[kind], text) : NULL;
    if (path == NULL) {
        rc = no_memory("list", err);
        goto out;
    }
    rc = docker__call(d, "GET", path, NULL, &ans, 0, NULL, "list", err);
    if (rc < 0)
        goto out;
    if (!json_is_array(ans)) {
        rc = tf_err_set(err, TF_ERR_UPSTREAM, "docker: list: the engine gave no array");
        goto out;
    }
    /* Images without labels have "Labels": null; callers get {} instead. */
    json_t *empty = json_object(), *o;
    size_t i;
    json_array_foreach(ans, i, o)
    {
        /* Swarm objects spell it "ID", and keep their labels in their spec. */
        const char *id = json_string_value(json_object_get(o, "Id"));
        json_t *labels = json_object_get(o, "Labels");
        if (id == NULL)
            id = json_string_value(json_object_get(o, "ID"));
        if (labels == NULL)
            labels = json_object_get(json_object_get(o, "Spec"), "Labels");
        if (id)
            fn(ctx, id, json_is_object(labels) ? labels : empty);
    }
    json_decref(empty);
out:
    json_decref(ans);
    json_decref(filters);
    free(text);
    free(path);
    return rc;
}

/* Undoes the engine's multiplexing of a container's output: frames of an
 * 8-byte header (stream, 0, 0, 0, big-endian length) and payload, either of
 * which may be split across writes. Lines are gathered per stream, since
 * frames of stdout and stderr interleave. */
struct demux {
    unsigned char hdr[8];
    size_t hdr_have;
    size_t left; /* payload bytes still due in the current frame */
    int stream;  /* 0 stdin, 1 stdout, 2 stderr */
    struct docker__buf line[3];
    docker_log_fn *fn;
    void *ctx;
};

static int demux_feed(void *ctx, const char *p, size_t n)
{
    struct demux *x = ctx;
    while (n) {
        if (x->left == 0) {
            size_t take = 8 - x->hdr_have < n ? 8 - x->hdr_have : n;
            memcpy(x->hdr + x->hdr_have, p, take);
            x->hdr_have += take;
            p += take;
            n -= take;
            if (x->hdr_have == 8) {
                x->stream = x->hdr[0] <= 2 ? x->hdr[0] : 1;
                x->left = (size_t)x->hdr[4] << 24 | (size_t)x->hdr[5] << 16 |
                          (size_t)x->hdr[6] << 8 | x->hdr[7];
                x->hdr_have = 0;
            }
            continue;
        }
        size_t take = x->left < n ? x->left : n;
        struct docker__buf *l = &x->line[x->stream];
        for (size_t i = 0; i < take;) {
            const char *nl = memchr(p + i, '\n', take - i);
            size_t seg = nl ? (size_t)(nl - (p + i)) : take - i;
            int rc = docker__buf_add(l, p + i, seg);
            if (rc < 0)
                return rc;
            if (nl || l->len >= LOG_LINE_MAX) {
                x->fn(x->ctx, l->p, l->len);
                l->len = 0;
            }
            i += seg + (nl ? 1 : 0);
        }
        x->left -= take;
        p += take;
        n -= take;
    }
    return 0;
}

/* The output so far of the container or service at fmt (with id). */
static int read_logs(struct docker *d, const char *fmt, const char *id, double since,
                     bool timestamps, docker_log_fn *fn, void *ctx, tf_err *err)
{
    struct demux x = {.fn = fn, .ctx = ctx};
    struct docker__sink sink = {.stream = demux_feed, .ctx = &x};
    char since_text[32]; /* docker__path takes strings only */
    snprintf(since_text, sizeof since_text, "%.6f", since);
    char *path = docker__path(fmt, id, since_text, timestamps ? "1" : "0");
    long http;
    int rc;

    if (path == NULL)
        return no_memory("logs", err);
    rc = docker__request(d, "GET", path, NULL, 0, NULL, 120, &sink, &http, err);
    if (rc == 0 && (http < 200 || http >= 300))
        rc = docker__engine_error(http, &sink.body, "logs", err);
    /* A last line without its newline is still output. */
    for (int s = 0; s < 3; s++) {
        if (rc == 0 && x.line[s].len)
            fn(ctx, x.line[s].p, x.line[s].len);
        docker__buf_free(&x.line[s]);
    }
    docker__buf_free(&sink.body);
    free(path);
    return rc;
}

int docker_container_logs(struct docker *d, const char *id, double since, bool timestamps,
                          docker_log_fn *fn, void *ctx, tf_err *err)
{
    return read_logs(d, "/containers/%s/logs?stdout=1&stderr=1&since=%s&timestamps=%s", id, since,
                     timestamps, fn, ctx, err);
}

int docker_service_logs(struct docker *d, const char *id, double since, bool timestamps,
                        docker_log_fn *fn, void *ctx, tf_err *err)
{
    return read_logs(d, "/services/%s/logs?stdout=1&stderr=1&details=1&since=%s&timestamps=%s", id,
                     since, timestamps, fn, ctx, err);
}

void docker_ids_collect(void *ctx, const char *id, json_t *labels)
{
    (void)labels;
    struct docker_ids *l = ctx;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        void *ids = realloc(l->ids, cap * sizeof *l->ids);
        if (ids == NULL)
            return;
        l->ids = ids;
        l->cap = cap;
    }
    snprintf(l->ids[l->n++], DOCKER_ID_MAX, "%s", id);
}

bool docker_ids_has(const struct docker_ids *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->ids[i], id) == 0)
            return true;
    return false;
}

void docker_ids_free(struct docker_ids *l)
{
    free(l->ids);
    *l = (struct docker_ids){0};
}
