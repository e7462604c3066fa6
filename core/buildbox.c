/* The build sandbox: see buildbox.h. */
#include "buildbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tarbuf.h"

#define STR_(x) #x
#define STR(x)  STR_(x)

struct output {
    docker_progress_fn *fn;
    void *ctx;
};

static void pass_line(void *ctx, const char *line, size_t len)
{
    struct output *o = ctx;
    char text[1024];
    snprintf(text, sizeof text, "%.*s", (int)(len < sizeof text ? len : sizeof text - 1), line);
    if (o->fn != NULL)
        o->fn(o->ctx, text);
}

/* Only the command's time is the build's (TF_ERR_TIMEOUT): an engine slow
 * to answer any other call has failed, as it would have by answering
 * wrongly. Returns -1. */
static int engine_slow(tf_err *err)
{
    if (err != NULL && err->kind == TF_ERR_TIMEOUT)
        err->kind = TF_ERR_UPSTREAM;
    return -1;
}

/* The function folder at /fn and an empty /out, both the build user's:
 * the engine would make any folder the tar does not name root's. */
static int make_input(const struct buildbox_job *job, struct tarbuf *in, tf_err *err)
{
    int rc = tarbuf_open(in, err);
    if (rc < 0)
        return rc;
    in->uid = in->gid = BUILDBOX_UID;
    in->parents = true;
    rc = tarbuf_add_dir(in, "fn", 0755, err);
    if (rc == 0)
        rc = tarbuf_add_dir(in, "out", 0755, err);
    if (rc == 0)
        rc = tarbuf_add_archive(in, job->fn_tar, job->fn_tar_len, "", err);
    if (rc == 0)
        rc = tarbuf_close(in, err);
    return rc;
}

/* Runs the command in container id, its files in place; 0 when it exited 0. */
static int run_command(struct docker *d, const char *id, const struct buildbox_job *job,
                       tf_err *err)
{
    struct tarbuf in = {0};
    int status = -1;
    int rc = make_input(job, &in, err);
    if (rc == 0)
        rc = docker_container_put_archive(d, id, "/", in.data, in.len, err);
    tarbuf_free(&in);
    if (rc == 0)
        rc = docker_container_start(d, id, err);
    bool late = false;
    if (rc == 0) {
        rc = docker_container_wait(d, id, job->timeout_s, &status, err);
        late = rc < 0 && err != NULL && err->kind == TF_ERR_TIMEOUT;
    }
    if (rc == 0 || late) {
        /* What it printed, so far: where a build that hangs got to. */
        tf_err lerr = {0};
        struct output o = {job->output, job->ctx};
        if (docker_container_logs(d, id, 0, false, pass_line, &o, &lerr) < 0 && job->output != NULL)
            job->output(job->ctx, lerr.msg);
    }
    if (late)
        return tf_err_set(err, TF_ERR_TIMEOUT, "the function's build ran past %ld s",
                          job->timeout_s);
    if (rc < 0)
        return engine_slow(err);
    if (status != 0)
        return tf_err_set(err, TF_ERR_BUILD, "the function's build failed (exit status %d)",
                          status);
    return 0;
}

int buildbox_run(struct docker *d, const struct buildbox_job *job, void **out, size_t *out_len,
                 tf_err *err)
{
    const char *argv[] = {"/bin/sh", "-c", job->command};
    /* HOME in /tmp: the tools keep caches and settings under it. */
    const char *env[] = {"HOME=/tmp"};
    struct docker_container_spec spec = {
        .image = job->builder,
        .network = job->network ? NULL : "none",
        .labels = job->labels,
        .env = env,
        .n_env = 1,
        .memory_bytes = BUILDBOX_MEMORY_BYTES,
        .nano_cpus = BUILDBOX_NANO_CPUS,
        .pids_limit = BUILDBOX_PIDS,
        .user = STR(BUILDBOX_UID) ":" STR(BUILDBOX_UID),
        .workdir = "/fn",
        .entrypoint = argv,
        .n_entrypoint = 3,
    };
    char id[DOCKER_ID_MAX];
    int rc = docker_container_create(d, &spec, id, err);
    if (rc < 0)
        return engine_slow(err);
    rc = run_command(d, id, job, err);
    if (rc == 0) {
        rc = docker_container_get_archive(d, id, "/out", BUILDBOX_OUTPUT_MAX, out, out_len, err);
        if (rc < 0 && err != NULL && err->kind == TF_ERR_TOO_LARGE)
            tf_err_set(err, TF_ERR_TOO_LARGE,
                       "what the function's build left is larger than %zu MiB",
                       BUILDBOX_OUTPUT_MAX >> 20);
        else if (rc < 0)
            engine_slow(err);
    }
    tf_err rerr = {0};
    if (docker_container_remove(d, id, &rerr) < 0 && job->output != NULL)
        job->output(job->ctx, rerr.msg);
    return rc;
}
