/* tinyfaas-shim internals: the binary runtime's handler. One thread, one epoll
 * loop; each CALL runs fn.sh in a child process (the binary contract). */
#ifndef TF_SHIM_H
#define TF_SHIM_H

#include "hproto.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHIM_MAX_MESSAGE        (64u << 20) /* largest CALL accepted */
#define SHIM_MAX_OUTPUT         (32u << 20) /* largest stdout a call may produce */
#define SHIM_STDERR_KEEP        4096        /* tail of stderr kept as a 500's message */
#define SHIM_MAX_CALLS_PER_CONN 256u        /* beyond this a CALL is answered 500 at once */

/* Settings read once at start from argv and the environment. */
struct shim_config {
    const char *runtime; /* sent in READY */
    const char *fn_dir;  /* cwd of fn.sh */
    const char *sh;      /* the shell that runs fn.sh */
    int port;
};
extern struct shim_config shim_cfg;

/* ---- shim_loop.c: the one epoll loop ---- */

/* An fd the loop watches and what to do when it is ready. fd is -1 once closed. */
struct shim_watch {
    int fd;
    void (*ready)(struct shim_watch *w, uint32_t events);
};

/* An object whose memory must outlive the current batch of epoll events,
 * because a later event in the batch may still point at it. */
struct shim_grave {
    struct shim_grave *next;
    void (*destroy)(struct shim_grave *g);
};

/* Creates the epoll instance. Return 0 or -errno. */
int shim_loop_init(void);

/* Starts watching w->fd for events (EPOLLIN, EPOLLOUT). Return 0 or -errno. */
int shim_watch_add(struct shim_watch *w, uint32_t events);

/* Changes the events watched on w. Return 0 or -errno. */
int shim_watch_set(struct shim_watch *w, uint32_t events);

/* Stops watching w, closes its fd and sets it to -1; no-op when already closed. */
void shim_watch_close(struct shim_watch *w);

/* Frees g's object through g->destroy once the current event batch is done. */
void shim_loop_bury(struct shim_grave *g);

/* Dispatches events until shim_loop_stop(). Return 0 or -errno from epoll. */
int shim_loop_run(void);

/* Makes shim_loop_run() return after the current batch. */
void shim_loop_stop(void);

/* ---- shim_conn.c: listener and daemon connections ---- */

struct shim_conn;

/* Listens on 0.0.0.0:port and serves every connection. Return 0 or -errno. */
int shim_conn_listen(int port);

/* Sends the REPLY for call id on conn (dropped if conn is broken) and
 * counts the call as finished. */
void shim_conn_reply(struct shim_conn *conn, uint32_t id, uint16_t status, const char *body,
                     size_t len);

/* ---- shim_exec.c: one child per call ---- */

/* Starts fn.sh for call; its REPLY later goes to shim_conn_reply(conn, ...).
 * Return 0, or -errno with *why set to a static reason when nothing started. */
int shim_exec_start(struct shim_conn *conn, const struct hproto_call *call, const char **why);

/* Kills the process groups of conn's calls (NULL: all calls) and forgets the
 * calls without replying; the children are reaped by shim_exec_reap(). */
void shim_exec_cancel(struct shim_conn *conn);

/* Reaps every exited child (on SIGCHLD) and replies for calls that are done. */
void shim_exec_reap(void);

/* Kills every call's process group and waits for the children, before exit. */
void shim_exec_shutdown(void);

/* ---- shim_env.c: the child's environment ---- */

/* An environment for execve(): vars[0..n_own) are ours to free, the rest
 * point into the shim's own environ. */
struct shim_env {
    char **vars;
    size_t n_own;
};

/* Builds fn.sh's environment: the shim's own, minus names the request sets,
 * plus REQUEST_METHOD and HTTP_<NAME> per header. Return 0 or -ENOMEM. */
int shim_env_build(const struct hproto_call *call, struct shim_env *env);

/* Frees what shim_env_build() made. */
void shim_env_free(struct shim_env *env);

#endif
