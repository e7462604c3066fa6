/* tinyfaas: the daemon. Wires the loop, the front ends, the dispatcher and
 * the lifecycle together, and takes them apart again on SIGINT/SIGTERM. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coap/coap_front.h"
#include "config.h"
#include "dispatch.h"
#include "docker.h"
#include "healer.h"
#include "http/http_front.h"
#include "http/mgmt_api.h"
#include "http/mgmt_auth.h"
#include "lifecycle.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "restore.h"
#include "runtimes.h"
#include "service.h"
#include "store.h"

struct daemon {
    struct config cfg;
    char instance_id[17];
    struct docker *docker;
    struct loop *loop;
    struct dispatcher *dispatcher;
    struct runtimes *runtimes;
    char shim_dir[512], cache_dir[600];
    char socket_dir[108]; /* "" with the TCP handler transport */
    bool swarm;           /* functions are Swarm services */
    char handler_key[65]; /* on Swarm: what handler secrets derive from */
    struct lifecycle *lifecycle;
    struct tf_coap_front *coap;
    struct http_front *http;
    struct mgmt_api *mgmt;
    struct restorer *restorer;
    struct healer *healer;
    struct loop_watch signals;
};

static int make_dirs(const char *path)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    return mkdir(buf, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

/* Reads STATE-DIR/name, bytes random bytes in hex (hex: 2 * bytes + 1),
 * or makes it (mode: who may read it). */
static int load_random_hex(const char *state_dir, const char *name, size_t bytes, char *hex,
                           mode_t mode)
{
    char path[600], fmt[16];
    snprintf(path, sizeof path, "%s/%s", state_dir, name);
    snprintf(fmt, sizeof fmt, "%%%zu[0-9a-f]", 2 * bytes);
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        int ok = fscanf(f, fmt, hex) == 1 && strlen(hex) == 2 * bytes;
        fclose(f);
        if (ok)
            return 0;
    }
    unsigned char raw[32];
    if (bytes > sizeof raw || getrandom(raw, bytes, 0) != (ssize_t)bytes)
        return -EIO;
    for (size_t i = 0; i < bytes; i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f == NULL) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return -e;
    }
    fprintf(f, "%s\n", hex);
    return fclose(f) == 0 ? 0 : -EIO;
}

/* The instance id labels every Docker object; it is kept in the state dir so
 * a restarted daemon finds what an earlier run left behind. */
static int load_instance_id(const char *state_dir, char id[17])
{
    return load_random_hex(state_dir, "instance-id", 8, id, 0644);
}

/* The daemon's side of Swarm: whether functions are services, and whether
 * the swarm can run them (a swarm of several nodes needs a registry). */
static int pick_backend(struct daemon *d, tf_err *err)
{
    const struct config *c = &d->cfg;
    struct docker_swarm sw = {0};
    d->swarm = false;
    if (strcmp(c->backend, "docker") != 0 && docker_swarm_state(d->docker, &sw, err) < 0)
        return -1;
    if (strcmp(c->backend, "docker") == 0 || (!sw.manager && strcmp(c->backend, "auto") == 0)) {
        log_info("backend: docker, handlers are containers on this engine");
        if (c->registry[0] != '\0')
            log_warn("--registry %s is for the swarm backend: not used", c->registry);
        return 0;
    }
    if (!sw.manager && strcmp(c->backend, "swarm") == 0)
        return tf_err_set(err, TF_ERR_INVALID,
                          "--backend swarm: the engine at %s is %s; run 'docker swarm init' there, "
                          "or point --docker-host at a manager",
                          c->docker_host[0] ? c->docker_host : "the default socket",
                          sw.active ? "a swarm worker, not a manager" : "in no swarm");
    if (sw.nodes > 1 && c->registry[0] == '\0')
        return tf_err_set(err, TF_ERR_INVALID,
                          "the swarm has %d nodes and no --registry was given: images built here "
                          "would reach no other node; run a registry every node trusts and pass "
                          "--registry HOST:PORT (docs/swarm.md), or --backend docker",
                          sw.nodes);
    int rc = load_random_hex(c->state_dir, "handler-key", 32, d->handler_key, 0600);
    if (rc < 0)
        return tf_err_set(err, TF_ERR_INTERNAL, "cannot make %s/handler-key: %s", c->state_dir,
                          strerror(-rc));
    d->swarm = true;
    log_info("backend: swarm, %d node(s); images %s", sw.nodes,
             c->registry[0] ? "pushed to the registry" : "stay on this node");
    return 0;
}

static void on_signal(void *ctx, uint32_t events)
{
    (void)events;
    struct daemon *d = ctx;
    struct signalfd_siginfo si;
    if (read(d->signals.fd, &si, sizeof si) != sizeof si)
        return;
    log_info("received %s, shutting down", strsignal((int)si.ssi_signo));
    loop_stop(d->loop);
}

/* A handler's connection was lost, or it did not come back: the healer
 * looks now, not at its next round. */
static void on_handler_lost(void *ctx)
{
    healer_poke(ctx);
}

static int load_runtimes(struct daemon *d, tf_err *err)
{
    const struct config *c = &d->cfg;
    snprintf(d->shim_dir, sizeof d->shim_dir, "%s", c->shim_path);
    char *slash = strrchr(d->shim_dir, '/');
    if (slash != NULL)
        *slash = '\0';
    snprintf(d->cache_dir, sizeof d->cache_dir, "%s/cache", c->state_dir);
    struct runtimes_config rc = {.runtime_dir = c->runtime_dir,
                                 .shim_dir = d->shim_dir,
                                 .cache_dir = d->cache_dir,
                                 .registry_images = c->registry_images};
    if (runtimes_load(&rc, &d->runtimes, err) < 0)
        return -1;
    log_info("runtimes: %s (recipes in %s)", runtimes_names(d->runtimes), c->runtime_dir);
    return 0;
}

/* Every client connection holds a descriptor, and the default soft limit
 * (1024) is a fraction of what the hard limit allows: take all of it. */
static rlim_t raise_open_file_limit(void)
{
    struct rlimit r;
    if (getrlimit(RLIMIT_NOFILE, &r) < 0)
        return 1024;
    if (r.rlim_cur < r.rlim_max) {
        rlim_t was = r.rlim_cur;
        r.rlim_cur = r.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &r) < 0)
            r.rlim_cur = was;
    }
    return r.rlim_cur;
}

/* The HTTP invocation port's connection cap: below the open-file limit by
 * what handlers, the engine's connections and the management API need. */
static unsigned http_connection_cap(rlim_t open_files)
{
    enum { cap_max = 4096, reserve = 1024 };
    rlim_t cap = open_files > 2 * reserve ? open_files - reserve : open_files / 2;
    return cap > cap_max ? cap_max : (unsigned)cap;
}

static int start_fronts(struct daemon *d, tf_err *err)
{
    const struct config *c = &d->cfg;
    struct tf_coap_front_config cc = {.port = c->coap_port,
                                      .dtls_port = c->psk_file[0] ? c->coaps_port : -1,
                                      .psk_file = c->psk_file,
                                      .max_body = c->max_body,
                                      .answer_bytes = c->coap_answer_bytes,
                                      .ack_delay_ms = 1000};
    if ((cc.port > 0 || cc.dtls_port > 0) &&
        tf_coap_front_start(d->loop, d->dispatcher, &cc, &d->coap, err) < 0)
        return -1;
    rlim_t open_files = raise_open_file_limit();
    unsigned http_cap = http_connection_cap(open_files);
    log_info("open files: up to %llu; HTTP invocation connections: up to %u",
             (unsigned long long)open_files, http_cap);
    if (c->http_port > 0 && http_front_start(d->loop, d->dispatcher, c->http_port, c->max_body,
                                             http_cap, &d->http, err) < 0)
        return -1;
    static char token[MGMT_TOKEN_MAX];
    if (c->mgmt_port > 0 && c->no_auth)
        log_warn("the management API asks for no token (--no-auth): anyone who reaches TCP "
                 "port %d can run containers on this host",
                 c->mgmt_port);
    else if (c->mgmt_port > 0 && mgmt_token_load(c->state_dir, token, sizeof token, err) < 0)
        return -1;
    bool metrics_open = !c->no_metrics && c->metrics_no_auth && !c->no_auth;
    if (c->mgmt_port > 0 && metrics_open)
        log_warn("GET /metrics asks for no token (--metrics-no-auth): anyone who reaches TCP "
                 "port %d can read the names of the functions and how they are called",
                 c->mgmt_port);
    struct mgmt_config mc = {.port = c->mgmt_port,
                             .token = c->no_auth ? NULL : token,
                             .max_body = c->max_upload,
                             .coap_port = c->coap_port,
                             .coaps_port = c->psk_file[0] ? c->coaps_port : -1,
                             .http_port = c->http_port,
                             .loop = d->loop,
                             .dispatcher = d->dispatcher,
                             .max_call_body = c->max_body,
                             .metrics = !c->no_metrics,
                             .metrics_open = metrics_open};
    if (c->mgmt_port > 0 && mgmt_api_start(&mc, d->lifecycle, &d->mgmt, err) < 0)
        return -1;
    return 0;
}

/* tinyfaas --build-images: every runtime image now, so first deploys are fast. */
static int build_images(struct daemon *d, tf_err *err)
{
    const struct config *c = &d->cfg;
    if (make_dirs(c->state_dir) < 0)
        return tf_err_set(err, TF_ERR_INTERNAL, "cannot use the state dir %s: %s", c->state_dir,
                          strerror(errno));
    if (docker_open(&d->docker, c->docker_host[0] ? c->docker_host : NULL, err) < 0 ||
        load_runtimes(d, err) < 0 || runtimes_build_all(d->runtimes, d->docker, err) < 0)
        return -1;
    log_info("every runtime image is built");
    return 0;
}

/* tinyfaas --purge: everything the instance of the state dir made, in the
 * engine and on the disk. The runtime images stay: every instance on the
 * engine shares them, and an offline gateway could not build them again. */
static int purge(struct daemon *d, tf_err *err)
{
    const struct config *c = &d->cfg;
    char path[700];
    snprintf(path, sizeof path, "%s/instance-id", c->state_dir);
    if (access(path, F_OK) != 0) {
        log_info("no instance in %s: nothing to purge", c->state_dir);
        return 0;
    }
    if (load_instance_id(c->state_dir, d->instance_id) < 0 ||
        docker_open(&d->docker, c->docker_host[0] ? c->docker_host : NULL, err) < 0)
        return tf_err_set(err, TF_ERR_INTERNAL, "cannot purge %s", c->state_dir);
    char sockets[700];
    snprintf(sockets, sizeof sockets, "%s/sockets", c->state_dir);
    struct docker_swarm sw = {0};
    tf_err swarm_err;
    if (strcmp(c->backend, "docker") != 0) /* not a manager: no services to remove */
        docker_swarm_state(d->docker, &sw, &swarm_err);
    struct lifecycle_config lc = {.docker = d->docker,
                                  .instance_id = d->instance_id,
                                  .state_dir = c->state_dir,
                                  .socket_dir = sockets,
                                  .swarm = sw.manager};
    if (lifecycle_create(&lc, &d->lifecycle) < 0)
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    int rc = lifecycle_purge(d->lifecycle, err);
    lifecycle_destroy(d->lifecycle);
    docker_close(d->docker);
    if (rc < 0)
        return rc; /* the instance id stays: a second --purge finds what is left */
    store_remove_all(c->state_dir);
    const char *files[] = {"sockets", "cache", "token", "handler-key", "instance-id"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", c->state_dir, files[i]);
        if (remove(path) < 0 && errno != ENOENT)
            log_warn("cannot remove %s: %s", path, strerror(errno));
    }
    rmdir(c->state_dir); /* unless something else is in it */
    log_info("purged instance %s: its containers, networks, images and state", d->instance_id);
    return 0;
}

/* The folder of handler sockets, for the unix transport: the default with
 * an engine on this machine, whose containers can mount it. A socket path
 * has at most 107 bytes: a state dir too deep for it means TCP, and so do
 * an engine that remaps users and a daemon that may not mount the tmpfs
 * each handler's folder is (not root). */
static void pick_transport(struct daemon *d)
{
    const struct config *c = &d->cfg;
    d->socket_dir[0] = '\0';
    if (strcmp(c->handler_transport, "tcp") == 0 ||
        (c->handler_transport[0] == '\0' && !docker_is_local(d->docker)))
        return;
    /* Remapped, a handler's root is not the owner of its socket folder. */
    tf_err err = {0};
    if (docker_remaps_users(d->docker, &err) == 1) {
        log_warn("the engine remaps users (userns-remap): handlers are reached over TCP");
        return;
    }
    char state[PATH_MAX];
    /* Room for "/4294967295.65535/handler.sock" after it. */
    if (realpath(c->state_dir, state) == NULL ||
        strlen(state) + strlen("/sockets/4294967295.65535/handler.sock") >= sizeof d->socket_dir) {
        log_warn("the state dir %s is too deep for handler sockets: handlers are reached over TCP",
                 c->state_dir);
        return;
    }
    snprintf(d->socket_dir, sizeof d->socket_dir, "%s/sockets", state);
    if (mkdir(d->socket_dir, 0700) < 0 && errno != EEXIST) {
        log_warn("cannot make %s (%s): handlers are reached over TCP", d->socket_dir,
                 strerror(errno));
        d->socket_dir[0] = '\0';
    } else if (lifecycle_check_socket_dir(d->socket_dir, &err) < 0) {
        log_warn("%s: handlers are reached over TCP", err.msg);
        d->socket_dir[0] = '\0';
    }
}

static int start(struct daemon *d, tf_err *err)
{
    const struct config *c = &d->cfg;
    if (make_dirs(c->state_dir) < 0 || load_instance_id(c->state_dir, d->instance_id) < 0)
        return tf_err_set(err, TF_ERR_INTERNAL, "cannot use the state dir %s: %s", c->state_dir,
                          strerror(errno));
    if (docker_open(&d->docker, c->docker_host[0] ? c->docker_host : NULL, err) < 0)
        return -1;
    log_info("instance %s, Docker API %s, state in %s", d->instance_id,
             docker_api_version(d->docker), c->state_dir);
    if (load_runtimes(d, err) < 0 || pick_backend(d, err) < 0)
        return -1;
    /* Swarm's tasks are reached over the network, wherever they run. */
    if (!d->swarm)
        pick_transport(d);
    else
        d->socket_dir[0] = '\0';
    if (!d->socket_dir[0]) {
        char sockets[700]; /* an earlier run's, on the unix transport */
        snprintf(sockets, sizeof sockets, "%s/sockets", c->state_dir);
        lifecycle_clear_unused_sockets(sockets);
    }
    log_info("handlers are reached over %s", d->socket_dir[0] ? "unix sockets" : "TCP");
    if (loop_create(&d->loop) < 0 ||
        dispatcher_create(d->loop, c->call_timeout_ms, &d->dispatcher) < 0)
        return tf_err_set(err, TF_ERR_INTERNAL, "cannot create the event loop");
    dispatch_set_max_unsent(d->dispatcher, c->handler_queue_bytes);
    dispatch_set_link_timeout(d->dispatcher, c->handler_link_timeout_ms);
    struct lifecycle_config lc = {.docker = d->docker,
                                  .dispatcher = d->dispatcher,
                                  .instance_id = d->instance_id,
                                  .runtimes = d->runtimes,
                                  .subnet_pool =
                                      strcmp(c->subnet_pool, "none") != 0 ? c->subnet_pool : NULL,
                                  .ready_timeout_ms = c->ready_timeout_ms,
                                  .max_zip_entries = 10000,
                                  .max_zip_bytes = 256u << 20,
                                  .state_dir = c->state_dir,
                                  .call_timeout_s = c->call_timeout_ms / 1000,
                                  .build_timeout_s = c->build_timeout_s,
                                  .socket_dir = d->socket_dir[0] ? d->socket_dir : NULL,
                                  .swarm = d->swarm,
                                  .registry = c->registry[0] ? c->registry : NULL,
                                  .handler_key = d->handler_key};
    if (lifecycle_create(&lc, &d->lifecycle) < 0)
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    /* What an earlier run of this instance left running is adopted as its
     * functions come back, where it fits; anything else it left is removed
     * before serving. */
    if (lifecycle_recover(d->lifecycle, err) < 0)
        return -1;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    d->signals = (struct loop_watch){
        .fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK), .fn = on_signal, .ctx = d};
    if (d->signals.fd < 0 || loop_add(d->loop, &d->signals, EPOLLIN) < 0)
        return tf_err_set(err, TF_ERR_INTERNAL, "cannot watch signals");
    if (start_fronts(d, err) < 0)
        return -1;
    /* Kept functions come back while the daemon already serves. */
    if (restore_start(d->lifecycle, c->state_dir, &d->restorer) < 0)
        return tf_err_set(err, TF_ERR_INTERNAL, "cannot start bringing kept functions back");
    if (healer_start(d->lifecycle, &d->healer) < 0)
        return tf_err_set(err, TF_ERR_INTERNAL, "cannot start watching the handlers");
    /* Set on this thread before the loop runs: the loop thread is this one. */
    dispatch_set_lost_listener(d->dispatcher, on_handler_lost, d->healer);
    return 0;
}

static void stop(struct daemon *d)
{
    const struct config *c = &d->cfg;
    if (d->loop != NULL)
        loop_close_posts(d->loop); /* deploys under way now fail fast instead of waiting */
    if (d->dispatcher != NULL)
        dispatch_abort_pending(d->dispatcher); /* and so do those waiting for READY */
    if (d->lifecycle != NULL)
        lifecycle_stopping(d->lifecycle); /* or for Swarm to run their tasks */
    restore_stop(d->restorer);
    if (d->dispatcher != NULL)
        dispatch_set_lost_listener(d->dispatcher, NULL, NULL);
    healer_stop(d->healer);
    tf_coap_front_stop(d->coap);
    http_front_stop(d->http);
    dispatcher_destroy(d->dispatcher);
    mgmt_api_stop(d->mgmt);
    if (d->lifecycle != NULL && c->live_restore) {
        log_info("left %zu handler(s) running for the next start to adopt (--live-restore)",
                 lifecycle_leave_running(d->lifecycle));
    } else if (d->lifecycle != NULL) {
        tf_err err = {0};
        if (lifecycle_remove_all(d->lifecycle, &err) < 0)
            log_warn("cleanup: %s", err.msg);
        else
            log_info("removed every container, network and function image of this instance");
    }
    lifecycle_destroy(d->lifecycle);
    runtimes_free(d->runtimes);
    if (d->signals.fd > 0)
        close(d->signals.fd);
    loop_destroy(d->loop);
    docker_close(d->docker);
}

int main(int argc, char **argv)
{
    static struct daemon d;
    int rc = config_load(&d.cfg, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    /* UTF-8 file names in function zips pass through libarchive intact. */
    setlocale(LC_CTYPE, "C.UTF-8");
    log_set_debug(d.cfg.debug);
    metrics_init(!d.cfg.no_metrics);
    /* Signals are taken by the loop's signalfd; every thread started later inherits the mask. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    /* A shell starts background jobs with SIGINT ignored, and an ignored
     * signal never reaches a signalfd: restore the default before blocking. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    docker_global_init();
    tf_err err = {0};
    if (d.cfg.purge) {
        rc = purge(&d, &err);
        if (rc < 0)
            log_error("%s", err.msg);
        docker_global_cleanup();
        return rc < 0 ? 1 : 0;
    }
    if (d.cfg.build_images) {
        rc = build_images(&d, &err);
        if (rc < 0)
            log_error("%s", err.msg);
        runtimes_free(d.runtimes);
        docker_close(d.docker);
        docker_global_cleanup();
        return rc < 0 ? 1 : 0;
    }
    if (start(&d, &err) < 0) {
        log_error("%s", err.msg);
        stop(&d);
        docker_global_cleanup();
        return 1;
    }
    log_info("tinyfaas ready");
    service_notify("READY=1");
    rc = loop_run(d.loop);
    service_notify("STOPPING=1");
    stop(&d);
    docker_global_cleanup();
    return rc < 0 ? 1 : 0;
}
