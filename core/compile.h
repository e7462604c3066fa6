/* Function images compiled rather than built: the function folder goes
 * into a throwaway container of the runtime's builder image, the runtime's
 * command compiles it there, and what the command leaves in /out becomes,
 * beside the folder at /fn, the root of an image made by one import.
 * Against a Dockerfile build this skips the builder's steps (a commit each,
 * about 0.1 s) and leaves no intermediate image behind. */
#ifndef TF_COMPILE_H
#define TF_COMPILE_H

#include <jansson.h>
#include <stddef.h>

#include "docker.h"
#include "err.h"

/* The file the command must leave in /out: the image runs it. */
#define COMPILE_ENTRYPOINT "/handler"

struct compile_job {
    const char *builder; /* the image with the toolchain, /bin/sh included */
    const char *command; /* run by /bin/sh -c; the function folder is /fn */
    const void *fn_tar;  /* the function folder, entries under fn/ */
    size_t fn_tar_len;
    json_t *labels; /* the container's and the image's ({"k":"v"}) */
    const char *tag;
    long timeout_s;
    docker_progress_fn *output; /* each line the command printed (may be NULL) */
    void *ctx;
};

/* Makes image job->tag. A command that fails is TF_ERR_BUILD with its
 * exit status (its lines went to output); one that runs past timeout_s is
 * TF_ERR_TIMEOUT. The container is removed whatever happens. */
int compile_image(struct docker *d, const struct compile_job *job, tf_err *err);

#endif
