/* Shared by the lifecycle's files: the record of what a deploy made, and
 * the lifecycle's own state. Not for use outside core/lifecycle*.c. */
#ifndef TF_LIFECYCLE_INTERNAL_H
#define TF_LIFECYCLE_INTERNAL_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "dispatch.h"
#include "docker.h"
#include "fnzip.h"
#include "lifecycle.h"
#include "names.h"
#include "runtimes.h"

#define LABEL_INSTANCE "tinyfaas.instance"
#define LABEL_FUNCTION "tinyfaas.function"
#define LABEL_VERSION  "tinyfaas.version"
#define LABEL_DIGEST   "tinyfaas.digest"  /* on images: what they were built from */
#define LABEL_HANDLER  "tinyfaas.handler" /* on handlers: the digest of their settings */
#define LABEL_INDEX    "tinyfaas.index"   /* on handlers: which of their function's */

/* What the daemon made for one deployed version of a function. */
struct function_record {
    char name[NAME_MAX_LEN + 1];
    char env[32];
    int threads;
    json_t *envs;        /* array of "K=V" */
    long long memory_mb; /* per handler container */
    double cpus;         /* per handler container; 0: no limit */
    int timeout_s;       /* a call's time to answer */
    int concurrency;     /* most calls in flight per handler; 0: no limit */
    unsigned version;    /* labels this version's images, intermediate ones too */
    char prefix[128];    /* of its containers' names: unique per version */
    char image[160];
    char base[256];      /* the runtime image it is built on */
    char digest[65];     /* sha256 of what its image is built from (lifecycle_build.c) */
    char network[128];   /* its function's: tinyfaas-INSTANCE-NAME */
    json_t *constraints; /* array of Swarm placement constraints */
    char (*containers)[DOCKER_ID_MAX];
    size_t n_containers;
    /* On Swarm (lifecycle_swarm.c): the service of this version, its
     * secret, its image by digest, and the replicas calls are routed to. */
    char service_name[64];
    char service[DOCKER_ID_MAX];
    char secret[DOCKER_ID_MAX];
    char image_ref[DOCKER_REF_MAX];
    struct replica *replicas;
    size_t n_replicas;
    bool follow_failing; /* the last heal round could not follow it: told once */
    unsigned started;    /* lifecycle.starts when its last handler was started */
    struct function_record *next;
};

/* A task of a function's service that calls are routed to. */
struct replica {
    char task[DOCKER_ID_MAX];
    char node[64]; /* its node's hostname */
    struct dispatch_endpoint ep;
};

/* A handler the last run left running, which its function may adopt. */
struct leftover {
    char id[DOCKER_ID_MAX];
    char name[NAME_MAX_LEN + 1];
    char digest[65]; /* of its settings: LABEL_HANDLER */
    unsigned version;
    size_t index;
};

/* A name held by a change under way (lifecycle_holds.c); on its holder's stack. */
struct name_hold {
    char name[NAME_MAX_LEN + 1];
    struct name_hold *next;
};

struct lifecycle {
    struct lifecycle_config cfg;
    pthread_mutex_t table_lock; /* guards records and version */
    struct function_record *records;
    unsigned version; /* makes every deploy's object names unique */
    /* Counts handler starts: a heal leaves alone what started after it
     * listed the running containers (function_record.started). */
    atomic_uint starts;
    pthread_mutex_t hold_lock; /* guards holds and build_slots */
    pthread_cond_t released;   /* a name or a build slot was given back */
    struct name_hold *holds;   /* held and awaited names, in the order asked for */
    int build_slots;           /* builds that may start now */
    /* Handlers the last run left running, until adopted or removed
     * (lifecycle_adopt.c); under table_lock. */
    struct leftover *leftovers;
    size_t n_leftovers;
    atomic_bool stopping;     /* the daemon shuts down: waits for replicas end */
    pthread_mutex_t net_lock; /* one network made at a time: subnets differ */
    uint32_t next_subnet;     /* where the next /25 search starts, under net_lock */
};

/* ---- lifecycle_holds.c: names held by changes, and build slots ---- */

void lifecycle_holds_init(struct lifecycle *lc);
void lifecycle_holds_destroy(struct lifecycle *lc);

/* Waits until the changes to name asked for before are done, then holds it in h. */
void lifecycle_hold_name(struct lifecycle *lc, const char *name, struct name_hold *h);

/* Holds name in h when no change holds it or waits for it; false otherwise. */
bool lifecycle_try_hold_name(struct lifecycle *lc, const char *name, struct name_hold *h);

void lifecycle_release_name(struct lifecycle *lc, struct name_hold *h);

/* At most as many builds at once as there are cores. */
void lifecycle_take_build_slot(struct lifecycle *lc);
void lifecycle_give_build_slot(struct lifecycle *lc);

/* ---- lifecycle.c: the table of records ---- */

/* Gives r version and the names that go with it. */
void lifecycle_set_version(struct lifecycle *lc, struct function_record *r, unsigned version);

/* The record of name, or NULL. Caller holds table_lock. */
struct function_record *lifecycle_find_record(struct lifecycle *lc, const char *name);

/* The record of name, or NULL, for a caller that holds name: it stays until
 * the caller changes it. */
struct function_record *lifecycle_held_record(struct lifecycle *lc, const char *name);

/* The names of the deployed functions, in name order, malloc'd; *n their number. */
char (*lifecycle_names(struct lifecycle *lc, size_t *n))[NAME_MAX_LEN + 1];

/* The limits r's calls are dispatched with. */
static inline struct dispatch_limits record_limits(const struct function_record *r)
{
    return (struct dispatch_limits){r->timeout_s * 1000, (unsigned)r->concurrency};
}

/* ---- lifecycle_validate.c ---- */

/* Refuses (TF_ERR_INVALID) a spec whose name, env, threads, envs or limits
 * are out of bounds. */
int lifecycle_validate(const struct lifecycle *lc, const struct deploy_spec *s, tf_err *err);

/* ---- lifecycle_build.c ---- */

/* What unpacking the user's code told about it. */
struct code_facts {
    const struct runtime *rt;
    bool has_entry; /* the runtime's entry file is at the top */
    bool has_deps;  /* the function declares dependencies to install */
};

/* Unpacks the user's zip under fn/ of a new build context t; the Dockerfile
 * is added later, once the base image is known. */
int lifecycle_unpack_code(struct lifecycle *lc, const struct deploy_spec *s, struct tarbuf *t,
                          struct code_facts *facts, tf_err *err);

/* Builds r's image (r->image) from the unpacked code in t, which it closes,
 * unless an image of what it is built from (r->digest) is there already:
 * *cached tells. A failed build is TF_ERR_BUILD with the tool's own error lines. */
int lifecycle_build_image(struct lifecycle *lc, const struct deploy_spec *s,
                          struct function_record *r, struct tarbuf *t,
                          const struct code_facts *facts, bool *cached, tf_err *err);

/* ---- lifecycle_cache.c: function images kept as a cache ---- */

/* sha256 (hex) of everything s's image is built from, with base and builder
 * the runtime images' references. */
void lifecycle_image_digest(const struct deploy_spec *s, const struct code_facts *facts,
                            const char *base, const char *builder, char out[65]);

/* sha256 (hex) of what a handler container is made with but its name,
 * labels and socket folder, and of the transport; -1 out of memory. */
int lifecycle_handler_digest(const struct docker_container_spec *cs, bool unix_transport,
                             char out[65]);

/* sha256 (hex) of text. */
void lifecycle_text_digest(const char *text, char out[65]);

/* Sets r->image, the tag of the image built from r->digest. */
void lifecycle_image_tag(const struct lifecycle *lc, struct function_record *r);

/* ---- lifecycle_network.c ---- */

/* Gives r its function's own network (r->network), kept across versions and
 * restarts like its image, made when there is none. With a subnet pool, a
 * /25 of it (126 handlers at most, 64 needed): Docker's default pools hold
 * only about 31 networks, fewer than the functions of a busy gateway. The
 * caller holds r's name. */
int lifecycle_ensure_network(struct lifecycle *lc, struct function_record *r, tf_err *err);

/* Removes name's network (the function is deleted, or never came to serve). */
void lifecycle_remove_network(struct lifecycle *lc, const char *name);

/* ---- lifecycle_objects.c ---- */

/* The labels of every object of name's version: {"tinyfaas.instance", ...}. */
json_t *lifecycle_labels(struct lifecycle *lc, const char *name, unsigned version);

/* Those of r's images: the version's, and the digest that finds them again. */
json_t *lifecycle_image_labels(struct lifecycle *lc, const struct function_record *r);

/* Removes what a version of a function has of its own: its containers and
 * socket folders; every step runs even if one fails. The function's network
 * and images are kept across versions and restarts: see
 * lifecycle_remove_network and lifecycle_remove_images. */
void lifecycle_remove_objects(struct lifecycle *lc, const struct function_record *r);

/* Which of a function's images lifecycle_remove_images removes. */
enum image_pick {
    IMAGES_ALL,        /* every one (the function is deleted) */
    IMAGES_OF_DIGEST,  /* those built from digest (a failed build's) */
    IMAGES_BUT_DIGEST, /* all but those (a version now serves from digest) */
};

/* Removes name's images, the intermediate ones of multi-stage builds and of
 * failed builds included, as pick says. */
void lifecycle_remove_images(struct lifecycle *lc, const char *name, enum image_pick pick,
                             const char *digest);

/* ---- lifecycle_handlers.c ---- */

/* What every handler of r is made with but its name, index and socket
 * folder; the strings point into it and into r. */
struct handler_settings {
    char user[32];
    char fn_env[NAME_MAX_LEN + 32];
    const char **env;
    json_t *labels;
    struct docker_container_spec cs;
    char digest[65]; /* of cs: a container left running with the same is adopted */
};

int lifecycle_handler_settings(struct lifecycle *lc, const struct function_record *r,
                               struct handler_settings *h, tf_err *err);
void lifecycle_handler_settings_free(struct handler_settings *h);

/* Creates and starts r's handler containers from..to-1 (ids into
 * r->containers), filling eps[from..to) with their addresses. */
int lifecycle_start_handlers(struct lifecycle *lc, struct function_record *r, size_t from,
                             size_t to, struct dispatch_endpoint *eps, tf_err *err);

/* Where the dispatcher reaches handler i of r, which runs. */
int lifecycle_handler_endpoint(struct lifecycle *lc, const struct function_record *r, size_t i,
                               struct dispatch_endpoint *ep, tf_err *err);

/* The digest of r's handlers' settings (lifecycle_handler_digest); "" out of memory. */
void lifecycle_handlers_digest(struct lifecycle *lc, const struct function_record *r, char out[65]);

/* Removes r's handlers from..to-1 and their socket folders. */
void lifecycle_remove_handlers(struct lifecycle *lc, struct function_record *r, size_t from,
                               size_t to);

/* ---- lifecycle_adopt.c: handlers kept running across a restart ---- */

/* Takes note of the running handlers of kept functions (the last run's
 * leftovers, to adopt) and removes the instance's other containers; versions
 * made from now on are above the leftovers'. */
int lifecycle_sort_leftovers(struct lifecycle *lc, tf_err *err);

/* Adopts for r, a function coming back, the leftovers made with the settings
 * its handlers have now: sets r's version, and for each adopted handler i
 * its container and eps[i]; adopted[i] tells which. Returns how many. */
size_t lifecycle_adopt_handlers(struct lifecycle *lc, struct function_record *r,
                                struct dispatch_endpoint *eps, bool *adopted);

/* Removes the leftovers not adopted: name's, or all of them (name NULL). */
void lifecycle_drop_leftovers(struct lifecycle *lc, const char *name);

/* ---- lifecycle_sockets.c: the unix transport's socket folders ---- */

/* Where each handler's socket folder is mounted in its container. */
#define HANDLER_SOCKET_MOUNT "/run/tinyfaas"

/* Handler i's socket folder on the host: short, since a socket's path has
 * at most 107 bytes, and unique, since versions never repeat in a run. */
void lifecycle_socket_dir(const struct lifecycle *lc, const struct function_record *r, size_t i,
                          char *out, size_t size);

/* Makes handler i's socket folder, a small tmpfs only the handlers' user may
 * write to, and its bind mount ("HOST:CONTAINER"). */
int lifecycle_make_socket_dir(struct lifecycle *lc, const struct function_record *r, size_t i,
                              char *bind, size_t size, tf_err *err);

/* Whether the socket folder "VERSION.INDEX" is a leftover's. */
bool lifecycle_is_leftover_dir(struct lifecycle *lc, const char *dir_name);

/* Removes the socket folder of a leftover handler (unix transport). */
void lifecycle_remove_leftover_socket_dir(struct lifecycle *lc, const struct leftover *l);

/* Removes the socket folders of r's handlers from..to-1 (unix transport). */
void lifecycle_remove_socket_dirs(struct lifecycle *lc, const struct function_record *r,
                                  size_t from, size_t to);

/* Empties the socket folder but for the leftovers' folders: what a killed
 * earlier run left there. */
void lifecycle_clear_socket_dirs(struct lifecycle *lc);

/* ---- lifecycle_swarm.c: functions as Swarm services (and
 * lifecycle_swarm_follow.c: scale, heal, logs) ---- */

/* What the swarm runs: tasks and nodes. */
struct swarm_view {
    struct docker_task *tasks;
    size_t n_tasks;
    struct docker_node *nodes;
    size_t n_nodes;
};

/* The tasks matching key=value ("service" and an id, "label" and "k=v"), and the nodes. */
int lifecycle_swarm_view_load(struct lifecycle *lc, const char *key, const char *value,
                              struct swarm_view *v, tf_err *err);
void lifecycle_swarm_view_free(struct swarm_view *v);

/* Fills out[0..max) with the replicas of r's service that serve: running
 * as the manager wants, their port published, on a node that is up (a
 * task on a node that went down still says running). Returns how many. */
size_t lifecycle_swarm_usable(const struct lifecycle *lc, const struct function_record *r,
                              const struct swarm_view *v, struct replica *out, size_t max);

/* Makes r's secret and service (r->service, r->secret), as r says. */
int lifecycle_swarm_create(struct lifecycle *lc, struct function_record *r, tf_err *err);

/* Waits for r's replicas (r->threads), then routes calls to them:
 * publishes (the old route's calls drain first) or reroutes. */
int lifecycle_swarm_serve(struct lifecycle *lc, struct function_record *r, bool reroute,
                          int ready_ms, tf_err *err);

/* Routes calls to the n replicas reps (malloc'd, taken), and keeps them in r. */
int lifecycle_swarm_route(struct lifecycle *lc, struct function_record *r, struct replica *reps,
                          size_t n, bool reroute, int ready_ms, tf_err *err);

/* Removes a service and its secret (each by name or id; "": none), and
 * waits (bounded) until its tasks are gone. */
void lifecycle_swarm_remove_service(struct lifecycle *lc, const char *name, const char *service,
                                    const char *secret);

/* Sets r->service_name from r's name and version. */
void lifecycle_swarm_name(const struct lifecycle *lc, struct function_record *r);

/* Makes r's service, or adopts the one the last run left (restoring) when
 * it was made as r's would be now (*adopted: its replicas), waits until
 * its replicas run, and routes calls to them. */
int lifecycle_swarm_start(struct lifecycle *lc, struct function_record *r, bool restoring,
                          size_t *adopted, tf_err *err);

/* Removes r's service and secret, and waits (bounded) until its tasks are
 * gone, so that its network can go too. */
void lifecycle_swarm_remove(struct lifecycle *lc, const struct function_record *r);

/* Runs r on n replicas, with no call lost: more in place, fewer as a new
 * version of its service that takes over once it serves. */
int lifecycle_swarm_scale(struct lifecycle *lc, struct function_record *r, size_t n, tf_err *err);

/* Follows the swarm: routes each function's calls to the replicas that
 * serve now (Swarm restarted or moved some, a node went down), and makes a
 * service removed by hand again. Each function that changed says so in
 * the log. Returns 0 (Swarm replaces tasks, the daemon none), or -1 with
 * err set when the engine cannot be asked. */
int lifecycle_swarm_heal(struct lifecycle *lc, bool *failed, tf_err *err);

/* Removes the instance's secrets but those of the services in keep. */
int lifecycle_swarm_remove_secrets(struct lifecycle *lc, const struct leftover *keep, size_t n,
                                   tf_err *err);

/* Removes a service the last run left, and its secret. */
void lifecycle_swarm_remove_leftover(struct lifecycle *lc, const struct leftover *l);

/* Removes the services ids[0..n), and waits (bounded) until their tasks
 * are gone, so that their networks can go too. */
int lifecycle_swarm_remove_services(struct lifecycle *lc, char (*ids)[DOCKER_ID_MAX], size_t n,
                                    tf_err *err);

/* Removes every service and secret of the instance (stopping). */
int lifecycle_swarm_remove_all(struct lifecycle *lc, tf_err *err);

/* The output of r's replicas, wherever they ran. */
int lifecycle_swarm_logs(struct lifecycle *lc, const char *name, const char *service, double since,
                         bool timestamps, lifecycle_log_fn *fn, void *ctx, tf_err *err);

#endif
