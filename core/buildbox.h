/* The build sandbox: every step of a function's build that runs anything
 * of the user's (a compiler on its code, a package manager on the
 * dependencies it names, and their setup scripts) runs here, in a
 * throwaway container of the runtime's builder image. The container runs
 * as an unprivileged user with no capabilities and no way to gain any,
 * bounded in memory, CPU, processes and time, with no network unless the
 * step needs a package index; it is removed whatever happens. What the
 * command leaves in /out comes back as a tar for the function's image. */
#ifndef TF_BUILDBOX_H
#define TF_BUILDBOX_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "docker.h"
#include "err.h"

/* The user the command runs as ("nobody" in the builder images): it owns
 * /fn and /out and may write /tmp, and nothing else. */
#define BUILDBOX_UID 65534

/* Bounds of a build container: a compiler's preprocessor bomb or a setup
 * script's fork bomb takes none of the host, and one CPU leaves the rest
 * of a multi-core machine to the functions already serving. */
#define BUILDBOX_MEMORY_BYTES ((long long)1 << 30)
#define BUILDBOX_NANO_CPUS    1000000000LL
#define BUILDBOX_PIDS         256

/* What the command may leave in /out: it comes back through the daemon's
 * memory. The largest function folder an upload may unpack to is as large. */
#define BUILDBOX_OUTPUT_MAX ((size_t)256 << 20)

struct buildbox_job {
    const char *builder; /* the image with the tools, /bin/sh included */
    const char *command; /* run by /bin/sh -c in /fn */
    bool network;        /* the engine's default network (a package index); else none */
    const void *fn_tar;  /* the function folder, entries under fn/ */
    size_t fn_tar_len;
    json_t *labels;             /* the container's ({"k":"v"}) */
    long timeout_s;             /* how long the command may run */
    docker_progress_fn *output; /* each line the command printed (may be NULL) */
    void *ctx;
};

/* Runs job's command with the function folder at /fn; *out (malloc'd)
 * gets a tar of what it left in /out, entries under out/. A command that
 * exits non-zero is TF_ERR_BUILD with its exit status (its lines went to
 * output); one still running after timeout_s is TF_ERR_TIMEOUT; an /out
 * past BUILDBOX_OUTPUT_MAX is TF_ERR_TOO_LARGE. */
int buildbox_run(struct docker *d, const struct buildbox_job *job, void **out, size_t *out_len,
                 tf_err *err);

#endif
