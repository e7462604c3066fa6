/* A function's image: the user's code unpacked into a build context, then
 * built from its runtime's template, or compiled, or given its
 * dependencies in the build sandbox (buildbox.h) and made from what that
 * left. Nothing of the user's runs outside the sandbox. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buildbox.h"
#include "lifecycle_internal.h"
#include "log.h"

/* The file a compile command must leave in /out: the image runs it. */
#define COMPILED_ENTRYPOINT "/handler"

static void see_file(void *ctx, const char *path, const void *data, size_t len)
{
    struct code_facts *f = ctx;
    const char *rel = path + strlen("fn/");
    if (strcmp(rel, runtime_entry(f->rt)) == 0)
        f->has_entry = true;
    if (runtime_declares_deps(f->rt, rel, data, len))
        f->has_deps = true;
}

int lifecycle_unpack_code(struct lifecycle *lc, const struct deploy_spec *s, struct tarbuf *t,
                          struct code_facts *facts, tf_err *err)
{
    struct fnzip_limits limits = {lc->cfg.max_zip_entries, lc->cfg.max_zip_bytes};
    const char *entry = runtime_entry(facts->rt);
    int rc = tarbuf_open(t, err);
    t->on_file = see_file;
    t->on_file_ctx = facts;
    if (rc == 0)
        rc = fnzip_to_tar(s->zip, s->zip_len, s->subfolder, "fn/", &limits, t, err);
    t->on_file = NULL;
    if (rc == 0 && !facts->has_entry)
        return tf_err_set(err, TF_ERR_INVALID,
                          "the %s runtime needs %s at the top of the function folder", s->env,
                          entry);
    return rc;
}

/* The build's own error lines (a compiler's, pip's, npm's), kept so a
 * failed deploy's answer says what the tool said, not just that it failed. */
struct build_log {
    const char *name;
    char lines[6][200];
    size_t n;
};

static void log_build(void *ctx, const char *line)
{
    struct build_log *b = ctx;
    log_debug("build %s: %s", b->name, line);
    while (*line == '\033') { /* colour codes some tools print */
        const char *m = strchr(line, 'm');
        if (m == NULL)
            break;
        line = m + 1;
    }
    if (strcasestr(line, "error") == NULL || strncmp(line, "Step ", 5) == 0)
        return;
    if (b->n == 6) {
        memmove(b->lines[0], b->lines[1], sizeof b->lines[0] * 5);
        b->n = 5;
    }
    snprintf(b->lines[b->n++], sizeof b->lines[0], "%s", line);
}

/* Says what the tool said, in place of the engine's "returned a non-zero code". */
static void explain_build(const struct build_log *b, tf_err *err)
{
    if (b->n == 0 || err == NULL || err->kind != TF_ERR_BUILD)
        return;
    char msg[TF_ERR_MSG_MAX];
    size_t len = (size_t)snprintf(msg, sizeof msg, "the function's build failed");
    for (size_t i = 0; i < b->n && len < sizeof msg; i++)
        len += (size_t)snprintf(msg + len, sizeof msg - len, "%s%s", i ? " | " : ": ", b->lines[i]);
    tf_err_set(err, TF_ERR_BUILD, "%s", msg);
}

/* The function's image from its runtime's function.Dockerfile template. */
static int build_from_template(struct lifecycle *lc, const struct deploy_spec *s,
                               const struct function_record *r, struct tarbuf *t,
                               const struct code_facts *facts, const char *base,
                               const char *builder, struct build_log *blog, tf_err *err)
{
    char labels_line[384];
    /* Every stage's images carry the labels, so a failed build leaves nothing unfindable. */
    snprintf(labels_line, sizeof labels_line, "LABEL %s=\"%s\" %s=\"%s\" %s=\"%u\" %s=\"%s\"",
             LABEL_INSTANCE, lc->cfg.instance_id, LABEL_FUNCTION, s->name, LABEL_VERSION,
             r->version, LABEL_DIGEST, r->digest);
    char *dockerfile = NULL;
    int rc = runtime_function_dockerfile(lc->cfg.runtimes, facts->rt, base, builder, labels_line,
                                         &dockerfile, err);
    if (rc == 0)
        rc = tarbuf_add_file(t, "Dockerfile", dockerfile, strlen(dockerfile), 0644, err);
    free(dockerfile);
    if (rc == 0)
        rc = tarbuf_close(t, err);
    /* No labels for the builder to add: the template's @LABELS@ lines label
     * every stage's images, the last one included. */
    if (rc == 0)
        rc = docker_image_build(lc->cfg.docker, t->data, t->len, r->image, NULL, log_build, blog,
                                err);
    return rc;
}

/* LABEL k="v" ... from the labels object, for an image made by import. */
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

/* The function's files as its image holds them: the folder at /fn, then
 * what the sandbox left in /out, root's, as a Dockerfile's COPY would
 * make them. The times of what the build made are kept (a .pyc is checked
 * against its source's). */
static int image_files(const struct tarbuf *t, const void *out, size_t out_len, struct tarbuf *root,
                       tf_err *err)
{
    int rc = tarbuf_open(root, err);
    if (rc == 0)
        rc = tarbuf_add_archive(root, t->data, t->len, "", err);
    root->keep_times = true;
    if (rc == 0)
        rc = tarbuf_add_archive(root, out, out_len, "out/", err);
    if (rc == 0)
        rc = tarbuf_close(root, err);
    return rc;
}

/* Compiled: an image of the function's files alone, running /handler,
 * made by one import (no builder steps, no intermediate image). */
static int import_compiled(struct lifecycle *lc, const struct function_record *r,
                           const struct tarbuf *root, json_t *labels, tf_err *err)
{
    char *label_line = label_change(labels);
    if (label_line == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    const char *changes[] = {"ENTRYPOINT [\"" COMPILED_ENTRYPOINT "\"]", "WORKDIR /fn", label_line};
    int rc = docker_image_import(lc->cfg.docker, root->data, root->len, r->image, changes, 3, err);
    free(label_line);
    return rc;
}

/* With dependencies: the base image and the function's files, made by
 * committing a container of the base that never starts (one layer, the
 * labels its own, nothing run). */
static int commit_on_base(struct lifecycle *lc, const struct function_record *r,
                          const struct tarbuf *root, const char *base, json_t *labels, tf_err *err)
{
    struct docker_container_spec spec = {.image = base, .network = "none", .labels = labels};
    char id[DOCKER_ID_MAX];
    int rc = docker_container_create(lc->cfg.docker, &spec, id, err);
    if (rc < 0)
        return rc;
    rc = docker_container_put_archive(lc->cfg.docker, id, "/", root->data, root->len, err);
    if (rc == 0)
        rc = docker_container_commit(lc->cfg.docker, id, r->image, NULL, 0, err);
    tf_err rerr = {0};
    if (docker_container_remove(lc->cfg.docker, id, &rerr) < 0)
        log_warn("function %s: %s", r->name, rerr.msg);
    return rc;
}

/* The function's image from a command run in the build sandbox: compiled
 * (compile=), or the base with the dependencies installed (deps_install=). */
static int build_in_sandbox(struct lifecycle *lc, const struct function_record *r, struct tarbuf *t,
                            const char *base, const char *builder, const char *command,
                            bool compiled, struct build_log *blog, tf_err *err)
{
    int rc = tarbuf_close(t, err);
    if (rc < 0)
        return rc;
    struct buildbox_job job = {
        .builder = builder,
        .command = command,
        .network = !compiled, /* an install fetches from a package index */
        .fn_tar = t->data,
        .fn_tar_len = t->len,
        .labels = lifecycle_image_labels(lc, r),
        .timeout_s = lc->cfg.build_timeout_s,
        .output = log_build,
        .ctx = blog,
    };
    if (job.labels == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    void *out = NULL;
    size_t out_len = 0;
    struct tarbuf root = {0};
    rc = buildbox_run(lc->cfg.docker, &job, &out, &out_len, err);
    if (rc < 0 && err != NULL && err->kind == TF_ERR_TIMEOUT)
        tf_err_set(err, TF_ERR_TIMEOUT,
                   "the function's build ran past %ld s (the daemon's --build-timeout) and was "
                   "stopped",
                   job.timeout_s);
    if (rc == 0)
        rc = image_files(t, out, out_len, &root, err);
    free(out);
    if (rc == 0)
        rc = compiled ? import_compiled(lc, r, &root, job.labels, err)
                      : commit_on_base(lc, r, &root, base, job.labels, err);
    tarbuf_free(&root);
    json_decref(job.labels);
    return rc;
}

int lifecycle_build_image(struct lifecycle *lc, const struct deploy_spec *s,
                          struct function_record *r, struct tarbuf *t,
                          const struct code_facts *facts, bool *cached, tf_err *err)
{
    char base[256], builder[256];
    int rc = runtime_ensure_images(lc->cfg.runtimes, facts->rt, lc->cfg.docker, facts->has_deps,
                                   base, builder, sizeof base, err);
    if (rc < 0)
        return rc;
    lifecycle_image_digest(s, facts, base, builder, r->digest);
    lifecycle_image_tag(lc, r);
    snprintf(r->base, sizeof r->base, "%s", base);
    rc = docker_image_exists(lc->cfg.docker, r->image, err);
    *cached = rc == 1;
    if (rc != 0)
        return rc < 0 ? rc : 0;
    struct build_log blog = {.name = r->name};
    const char *compile = runtime_compile_command(facts->rt);
    const char *install = facts->has_deps ? runtime_deps_command(facts->rt) : NULL;
    if (compile != NULL)
        rc = build_in_sandbox(lc, r, t, base, builder, compile, true, &blog, err);
    else if (install != NULL)
        rc = build_in_sandbox(lc, r, t, base, builder, install, false, &blog, err);
    else
        rc = build_from_template(lc, s, r, t, facts, base, builder, &blog, err);
    if (rc < 0) {
        r->image[0] = '\0'; /* a failed build tags nothing */
        explain_build(&blog, err);
    }
    return rc;
}
