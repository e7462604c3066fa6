/* Runtimes: what each runtimes/<env>/ folder says (docs/runtimes.md), and
 * their base and builder images, built on this machine from the folder's
 * recipe and cached in the engine under a hash of their inputs. */
#ifndef TF_RUNTIMES_H
#define TF_RUNTIMES_H

#include <stdbool.h>
#include <stddef.h>

#include "docker.h"
#include "err.h"

struct runtimes;
struct runtime;

struct runtimes_config {
    const char *runtime_dir; /* the runtimes/ folder */
    const char *shim_dir;    /* where tinyfaas-shim (and libtinyfaas-c.a) are */
    const char *cache_dir;   /* downloads the recipes may keep */
    bool registry_images;    /* use each runtime's registry_base instead of a local base */
};

/* Reads every runtimes/<env>/runtime.conf. */
int runtimes_load(const struct runtimes_config *cfg, struct runtimes **out, tf_err *err);
void runtimes_free(struct runtimes *rs);

/* The runtime called env, or NULL. */
const struct runtime *runtimes_find(const struct runtimes *rs, const char *env);

/* "binary, c, nodejs, python3": for error messages. */
const char *runtimes_names(const struct runtimes *rs);

/* The file a function folder must hold at its top ("fn.sh", "fn.py", ...). */
const char *runtime_entry(const struct runtime *r);

/* The command that compiles a function in the builder image (buildbox.h),
 * or NULL when function images are built from function.Dockerfile. */
const char *runtime_compile_command(const struct runtime *r);

/* The command that installs the dependencies a function declares, in the
 * builder image (buildbox.h), or NULL when the runtime installs none. */
const char *runtime_deps_command(const struct runtime *r);

/* Whether the file at path (relative to the function folder) with these
 * contents declares dependencies, by the runtime's deps rule. */
bool runtime_declares_deps(const struct runtime *r, const char *path, const void *data, size_t len);

/* For runtime_ensure_images: every image the runtime has, needed or not. */
#define RUNTIME_ALL_IMAGES (-1)

/* Makes sure the images a function build of r needs exist (deps: whether
 * it declares dependencies, or RUNTIME_ALL_IMAGES), building missing ones
 * with progress in the log; base_out and builder_out get their references
 * ("" when not needed). The builder is needed to compile, to install
 * dependencies, and by a template that names @BUILDER@. */
int runtime_ensure_images(struct runtimes *rs, const struct runtime *r, struct docker *d, int deps,
                          char *base_out, char *builder_out, size_t size, tf_err *err);

/* The Dockerfile of a function image: the runtime's template with its words
 * replaced. *out is malloc'd. */
int runtime_function_dockerfile(const struct runtimes *rs, const struct runtime *r,
                                const char *base, const char *builder, const char *labels,
                                char **out, tf_err *err);

/* Builds every runtime's images and removes those of older recipes
 * (tinyfaas --build-images). */
int runtimes_build_all(struct runtimes *rs, struct docker *d, tf_err *err);

#endif
