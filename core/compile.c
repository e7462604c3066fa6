/* A function compiled in a throwaway builder container and imported as an
 * image: see compile.h. */
#include "compile.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tarbuf.h"

/* The compiler gets bounds too: a preprocessor bomb must not take the host. */
#define COMPILE_MEMORY_BYTES ((long long)1 << 30)
#define COMPILE_PIDS         256
#define COMPILE_OUTPUT_MAX   ((size_t)64 << 20) /* what a compile leaves in /out */

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

/* Runs the command in container id, its files in place; 0 when it exited 0. */
static int run_command(struct docker *d, const char *id, const struct compile_job *job, tf_err *err)
{
    int status = -1;
    int rc = docker_container_put_archive(d, id, "/", job->fn_tar, job->fn_tar_len, err);
    if (rc == 0)
        rc = docker_container_start(d, id, err);
    if (rc == 0)
        rc = docker_container_wait(d, id, job->timeout_s, &status, err);
    if (rc < 0 && err != NULL && err->kind == TF_ERR_TIMEOUT)
        return tf_err_set(err, TF_ERR_TIMEOUT, "the function's build ran past %ld s",
                          job->timeout_s);
    if (rc < 0)
        return rc;
    tf_err lerr = {0};
    struct output o = {job->output, job->ctx};
    if (docker_container_logs(d, id, 0, false, pass_line, &o, &lerr) < 0 && job->output != NULL)
        job->output(job->ctx, lerr.msg);
    if (status != 0)
        return tf_err_set(err, TF_ERR_BUILD, "the function's build failed (exit status %d)",
                          status);
    return 0;
}

/* LABEL k="v" ... for the import, from the labels object. */
static char *label_change(json_t *labels)
{
    char *line = strdup("LABEL");
    const char *k;
    json_t *v;
    json_object_foreach(labels, k, v)
    {
        char *next = NULL;
        if (line == NULL || asprintf(&next, "%s %s=\"%s\"", line, k, json_string_value(v)) < 0)
            next = NULL;
        free(line);
        line = next;
    }
    return line;
}

/* The image's root: the function folder at /fn and what the command left in /out. */
static int import_result(struct docker *d, const char *id, const struct compile_job *job,
                         tf_err *err)
{
    void *out = NULL;
    size_t out_len = 0;
    struct tarbuf root = {0};
    int rc = docker_container_get_archive(d, id, "/out", COMPILE_OUTPUT_MAX, &out, &out_len, err);
    if (rc == 0)
        rc = tarbuf_open(&root, err);
    if (rc == 0)
        rc = tarbuf_add_archive(&root, job->fn_tar, job->fn_tar_len, "", err);
    if (rc == 0)
        rc = tarbuf_add_archive(&root, out, out_len, "out/", err);
    if (rc == 0)
        rc = tarbuf_close(&root, err);
    char *labels = rc == 0 ? label_change(job->labels) : NULL;
    if (rc == 0 && labels == NULL) {
        rc = tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    }
    if (rc == 0) {
        const char *changes[] = {"ENTRYPOINT [\"" COMPILE_ENTRYPOINT "\"]", "WORKDIR /fn", labels};
        rc = docker_image_import(d, root.data, root.len, job->tag, changes, 3, err);
    }
    free(labels);
    tarbuf_free(&root);
    free(out);
    return rc;
}

int compile_image(struct docker *d, const struct compile_job *job, tf_err *err)
{
    const char *argv[] = {"/bin/sh", "-c", job->command};
    struct docker_container_spec spec = {
        .image = job->builder,
        .network = "none",
        .labels = job->labels,
        .memory_bytes = COMPILE_MEMORY_BYTES,
        .pids_limit = COMPILE_PIDS,
        .entrypoint = argv,
        .n_entrypoint = 3,
    };
    char id[DOCKER_ID_MAX];
    int rc = docker_container_create(d, &spec, id, err);
    if (rc < 0)
        return rc;
    rc = run_command(d, id, job, err);
    if (rc == 0)
        rc = import_result(d, id, job, err);
    tf_err rerr = {0};
    if (docker_container_remove(d, id, &rerr) < 0 && job->output != NULL)
        job->output(job->ctx, rerr.msg);
    return rc;
}
