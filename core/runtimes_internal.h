/* What core/runtimes.c reads and core/runtime_images.c builds from. */
#ifndef TF_RUNTIMES_INTERNAL_H
#define TF_RUNTIMES_INTERNAL_H

#include <pthread.h>

#include "runtimes.h"

#define MAX_RUNTIMES 16

enum deps_rule { DEPS_NEVER, DEPS_NONBLANK, DEPS_JSON_OBJECT };

struct runtime {
    char name[32];
    char dir[512];
    char entry[64];
    bool has_base, has_builder;
    enum deps_rule deps;
    char deps_file[64];
    char deps_key[64];
    char registry_base[128];
    char compile[768];      /* "": function images come from function.Dockerfile */
    char deps_install[768]; /* "": declared dependencies are not installed */
    char hash[13];          /* of the recipe folder and the shim: the images' tag */
    /* Held while its images are looked for or built: two deploys side by
     * side that both miss an image build it once. */
    pthread_mutex_t images_lock;
};

struct runtimes {
    struct runtimes_config cfg;
    struct runtime list[MAX_RUNTIMES];
    size_t n;
    char names[256];
};

/* Sets r->hash: sha256 of its recipe folder, the recipes' shared lib and
 * the shim's outputs. Computed once, when the runtimes are loaded, so that
 * deploys side by side read it and none writes it. */
void runtime_compute_hash(const struct runtimes *rs, struct runtime *r);

#endif
