/* Start-up shared by every runtime built on the shim: port, signals, fd
 * limits, executor, listener, then the loop until SIGTERM. */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

struct shim_config shim_cfg;

static struct shim_watch signals = {-1, NULL};
static const struct shim_executor *run_ex;

static int parse_port(const char *s)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 1 || v > 65535)
        return -1;
    return (int)v;
}

static void on_signal(struct shim_watch *w, uint32_t events)
{
    struct signalfd_siginfo si;
    (void)events;
    while (read(w->fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGCHLD) {
            if (run_ex->child_exited != NULL)
                run_ex->child_exited();
        } else {
            shim_loop_stop();
        }
    }
}

/* Signals arrive through a signalfd so they are handled in the loop, between
 * events, instead of interrupting it. Worker threads started later inherit
 * the blocked mask, so these signals never land on them either. */
static int signals_init(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigprocmask(SIG_BLOCK, &set, NULL) < 0)
        return -errno;
    /* A daemon that hangs up mid-reply must not kill the shim; send() and
     * pipe writes report EPIPE instead. */
    signal(SIGPIPE, SIG_IGN);
    int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (fd < 0)
        return -errno;
    signals = (struct shim_watch){fd, on_signal};
    return shim_watch_add(&signals, EPOLLIN);
}

/* A pipe must never land on fd 0-2, where dup2 onto itself would keep
 * O_CLOEXEC and fn.sh would start without stdio; and a function's printf
 * must never reach a socket. */
static void stdio_guard(void)
{
    int fd;
    while ((fd = open("/dev/null", O_RDWR)) >= 0 && fd <= 2)
        ;
    if (fd > 2)
        close(fd);
}

/* Up to three fds per call in flight: lift the soft limit as far as allowed. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int shim_run(const struct shim_executor *ex)
{
    const char *port = getenv("TINYFAAS_PORT");
    const char *why = "setup";
    run_ex = ex;
    const char *socket_path = getenv("TINYFAAS_SOCKET");
    shim_cfg.port = port != NULL && port[0] != '\0' ? parse_port(port) : HPROTO_DEFAULT_PORT;
    shim_cfg.socket_path = socket_path != NULL && socket_path[0] != '\0' ? socket_path : NULL;
    if (shim_cfg.port < 0) {
        fprintf(stderr, "tinyfaas-shim: TINYFAAS_PORT=%s is not a port\n", port);
        return 2;
    }
    stdio_guard();
    raise_fd_limit();
    int rc = shim_loop_init();
    if (rc == 0)
        rc = signals_init();
    if (rc == 0)
        rc = shim_auth_init(&why);
    if (rc == 0 && ex->init != NULL)
        rc = ex->init(&why);
    if (rc < 0) {
        fprintf(stderr, "tinyfaas-shim: %s: %s\n", why, strerror(-rc));
        return 1;
    }
    char where[160];
    if (shim_cfg.socket_path != NULL)
        snprintf(where, sizeof where, "socket %s", shim_cfg.socket_path);
    else
        snprintf(where, sizeof where, "port %d", shim_cfg.port);
    if ((rc = shim_conn_listen(shim_cfg.port, shim_cfg.socket_path, ex)) < 0) {
        fprintf(stderr, "tinyfaas-shim: listen on %s: %s\n", where, strerror(-rc));
        return 1;
    }
    fprintf(stderr, "tinyfaas-shim: %s runtime on %s%s\n", shim_cfg.runtime, where,
            shim_auth_on() ? ", the daemon to prove the secret" : "");
    rc = shim_loop_run();
    ex->shutdown();
    if (rc < 0) {
        fprintf(stderr, "tinyfaas-shim: epoll: %s\n", strerror(-rc));
        return 1;
    }
    return 0;
}
