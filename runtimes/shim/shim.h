/* Shim internals, shared by the runtimes written in C. The core (loop,
 * connections, protocol) runs on one thread with one epoll loop and hands
 * each CALL to an executor: shim_exec.c runs fn.sh in a child process (the
 * binary runtime), shim_pool.c runs a linked-in function on worker threads
 * (the c runtime). Whatever the executor, only the loop thread writes to
 * sockets, and every REPLY goes out through shim_conn_reply(). */
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
#define SHIM_AUTH_MAX_MESSAGE   256u        /* largest message before the PROOF checked out */
#define SHIM_AUTH_MAX_WAITING   16u         /* connections waiting for a PROOF at once */
#define SHIM_AUTH_WAIT_MS       5000        /* how long one may wait */
#define SHIM_AUTH_LOG_EVERY_MS  10000       /* at most a line about refusals this often */

/* Settings read once at start from argv and the environment. */
struct shim_config {
    const char *runtime; /* sent in READY */
    const char *fn_dir;  /* cwd of fn.sh (binary) */
    const char *sh;      /* the shell that runs fn.sh (binary) */
    int port;
    const char *socket_path; /* TINYFAAS_SOCKET: listen there rather than on port */
};
extern struct shim_config shim_cfg;

struct shim_conn;

/* How calls run: the one part that differs between runtimes. Every hook is
 * called on the loop thread. */
struct shim_executor {
    /* Prepares the executor once the loop exists (threads, fds). NULL: none.
     * Return 0, or -errno with *why set to a static reason. */
    int (*init)(const char **why);
    /* Starts call; its REPLY later goes to shim_conn_reply(conn, ...). The
     * call's memory is only valid during start, so the executor copies what
     * it keeps. Return 0, or -errno with *why set when nothing started. */
    int (*start)(struct shim_conn *conn, const struct hproto_call *call, const char **why);
    /* Abandons conn's calls (NULL: all) without replying: conn is closing. */
    void (*cancel)(struct shim_conn *conn);
    /* SIGCHLD arrived. NULL when the executor starts no processes. */
    void (*child_exited)(void);
    /* Before exit: stop what still runs. */
    void (*shutdown)(void);
};

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

/* Counts the batches of events the loop has taken: a new value means the
 * loop thread waited in epoll_wait since it was last read. */
unsigned long shim_loop_batch(void);

/* ---- shim_auth.c: the daemon's proof, when the handler has a secret ---- */

/* A connection's wait for the PROOF of its CHALLENGE; embedded in it. */
struct shim_auth_wait {
    struct shim_auth_wait *prev, *next; /* waiting, oldest first */
    int64_t deadline_us;                /* CLOCK_MONOTONIC */
    bool waiting;
    uint8_t nonce[HPROTO_NONCE_BYTES];
};

/* Reads the secret at $TINYFAAS_SECRET_FILE, if that is set (its bytes, the
 * whitespace at the end stripped), and sets the timer of the waits. After
 * shim_loop_init(). Return 0, or -errno with *why set. */
int shim_auth_init(const char **why);

/* Sets what closes the connection of a wait that ends without a proof. */
void shim_auth_set_expire(void (*expire)(struct shim_auth_wait *w));

/* Whether connections must authenticate: a secret was given. */
bool shim_auth_on(void);

/* Starts w's wait: a new nonce, its CHALLENGE appended to out, a deadline.
 * When SHIM_AUTH_MAX_WAITING already wait, the oldest is expired. Return 0
 * or -errno. */
int shim_auth_begin(struct shim_auth_wait *w, msgpack_sbuffer *out);

/* Ends w's wait; whether msg is the PROOF of its nonce under the secret. */
bool shim_auth_check(struct shim_auth_wait *w, const struct hproto_msg *msg);

/* Ends w's wait, if it still waits (its connection closes). */
void shim_auth_end(struct shim_auth_wait *w);

/* Says on stderr why a connection was closed unauthenticated, at most a
 * line every SHIM_AUTH_LOG_EVERY_MS (a stranger must not fill the log). */
void shim_auth_refused(const char *why);

/* ---- shim_run.c: start-up shared by every runtime ---- */

/* Reads TINYFAAS_PORT, sets up signals, the executor and the listener, and
 * runs the loop until SIGTERM or SIGINT. shim_cfg.runtime must be set.
 * Return the process exit status. */
int shim_run(const struct shim_executor *ex);

/* ---- shim_conn.c: listener and daemon connections ---- */

/* Listens on the unix socket at path (created anew), or, when path is
 * NULL, on 0.0.0.0:port, and hands every CALL to ex. Return 0 or -errno. */
int shim_conn_listen(int port, const char *path, const struct shim_executor *ex);

/* Queues the REPLY for call id on conn (dropped if conn is broken) and counts
 * the call as finished. content_type may be "" (the daemon assumes text/plain).
 * It is sent by shim_conn_flush_pending() at the end of the loop iteration. */
void shim_conn_reply(struct shim_conn *conn, uint32_t id, uint16_t status, const char *content_type,
                     const char *body, size_t len);

/* Writes what every connection queued in this loop iteration; the loop calls
 * it after each batch of events, before buried objects are freed. */
void shim_conn_flush_pending(void);

/* ---- shim_exec.c: one child per call (binary) ---- */

/* Runs fn.sh (shim_cfg.sh, in shim_cfg.fn_dir) in its own process group per
 * call; cancel kills the group, and children are reaped on SIGCHLD. */
extern const struct shim_executor shim_exec_process;

/* ---- shim_pool.c: calls run in-process on worker threads (c) ---- */

/* What a function produced. The pool frees content_type and body (both from
 * malloc, either may be NULL) after the reply is sent. */
struct shim_result {
    uint16_t status;
    char *content_type;
    char *body;
    size_t len;
};

/* Runs one call on a worker thread. In the copy it gets, every string
 * (method, header names and values, body) is followed by a NUL byte. */
typedef void (*shim_pool_fn)(const struct hproto_call *call, struct shim_result *res);

/* Sets the function, the number of worker threads, and whether quick calls
 * may run on the loop thread; before shim_run(). */
void shim_pool_configure(shim_pool_fn fn, unsigned threads, bool allow_inline);

/* Queues each call for the next free worker; a worker's result reaches the
 * loop through an eventfd. A function whose calls all prove quick runs on the
 * loop thread instead (see shim_pool.c). A running call cannot be stopped:
 * cancel only drops queued calls and discards the results of running ones. */
extern const struct shim_executor shim_exec_pool;

/* ---- shim_meter.c: what a call cost its thread ---- */

/* A thread's context switches and CPU time at the start of a span. */
struct shim_meter {
    long voluntary, preempted;
    int64_t cpu_us;
};

/* What a span held its thread. */
struct shim_held {
    int64_t us;     /* what the function is to blame for, in µs */
    bool slept;     /* it blocked (a voluntary switch): us is the wall time */
    bool preempted; /* it waited for a CPU: us is its CPU time, switches included */
};

int64_t shim_now_us(void); /* CLOCK_MONOTONIC */

/* Marks the start of a span on the calling thread. */
void shim_meter_start(struct shim_meter *m);

/* Of took_us of wall time since m started (on the same thread), the part the
 * function is to blame for: all of it when the thread slept, else only the
 * CPU time it had. */
struct shim_held shim_meter_held(const struct shim_meter *m, int64_t took_us);

/* ---- shim_inline.c: whether calls run on the loop thread ---- */

enum shim_inline_mode {
    SHIM_INLINE_LEARNING, /* on workers, timed */
    SHIM_INLINE_ON,       /* on the loop thread */
    SHIM_INLINE_OFF,      /* on workers, for good */
};

/* Starts learning, or (allowed false) keeps calls on the workers. */
void shim_inline_configure(bool allowed);

/* The mode the next call runs in; on the loop thread. */
enum shim_inline_mode shim_inline_mode(void);

/* What a learning call held its worker thread; from any worker thread. */
void shim_inline_learned(struct shim_held held);

/* A call that ran on the loop thread took took_us; batch was started before
 * the first call of the current batch of events. On the loop thread. */
void shim_inline_ran(int64_t took_us, const struct shim_meter *batch);

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
