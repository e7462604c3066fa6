/* Shared by the lifecycle's files: the record of what a deploy made, and
 * the lifecycle's own state. Not for use outside core/lifecycle*.c. */
#ifndef TF_LIFECYCLE_INTERNAL_H
#define TF_LIFECYCLE_INTERNAL_H

#include <jansson.h>
#include <pthread.h>

#include "dispatch.h"
#include "docker.h"
#include "lifecycle.h"
#include "names.h"

#define LIFECYCLE_THREADS_MAX 64
#define LABEL_INSTANCE        "tinyfaas.instance"
#define LABEL_FUNCTION        "tinyfaas.function"
#define LABEL_VERSION         "tinyfaas.version"

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
    int subnet;          /* index of its /25 in the subnet pool, -1: none */
    char image[160];
    char network[DOCKER_ID_MAX];
    char (*containers)[DOCKER_ID_MAX];
    size_t n_containers;
    struct function_record *next;
};

struct lifecycle {
    struct lifecycle_config cfg;
    pthread_mutex_t change_lock; /* one deploy/delete/wipe at a time */
    pthread_mutex_t table_lock;  /* guards records for list and logs */
    struct function_record *records;
    unsigned version; /* makes every deploy's object names unique */
};

/* The record of name, or NULL. Caller holds change_lock (or table_lock to read). */
struct function_record *lifecycle_find_record(struct lifecycle *lc, const char *name);

/* The limits r's calls are dispatched with. */
static inline struct dispatch_limits record_limits(const struct function_record *r)
{
    return (struct dispatch_limits){r->timeout_s * 1000, (unsigned)r->concurrency};
}

/* The labels of every object of name's version: {"tinyfaas.instance", ...}. */
json_t *lifecycle_labels(struct lifecycle *lc, const char *name, unsigned version);

/* Ids a docker_list gathers, with id_list_collect as its callback. */
struct id_list {
    char (*ids)[DOCKER_ID_MAX];
    size_t n, cap;
};
void id_list_collect(void *ctx, const char *id, json_t *labels);
bool id_list_has(const struct id_list *l, const char *id);

/* ---- lifecycle_handlers.c ---- */

/* Creates and starts r's handler containers from..to-1 (ids into
 * r->containers), filling eps[from..to) with their addresses. */
int lifecycle_start_handlers(struct lifecycle *lc, struct function_record *r, size_t from,
                             size_t to, struct dispatch_endpoint *eps, tf_err *err);

/* Removes the socket folders of r's handlers from..to-1 (unix transport). */
void lifecycle_remove_socket_dirs(struct lifecycle *lc, const struct function_record *r,
                                  size_t from, size_t to);

/* Empties the socket folder: what a killed earlier run left there. */
void lifecycle_clear_socket_dirs(struct lifecycle *lc);

#endif
