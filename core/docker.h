/* Docker backend: the only code that speaks the Docker Engine API. Every
 * call uses its own libcurl handle, so one struct docker may be shared by
 * threads once opened. Objects are found again by their labels. */
#ifndef TF_DOCKER_H
#define TF_DOCKER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define DOCKER_ID_MAX 72 /* 64 hex digits of an id, or a name, plus NUL */

struct docker;

/* Starts libcurl once per process, before any thread: docker_open calls it
 * too, as libcurl counts the calls. */
void docker_global_init(void);

/* Undoes docker_global_init, once no struct docker is left. */
void docker_global_cleanup(void);

/* Connects to host ("unix:///path" or "tcp://host:port"; NULL means
 * $DOCKER_HOST, else unix:///var/run/docker.sock) and negotiates the API
 * version from GET /version. */
int docker_open(struct docker **out, const char *host, tf_err *err);
void docker_close(struct docker *d);

/* The negotiated API version, such as "1.41". */
const char *docker_api_version(const struct docker *d);

/* True when the engine is reached over a unix socket, so it runs on this
 * machine and its containers can mount this machine's folders. */
bool docker_is_local(const struct docker *d);

/* 1 when the engine maps container users to others on the host
 * (userns-remap), 0 when not, negative on error. */
int docker_remaps_users(struct docker *d, tf_err *err);

/* Called with each progress line of a build (the "stream" text, trimmed). */
typedef void docker_progress_fn(void *ctx, const char *line);

/* Builds tag from an uncompressed tar context holding a Dockerfile, with the
 * given labels ({"k":"v"} object, or NULL: none). The engine's legacy builder
 * applies them in a step of their own after the Dockerfile's last, which
 * costs about 0.1 s; LABEL lines in the Dockerfile cost none extra when they
 * stand in for that step. A failed build is TF_ERR_BUILD with the
 * builder's own error message; intermediate containers are always removed. */
int docker_image_build(struct docker *d, const void *tar, size_t tar_len, const char *tag,
                       json_t *labels, docker_progress_fn *progress, void *ctx, tf_err *err);

/* 1 when the image exists, 0 when not, negative on error. */
int docker_image_exists(struct docker *d, const char *ref, tf_err *err);

/* Removes an image (forced, children pruned). A missing image is success. */
int docker_image_remove(struct docker *d, const char *ref, tf_err *err);

/* Creates a bridge network on subnet ("10.201.0.0/25"; NULL: the engine's
 * choice); id_out gets its id. A subnet in use is TF_ERR_CONFLICT. */
int docker_network_create(struct docker *d, const char *name, const char *subnet, json_t *labels,
                          char id_out[DOCKER_ID_MAX], tf_err *err);

/* 1 when a network of that name or id exists, 0 when not, negative on error. */
int docker_network_exists(struct docker *d, const char *name, tf_err *err);

/* Removes a network. A missing network is success. */
int docker_network_remove(struct docker *d, const char *id, tf_err *err);

struct docker_container_spec {
    const char *name; /* may be NULL: the engine picks one */
    const char *image;
    const char *network;    /* network name or id the container joins */
    json_t *labels;         /* {"k":"v"} */
    const char *const *env; /* "K=V" strings */
    size_t n_env;
    long long memory_bytes;        /* 0: no limit */
    long long nano_cpus;           /* 1e9 a CPU; 0: no limit */
    long long pids_limit;          /* 0: no limit */
    bool read_only;                /* root filesystem read-only, with a writable /tmp */
    const char *user;              /* "UID:GID" the process runs as; NULL: the image's */
    const char *workdir;           /* where the process starts; NULL: the image's */
    const char *bind;              /* "HOST_DIR:CONTAINER_DIR" mounted read-write, or NULL */
    const char *const *entrypoint; /* replaces the image's (NULL: the image's own) */
    size_t n_entrypoint;
};

/* The body of the engine's create request for spec: what a container is
 * made with (its settings' digest tells whether one left running fits). */
json_t *docker_container_body(const struct docker_container_spec *spec);

/* Creates (does not start) a container; id_out gets its id. */
int docker_container_create(struct docker *d, const struct docker_container_spec *spec,
                            char id_out[DOCKER_ID_MAX], tf_err *err);
int docker_container_start(struct docker *d, const char *id, tf_err *err);

/* The container's IPv4 address on network (name or id). */
int docker_container_ip(struct docker *d, const char *id, const char *network, char ip_out[64],
                        tf_err *err);

/* 1 when the container is running, 0 when it exited (exit_code set, may be NULL), negative on
 * error. */
int docker_container_running(struct docker *d, const char *id, int *exit_code, tf_err *err);

/* Removes a container, killing it first if running. A missing one is success. */
int docker_container_remove(struct docker *d, const char *id, tf_err *err);

/* Waits up to timeout_s seconds for a container to stop; *exit_code gets
 * its status. A container still running then is TF_ERR_TIMEOUT. */
int docker_container_wait(struct docker *d, const char *id, long timeout_s, int *exit_code,
                          tf_err *err);

/* Unpacks an uncompressed tar into the container's directory dir (which
 * must exist), as the engine's PUT .../archive does; the container need
 * not have started. */
int docker_container_put_archive(struct docker *d, const char *id, const char *dir, const void *tar,
                                 size_t tar_len, tf_err *err);

/* A tar of path in the container (its last name the entries' first); *out
 * is malloc'd. One larger than max bytes is TF_ERR_TOO_LARGE. */
int docker_container_get_archive(struct docker *d, const char *id, const char *path, size_t max,
                                 void **out, size_t *out_len, tf_err *err);

/* Makes image tag ("repo:tag") from a container's file system and
 * configuration (its labels among them), applying Dockerfile instructions
 * as docker_image_import does. The container need not have started. */
int docker_container_commit(struct docker *d, const char *id, const char *tag,
                            const char *const *changes, size_t n_changes, tf_err *err);

/* Makes image tag from a root filesystem tar (docker import), applying
 * Dockerfile instructions such as "ENTRYPOINT [\"/handler\"]", "WORKDIR /fn"
 * or LABEL lines: one layer and no builder steps. */
int docker_image_import(struct docker *d, const void *tar, size_t tar_len, const char *tag,
                        const char *const *changes, size_t n_changes, tf_err *err);

/* DOCKER_CONTAINERS lists them all, DOCKER_RUNNING those running only;
 * services and secrets are a swarm manager's. */
enum docker_kind {
    DOCKER_CONTAINERS,
    DOCKER_NETWORKS,
    DOCKER_IMAGES,
    DOCKER_RUNNING,
    DOCKER_SERVICES,
    DOCKER_SECRETS,
};

/* Called for each object found: its id and its labels object (borrowed). */
typedef void docker_list_fn(void *ctx, const char *id, json_t *labels);

/* Lists objects of a kind carrying label "key=value" (or just "key"). */
int docker_list(struct docker *d, enum docker_kind kind, const char *label, docker_list_fn *fn,
                void *ctx, tf_err *err);

/* Ids gathered by docker_list with docker_ids_collect as its callback (or
 * by a callback of one's own that filters, then calls it). Zero-initialised;
 * freed with docker_ids_free. An id that finds no memory is left out. */
struct docker_ids {
    char (*ids)[DOCKER_ID_MAX];
    size_t n, cap;
};
void docker_ids_collect(void *ctx, const char *id, json_t *labels);
bool docker_ids_has(const struct docker_ids *l, const char *id);
void docker_ids_free(struct docker_ids *l);

/* Called for each line a container wrote (stdout and stderr, demultiplexed), without the newline.
 */
typedef void docker_log_fn(void *ctx, const char *line, size_t len);

/* Reads a container's output so far (not following), from the time since
 * (seconds since the epoch; 0: from the start); with timestamps, each line
 * starts with the engine's RFC 3339 time of it and a space. */
int docker_container_logs(struct docker *d, const char *id, double since, bool timestamps,
                          docker_log_fn *fn, void *ctx, tf_err *err);

/* As docker_container_logs, for every task of a service, wherever it ran;
 * each line starts (after its time, with timestamps) with the engine's
 * details: "com.docker.swarm.node.id=...,...,com.docker.swarm.task.id=... ". */
int docker_service_logs(struct docker *d, const char *id, double since, bool timestamps,
                        docker_log_fn *fn, void *ctx, tf_err *err);

/* ---- Swarm (core/docker_swarm.c) ---- */

#define DOCKER_REF_MAX 300 /* an image reference: registry/name@sha256:... */

/* Where a service's secret is found in its tasks: /run/secrets/NAME. */
#define DOCKER_SECRET_FILE_NAME "tinyfaas"

struct docker_swarm {
    bool active;  /* the engine is a node of a swarm */
    bool manager; /* ... a manager, which can run services */
    int nodes;    /* in the swarm */
    char node_id[DOCKER_ID_MAX];
};

/* The engine's part in a swarm. */
int docker_swarm_state(struct docker *d, struct docker_swarm *out, tf_err *err);

/* What a function's service is made with. */
struct docker_service_spec {
    const char *name;
    json_t *labels; /* the service's; the tasks' containers get container->labels */
    const struct docker_container_spec *container; /* image, env, user, limits; no name, bind */
    long long replicas;
    json_t *constraints;     /* placement: ["node.labels.site==north"], or NULL */
    const char *network;     /* the overlay its tasks join, or NULL */
    const char *secret_id;   /* mounted at /run/secrets/DOCKER_SECRET_FILE_NAME, or NULL */
    const char *secret_name; /* with secret_id */
    const char *secret_uid;  /* its owner, "65534" */
    int target_port;         /* published in host mode on a port the engine picks */
};

/* The engine's ServiceSpec for s. */
json_t *docker_service_body(const struct docker_service_spec *s);

/* Creates a service from body (docker_service_body); id_out gets its id. */
int docker_service_create(struct docker *d, json_t *body, char id_out[DOCKER_ID_MAX], tf_err *err);

/* The service object in *out, or NULL when there is none. */
int docker_service_inspect(struct docker *d, const char *id, json_t **out, tf_err *err);

/* Sets a service's replicas, its spec otherwise unchanged. */
int docker_service_scale(struct docker *d, const char *id, long long replicas, tf_err *err);

/* Removes a service (its tasks stop in the background); a missing one is success. */
int docker_service_remove(struct docker *d, const char *id, tf_err *err);

struct docker_task {
    char id[DOCKER_ID_MAX];
    char service[DOCKER_ID_MAX];
    char node[DOCKER_ID_MAX];
    char container[DOCKER_ID_MAX]; /* on its node, once made */
    char state[16];                /* as the node saw it: "running", "failed", ... */
    char desired[16];              /* what the manager wants: "running", "shutdown" */
    char error[160];               /* why it failed */
    int slot;
    uint16_t port; /* the host-mode port published for target_port; 0: none yet */
};

/* The tasks matching the filter key=value ("service" and its id or name,
 * or "label" and "k=v", which is matched on their service's labels), in
 * *out (malloc'd), with their ports for target_port. */
int docker_tasks(struct docker *d, const char *key, const char *value, int target_port,
                 struct docker_task **out, size_t *n, tf_err *err);

/* Creates an overlay network only services may join (not attachable). */
int docker_overlay_create(struct docker *d, const char *name, json_t *labels,
                          char id_out[DOCKER_ID_MAX], tf_err *err);

struct docker_node {
    char id[DOCKER_ID_MAX];
    char hostname[64];
    char addr[64]; /* where the swarm reaches it */
    bool ready;
};

/* The swarm's nodes in *out (malloc'd). */
int docker_nodes(struct docker *d, struct docker_node **out, size_t *n, tf_err *err);

/* Creates a secret holding data; id_out gets its id. */
int docker_secret_create(struct docker *d, const char *name, const void *data, size_t len,
                         json_t *labels, char id_out[DOCKER_ID_MAX], tf_err *err);

/* Removes a secret; a missing one is success. */
int docker_secret_remove(struct docker *d, const char *id, tf_err *err);

/* The id ("sha256:...") of a local image. */
int docker_image_id(struct docker *d, const char *ref, char id_out[DOCKER_ID_MAX], tf_err *err);

/* Tags image as repo:tag and pushes it to repo's registry; ref_out gets
 * "repo@sha256:...", the reference by digest every node can pull. */
int docker_image_push(struct docker *d, const char *image, const char *repo, const char *tag,
                      char ref_out[DOCKER_REF_MAX], tf_err *err);

/* Removes the name ref of an image that has others (no force, no prune). */
int docker_image_untag(struct docker *d, const char *ref, tf_err *err);

#endif
