/* Function lifecycle, the control path: validate, unpack, build, start, wait
 * ready, publish the route, retire the old version; and delete, wipe, list,
 * logs. Called from management threads: changes to one function are done
 * one at a time, in the order they came; changes to different functions,
 * builds included (as many at once as there are cores), go on side by side.
 * It may block on Docker; the data path never waits for it. */
#ifndef TF_LIFECYCLE_H
#define TF_LIFECYCLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "dispatch.h"
#include "docker.h"
#include "err.h"
#include "runtimes.h"

struct lifecycle;

struct lifecycle_config {
    struct docker *docker;
    struct dispatcher *dispatcher;
    const char *instance_id; /* labels every object this daemon makes */
    struct runtimes *runtimes;
    int ready_timeout_ms;    /* how long handlers may take to say ready */
    const char *subnet_pool; /* "10.201.0.0/16": each function's network a /25 of it;
                              * NULL: the engine's own pools (about 31 networks) */
    size_t max_zip_entries;
    size_t max_zip_bytes;
    const char *state_dir; /* where deployed functions are kept (store.h); NULL: nowhere */
    int call_timeout_s;    /* a function's call timeout unless its upload sets one */
    int build_timeout_s;   /* how long a build's compile or install may run */
    /* Handlers listen on unix sockets in folders below this one (absolute),
     * each bind-mounted into its container; NULL: on TCP, reached over the
     * function's network (an engine on another machine). */
    const char *socket_dir;
    /* Each function a Swarm service across the swarm's nodes
     * (lifecycle_swarm.c), not containers on this engine. */
    bool swarm;
    const char *registry; /* HOST:PORT the swarm's nodes pull images from; NULL: none */
    /* Each service's handler secret is derived from this text (64 hex
     * digits, kept in the state dir), so a restarted daemon knows those of
     * the services it adopts. */
    const char *handler_key;
};

struct deploy_spec {
    const char *name;
    const char *env;
    long long threads;
    const unsigned char *zip;
    size_t zip_len;
    const char *subfolder;   /* NULL or "": the whole zip */
    const char *const *envs; /* "KEY=VALUE" */
    size_t n_envs;
    long long memory_mb;            /* per handler container; 0: LIFECYCLE_DEFAULT_MEMORY_MB */
    double cpus;                    /* per handler container; 0: no limit */
    long long timeout_s;            /* a call's time to answer; 0: the daemon's --call-timeout */
    long long concurrency;          /* most calls in flight per handler; 0: no limit */
    const char *const *constraints; /* Swarm placement: "node.labels.site==north" */
    size_t n_constraints;
    bool restoring; /* from the store at start: skipped when the name was deployed meanwhile */
};

#define LIFECYCLE_THREADS_MAX       64 /* handler containers per function */
#define LIFECYCLE_CONSTRAINTS_MAX   16 /* Swarm placement constraints per function */
#define LIFECYCLE_DEFAULT_MEMORY_MB 128
#define LIFECYCLE_PIDS_LIMIT        256 /* processes and threads per handler container */
/* Handlers run as this user and group ("nobody" in Debian's images), never as
 * root: a function's code owns nothing in its container but /tmp and its socket. */
#define LIFECYCLE_HANDLER_UID 65534

/* Whether socket_dir can hold the unix transport's socket folders: each is
 * a tmpfs of its own, which takes a daemon allowed to mount (root). */
int lifecycle_check_socket_dir(const char *socket_dir, tf_err *err);

/* Unmounts and removes the socket folders an earlier run left below
 * socket_dir, when the daemon now reaches its handlers over TCP. */
void lifecycle_clear_unused_sockets(const char *socket_dir);

/* Creates the lifecycle; it keeps pointers into cfg's strings. */
int lifecycle_create(const struct lifecycle_config *cfg, struct lifecycle **out);

/* Frees the lifecycle (does not touch Docker: see lifecycle_remove_all). */
void lifecycle_destroy(struct lifecycle *lc);

/* Deploys (or replaces) a function; returns 0 once it serves. On failure,
 * -1 with err set, nothing new is left behind and a previous version keeps
 * serving. A spec restoring one returns 1 when there is nothing to bring
 * back: it was deleted, or uploaded anew, meanwhile. */
int lifecycle_deploy(struct lifecycle *lc, const struct deploy_spec *spec, tf_err *err);

/* Runs name on threads handler containers, starting or removing some, with
 * no new build and no call lost. TF_ERR_NOT_FOUND when unknown. */
int lifecycle_scale(struct lifecycle *lc, const char *name, long long threads, tf_err *err);

/* Replaces every handler container of a deployed function that is not
 * running (it died, was killed, or the engine restarted), or that runs but
 * has not served again since the dispatcher lost its connection
 * (dispatch_broken_handlers), without stopping the live ones. Returns how
 * many were replaced, or -1 with err set when the engine cannot be asked;
 * *failed tells whether a replacement failed (the next round tries it
 * again). On Swarm, which replaces tasks itself, it follows the swarm
 * instead (lifecycle_swarm_heal) and replaces none. */
int lifecycle_heal(struct lifecycle *lc, bool *failed, tf_err *err);

/* How often lifecycle_heal is due when nothing pokes it: every
 * HEALER_PERIOD_MS on one engine, where a dead handler's lost connection
 * is the cue; every LIFECYCLE_SWARM_FOLLOW_MS on Swarm, which moves and
 * restarts tasks on its own and tells no connection about the new ones. */
#define LIFECYCLE_SWARM_FOLLOW_MS 2000
int lifecycle_heal_period_ms(const struct lifecycle *lc);

/* Stops routing to name, then removes its containers, network and image. TF_ERR_NOT_FOUND when
 * unknown. */
int lifecycle_delete(struct lifecycle *lc, const char *name, tf_err *err);

/* Deletes every function. */
int lifecycle_wipe(struct lifecycle *lc, tf_err *err);

/* [{"name", "env", "threads", "envs", "memory_mb", "cpus", "timeout_s",
 * "concurrency", "constraints"}] of the deployed functions, in name order;
 * on Swarm also "replicas": [{"node", "task", "address"}]. */
json_t *lifecycle_list(struct lifecycle *lc);

/* Called per line of handler output, already formatted "function=N handler=ID TEXT". */
typedef void lifecycle_log_fn(void *ctx, const char *line, size_t len);

/* The output of name's handlers (every function's when name is NULL), written
 * at or after since (seconds since the epoch; 0: all), each line's text
 * starting with its time when timestamps is set. TF_ERR_NOT_FOUND when unknown. */
int lifecycle_logs(struct lifecycle *lc, const char *name, double since, bool timestamps,
                   lifecycle_log_fn *fn, void *ctx, tf_err *err);

/* At start-up: takes note of the handlers of kept functions that the last
 * run left running (stopped with --live-restore, or killed), for their
 * functions to adopt as they come back (lifecycle_deploy with restoring),
 * and removes every other container labelled with this daemon's instance
 * id, and every function network and image but those of the functions kept
 * in the state dir, which bring them back with no build. Does not use the
 * dispatcher. */
int lifecycle_recover(struct lifecycle *lc, tf_err *err);

/* Once the kept functions are back: removes the handlers left running that
 * none adopted. */
void lifecycle_restore_done(struct lifecycle *lc);

/* At shutdown, first: deploys waiting for their handlers to run give up. */
void lifecycle_stopping(struct lifecycle *lc);

/* At shutdown: as lifecycle_recover, but removes every container. */
int lifecycle_remove_all(struct lifecycle *lc, tf_err *err);

/* At shutdown with --live-restore: leaves every handler running, and its
 * socket folder mounted, for the next start to adopt. Returns how many. */
size_t lifecycle_leave_running(struct lifecycle *lc);

/* As lifecycle_remove_all, the kept functions' images included (tinyfaas --purge). */
int lifecycle_purge(struct lifecycle *lc, tf_err *err);

#endif
