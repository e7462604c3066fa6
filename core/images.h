/* Runtime base images, built locally from files on this machine (no
 * registry) and kept in the engine as a cache, named by a hash of their
 * contents so a new shim gives a new image. */
#ifndef TF_IMAGES_H
#define TF_IMAGES_H

#include <stddef.h>

#include "docker.h"
#include "err.h"

struct images_config {
    const char *shim_path;    /* the static tinyfaas-shim */
    const char *busybox_path; /* a static busybox */
};

/* True when env names a runtime this daemon can run. */
int images_runtime_known(const char *env);

/* The file a function of env must hold at the top of its folder ("fn.sh"). */
const char *images_runtime_entry(const char *env);

/* Comma-separated list of the runtimes, for error messages. */
const char *images_runtime_names(void);

/* Makes sure env's base image exists, building it if missing (progress in the
 * log); tag_out gets its reference. */
int images_ensure_base(struct docker *d, const struct images_config *cfg, const char *env,
                       char *tag_out, size_t tag_size, tf_err *err);

#endif
