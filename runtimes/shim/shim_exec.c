/* One child per call: /bin/sh fn.sh with the body on stdin, stdout collected
 * as the reply, stderr copied to the log and kept for a 500. A call is done
 * when the child is reaped and both output pipes reached EOF: only then is
 * all of its output known. */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

struct shim_call {
    struct shim_call *prev, *next;
    struct shim_grave grave;
    struct shim_conn *conn;
    uint32_t id;
    pid_t pid;
    bool exited;
    bool too_big;
    int status;
    struct shim_watch in, out, err;
    char *body;
    size_t body_len, body_off;
    char *out_buf;
    size_t out_len, out_cap;
    char err_buf[SHIM_STDERR_KEEP];
    size_t err_len;
};

static struct shim_call *calls;

#define CALL_OF(ptr, member)                                                                       \
    ((struct shim_call *)((char *)(ptr)-offsetof(struct shim_call, member)))

static void call_destroy(struct shim_grave *g)
{
    struct shim_call *c = CALL_OF(g, grave);
    free(c->body);
    free(c->out_buf);
    free(c);
}

/* Takes c out of the live list and closes its pipes; memory goes after the batch. */
static void call_forget(struct shim_call *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        calls = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    shim_watch_close(&c->in);
    shim_watch_close(&c->out);
    shim_watch_close(&c->err);
    shim_loop_bury(&c->grave);
}

static void call_maybe_done(struct shim_call *c)
{
    if (!c->exited || c->out.fd >= 0 || c->err.fd >= 0)
        return;
    char msg[64];
    const char *body = c->out_buf;
    size_t len = c->out_len;
    uint16_t status = 500;
    if (c->too_big) {
        snprintf(msg, sizeof msg, "fn.sh wrote more than %u bytes", SHIM_MAX_OUTPUT);
        body = msg;
        len = strlen(msg);
    } else if (WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0) {
        status = 200;
    } else if (c->err_len > 0) {
        body = c->err_buf;
        len = c->err_len;
    } else {
        if (WIFSIGNALED(c->status))
            snprintf(msg, sizeof msg, "fn.sh killed by signal %d", WTERMSIG(c->status));
        else
            snprintf(msg, sizeof msg, "fn.sh exited with status %d", WEXITSTATUS(c->status));
        body = msg;
        len = strlen(msg);
    }
    /* Unlink first: the reply may close the connection, which cancels its calls. */
    call_forget(c);
    shim_conn_reply(c->conn, c->id, status, "", body, len);
}

static void on_stdin(struct shim_watch *w, uint32_t events)
{
    struct shim_call *c = CALL_OF(w, in);
    (void)events;
    while (c->body_off < c->body_len) {
        ssize_t n = write(w->fd, c->body + c->body_off, c->body_len - c->body_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n < 0) /* EPIPE: fn.sh need not read its input */
            break;
        c->body_off += (size_t)n;
    }
    shim_watch_close(w); /* EOF tells fn.sh the body is complete */
}

static void on_stdout(struct shim_watch *w, uint32_t events)
{
    struct shim_call *c = CALL_OF(w, out);
    (void)events;
    if (c->out_cap - c->out_len < 16384) {
        size_t cap = c->out_cap == 0 ? 65536 : c->out_cap * 2;
        char *p = realloc(c->out_buf, cap);
        if (p == NULL)
            return; /* stay readable; try again on the next event */
        c->out_buf = p;
        c->out_cap = cap;
    }
    ssize_t n = read(w->fd, c->out_buf + c->out_len, c->out_cap - c->out_len);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n > 0) {
        c->out_len += (size_t)n;
        if (c->out_len <= SHIM_MAX_OUTPUT)
            return;
        c->too_big = true;
        kill(-c->pid, SIGKILL);
    }
    shim_watch_close(w);
    call_maybe_done(c);
}

static void on_stderr(struct shim_watch *w, uint32_t events)
{
    struct shim_call *c = CALL_OF(w, err);
    char buf[SHIM_STDERR_KEEP];
    (void)events;
    ssize_t n = read(w->fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        shim_watch_close(w);
        call_maybe_done(c);
        return;
    }
    /* The shim's stderr is the container log, where operators look first. */
    for (ssize_t off = 0, k; off < n; off += k)
        if ((k = write(STDERR_FILENO, buf + off, (size_t)(n - off))) <= 0)
            break;
    /* Keep the tail: the last lines of a failure say what went wrong. */
    size_t add = (size_t)n;
    if (c->err_len + add > sizeof c->err_buf) {
        size_t drop = c->err_len + add - sizeof c->err_buf;
        drop = drop > c->err_len ? c->err_len : drop;
        memmove(c->err_buf, c->err_buf + drop, c->err_len - drop);
        c->err_len -= drop;
    }
    memcpy(c->err_buf + c->err_len, buf, add);
    c->err_len += add;
}

static int nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

/* Spawns fn.sh with the child ends of the three pipes as its stdio. */
static int spawn(struct shim_call *c, const struct hproto_call *call, int child_fds[3])
{
    struct shim_env env = {0};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, all;
    int rc = shim_env_build(call, &env);
    if (rc != 0)
        return rc;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    for (int i = 0; i < 3; i++)
        posix_spawn_file_actions_adddup2(&fa, child_fds[i], i);
    posix_spawn_file_actions_addchdir_np(&fa, shim_cfg.fn_dir);
    /* Our own fds are O_CLOEXEC; this also drops any the shim inherited. */
    posix_spawn_file_actions_addclosefrom_np(&fa, 3);
    /* The shim blocks signals for its signalfd and ignores SIGPIPE; fn.sh
     * gets a clean slate, and its own process group so that killing the call
     * also kills what fn.sh started. */
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                        POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    char *argv[] = {(char *)shim_cfg.sh, (char *)"fn.sh", NULL};
    rc = -posix_spawn(&c->pid, shim_cfg.sh, &fa, &attr, argv, env.vars);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&fa);
    shim_env_free(&env);
    return rc;
}

static int exec_start(struct shim_conn *conn, const struct hproto_call *call, const char **why)
{
    int p[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
    struct shim_call *c = calloc(1, sizeof *c);
    int rc = -ENOMEM;
    *why = "out of memory";
    if (c == NULL)
        return rc;
    c->conn = conn;
    c->id = call->id;
    c->grave.destroy = call_destroy;
    c->in.fd = c->out.fd = c->err.fd = -1;
    if (call->body.len > 0 && (c->body = malloc(call->body.len)) == NULL)
        goto fail;
    if (call->body.len > 0)
        memcpy(c->body, call->body.ptr, call->body.len);
    c->body_len = call->body.len;
    *why = "cannot make pipes";
    for (int i = 0; i < 3; i++)
        if (pipe2(p[i], O_CLOEXEC) < 0) {
            rc = -errno;
            goto fail;
        }
    /* Only our ends are non-blocking: the flag is per open file, and fn.sh
     * expects ordinary blocking stdio. */
    if ((rc = nonblock(p[0][1])) < 0 || (rc = nonblock(p[1][0])) < 0 ||
        (rc = nonblock(p[2][0])) < 0)
        goto fail;
    int child_fds[3] = {p[0][0], p[1][1], p[2][1]};
    *why = "cannot start fn.sh";
    if ((rc = spawn(c, call, child_fds)) < 0)
        goto fail;
    for (int i = 0; i < 3; i++)
        close(child_fds[i]);
    c->in = (struct shim_watch){p[0][1], on_stdin};
    c->out = (struct shim_watch){p[1][0], on_stdout};
    c->err = (struct shim_watch){p[2][0], on_stderr};
    c->next = calls;
    if (calls != NULL)
        calls->prev = c;
    calls = c;
    /* Failing to watch a pipe would hang the call; closing it gives fn.sh EOF
     * (or EPIPE) and us a prompt reply instead. */
    if (c->body_len == 0 || shim_watch_add(&c->in, EPOLLOUT) < 0)
        shim_watch_close(&c->in);
    if (shim_watch_add(&c->out, EPOLLIN) < 0)
        shim_watch_close(&c->out);
    if (shim_watch_add(&c->err, EPOLLIN) < 0)
        shim_watch_close(&c->err);
    return 0;
fail:
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 2; j++)
            if (p[i][j] >= 0)
                close(p[i][j]);
    free(c->body);
    free(c);
    return rc;
}

static void exec_cancel(struct shim_conn *conn)
{
    struct shim_call *c = calls, *next;
    for (; c != NULL; c = next) {
        next = c->next;
        if (conn != NULL && c->conn != conn)
            continue;
        kill(-c->pid, SIGKILL);
        call_forget(c);
    }
}

static void exec_reap(void)
{
    int status;
    pid_t pid;
    /* Also reaps orphans: in its container the shim is PID 1. */
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (struct shim_call *c = calls; c != NULL; c = c->next) {
            if (c->pid == pid && !c->exited) {
                c->exited = true;
                c->status = status;
                call_maybe_done(c);
                break;
            }
        }
    }
}

static void exec_shutdown(void)
{
    for (struct shim_call *c = calls; c != NULL; c = c->next)
        kill(-c->pid, SIGKILL);
    for (struct shim_call *c = calls; c != NULL; c = c->next)
        if (!c->exited)
            while (waitpid(c->pid, NULL, 0) < 0 && errno == EINTR)
                ;
    exec_cancel(NULL);
}

const struct shim_executor shim_exec_process = {
    .init = NULL,
    .start = exec_start,
    .cancel = exec_cancel,
    .child_exited = exec_reap,
    .shutdown = exec_shutdown,
};
