/* Base and builder images of the runtimes: run the recipe, tar what it
 * wrote, build it; and the Dockerfiles of function images. */
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "runtimes_internal.h"
#include "tarbuf.h"

static void hash_file(struct sha256_ctx *ctx, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return; /* an absent optional input (libtinyfaas-c.a) just does not count */
    sha256_update(ctx, 1,
                  (const uint8_t *)path + (strrchr(path, '/') ? strrchr(path, '/') - path : 0));
    unsigned char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        sha256_update(ctx, n, buf);
    fclose(f);
}

static int not_hidden(const struct dirent *de)
{
    return de->d_name[0] != '.';
}

/* Every file of a folder, by name, in name order. */
static void hash_folder(struct sha256_ctx *ctx, const char *folder)
{
    struct dirent **names;
    int n = scandir(folder, &names, not_hidden, alphasort);
    char path[1024];
    for (int i = 0; i < n; i++) {
        sha256_update(ctx, strlen(names[i]->d_name) + 1, (const uint8_t *)names[i]->d_name);
        snprintf(path, sizeof path, "%s/%s", folder, names[i]->d_name);
        hash_file(ctx, path);
        free(names[i]);
    }
    if (n >= 0)
        free(names);
}

/* sha256 of every file in the recipe folder (by name, in order) and the
 * shim's outputs: a new recipe or shim gives a new tag. */
void runtime_compute_hash(const struct runtimes *rs, struct runtime *r)
{
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    char lib[600], path[1024];
    snprintf(lib, sizeof lib, "%s/lib", rs->cfg.runtime_dir);
    hash_folder(&ctx, r->dir);
    hash_folder(&ctx, lib); /* what every recipe sources */
    const char *shim_files[] = {"tinyfaas-shim", "libtinyfaas-c.a"};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s", rs->cfg.shim_dir, shim_files[i]);
        hash_file(&ctx, path);
    }
    uint8_t md[SHA256_DIGEST_SIZE];
    sha256_digest(&ctx, sizeof md, md);
    for (int i = 0; i < 6; i++)
        snprintf(r->hash + 2 * i, 3, "%02x", md[i]);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void remove_tree(const char *dir)
{
    nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static bool quotable(const char *s)
{
    return strchr(s, '\'') == NULL;
}

/* Runs the recipe into out_dir; its stdout lines are progress, stderr the reason. */
static int run_recipe(const struct runtimes *rs, const struct runtime *r, const char *role,
                      const char *out_dir, tf_err *err)
{
    const struct runtimes_config *c = &rs->cfg;
    if (!quotable(r->dir) || !quotable(c->runtime_dir) || !quotable(c->shim_dir) ||
        !quotable(c->cache_dir) || !quotable(out_dir))
        return tf_err_set(err, TF_ERR_INTERNAL, "paths with a ' cannot be passed to a recipe");
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "env TINYFAAS_RUNTIME_DIR='%s' TINYFAAS_SHIM_DIR='%s' TINYFAAS_CACHE_DIR='%s' "
             "bash '%s/build-context.sh' %s '%s/ctx' 2>'%s/stderr'",
             c->runtime_dir, c->shim_dir, c->cache_dir, r->dir, role, out_dir, out_dir);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "cannot run the %s recipe", r->name);
    char line[1024];
    while (fgets(line, sizeof line, p) != NULL) {
        line[strcspn(line, "\r\n")] = '\0';
        log_info("%s %s image: %s", r->name, role, line);
    }
    int status = pclose(p);
    if (status == 0)
        return 0;
    char path[1100], why[400] = "";
    snprintf(path, sizeof path, "%s/stderr", out_dir);
    FILE *f = fopen(path, "r");
    if (f != NULL) {
        /* The last lines say why: keep the tail. */
        char buf[8192];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = '\0';
        fclose(f);
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
            buf[--n] = '\0';
        snprintf(why, sizeof why, "%.300s", n > 300 ? buf + n - 300 : buf);
    }
    return tf_err_set(err, TF_ERR_INTERNAL, "the %s %s image recipe failed: %s", r->name, role,
                      why);
}

static void log_progress(void *ctx, const char *line)
{
    log_info("building %s: %s", (const char *)ctx, line);
}

/* The images of a runtime's role built from another recipe than hash. */
struct older {
    const char *role, *hash;
    struct docker_ids ids;
};

static void pick_older(void *ctx, const char *id, json_t *labels)
{
    struct older *o = ctx;
    const char *role = json_string_value(json_object_get(labels, "tinyfaas.role"));
    const char *hash = json_string_value(json_object_get(labels, "tinyfaas.hash"));
    if (role != NULL && strcmp(role, o->role) == 0 && (hash == NULL || strcmp(hash, o->hash) != 0))
        docker_ids_collect(&o->ids, id, labels);
}

/* After an upgrade the images of the previous recipe are dead weight on a
 * small disk: remove them. One still under a function's image stays. Only
 * on the operator's word (--build-images): a running daemon of another
 * version on the same engine may be building on them right now. */
static void prune_older(struct docker *d, const char *env, const char *role, const char *hash)
{
    char label[64];
    snprintf(label, sizeof label, "tinyfaas.base=%s", env);
    struct older o = {.role = role, .hash = hash};
    tf_err e;
    if (docker_list(d, DOCKER_IMAGES, label, pick_older, &o, &e) == 0)
        for (size_t i = 0; i < o.ids.n; i++)
            if (docker_image_remove(d, o.ids.ids[i], &e) == 0)
                log_info("removed an older %s %s image", env, role);
    docker_ids_free(&o.ids);
}

static int build_from_dir(struct docker *d, const char *dir, const char *tag, const char *env,
                          const char *role, tf_err *err)
{
    struct tarbuf t = {0};
    int rc = tarbuf_open(&t, err);
    if (rc == 0)
        rc = tarbuf_add_tree(&t, dir, "", err);
    if (rc == 0)
        rc = tarbuf_close(&t, err);
    if (rc == 0) {
        json_t *labels = json_pack("{s:s, s:s, s:s}", "tinyfaas.base", env, "tinyfaas.role", role,
                                   "tinyfaas.hash", strchr(tag, ':') + 1);
        rc = docker_image_build(d, t.data, t.len, tag, labels, log_progress, (void *)tag, err);
        json_decref(labels);
    }
    tarbuf_free(&t);
    return rc;
}

/* Registry mode: the runtime folder is the context of its registry.Dockerfile,
 * which starts from a registry image and adds the handler. */
static int build_registry_base(const struct runtime *r, struct docker *d, const char *tag,
                               tf_err *err)
{
    char path[700];
    snprintf(path, sizeof path, "%s/registry.Dockerfile", r->dir);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "runtime %s has no registry.Dockerfile", r->name);
    char text[8192];
    size_t n = fread(text, 1, sizeof text, f);
    fclose(f);
    struct tarbuf t = {0};
    int rc = tarbuf_open(&t, err);
    if (rc == 0)
        rc = tarbuf_add_tree(&t, r->dir, "", err);
    if (rc == 0)
        rc = tarbuf_add_file(&t, "Dockerfile", text, n, 0644, err);
    if (rc == 0)
        rc = tarbuf_close(&t, err);
    if (rc == 0) {
        json_t *labels =
            json_pack("{s:s, s:s}", "tinyfaas.base", r->name, "tinyfaas.role", "registry");
        log_info("building the %s registry base image %s", r->name, tag);
        rc = docker_image_build(d, t.data, t.len, tag, labels, log_progress, (void *)tag, err);
        json_decref(labels);
    }
    tarbuf_free(&t);
    return rc;
}

/* Builds image role of r from its recipe into tag. */
static int build_image(struct runtimes *rs, const struct runtime *r, struct docker *d,
                       const char *role, const char *tag, tf_err *err)
{
    char tmp[600];
    snprintf(tmp, sizeof tmp, "%s/build-XXXXXX", rs->cfg.cache_dir);
    if (mkdir(rs->cfg.cache_dir, 0755) < 0 && errno != EEXIST)
        return tf_err_set(err, TF_ERR_INTERNAL, "cannot create %s: %s", rs->cfg.cache_dir,
                          strerror(errno));
    if (mkdtemp(tmp) == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "cannot create a folder in %s: %s",
                          rs->cfg.cache_dir, strerror(errno));
    char ctx[700];
    snprintf(ctx, sizeof ctx, "%s/ctx", tmp);
    log_info("building the %s %s image %s (once; it stays in the engine as a cache)", r->name, role,
             tag);
    int rc = mkdir(ctx, 0755) == 0 ? 0 : tf_err_set(err, TF_ERR_INTERNAL, "cannot create %s", ctx);
    if (rc == 0)
        rc = run_recipe(rs, r, role, tmp, err);
    if (rc == 0)
        rc = build_from_dir(d, ctx, tag, r->name, role, err);
    remove_tree(tmp);
    return rc;
}

static int ensure_one(struct runtimes *rs, const struct runtime *r, struct docker *d,
                      const char *role, char *tag, size_t size, tf_err *err)
{
    snprintf(tag, size, "tinyfaas-%s-%s:%s", role, r->name, r->hash);
    int rc = docker_image_exists(d, tag, err);
    if (rc == 1)
        return 0;
    if (rc < 0)
        return rc;
    if (strcmp(role, "registry") == 0)
        return build_registry_base(r, d, tag, err);
    return build_image(rs, r, d, role, tag, err);
}

/* Whether the runtime's function.Dockerfile names @BUILDER@. */
static bool template_uses_builder(const struct runtime *r)
{
    char path[700], text[8192];
    snprintf(path, sizeof path, "%s/function.Dockerfile", r->dir);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    return strstr(text, "@BUILDER@") != NULL;
}

static int ensure_images(struct runtimes *rs, const struct runtime *r, struct docker *d, int deps,
                         char *base_out, char *builder_out, size_t size, tf_err *err)
{
    base_out[0] = builder_out[0] = '\0';
    if (rs->cfg.registry_images && r->registry_base[0] != '\0') {
        if (ensure_one(rs, r, d, "registry", base_out, size, err) < 0)
            return -1;
    } else if (r->has_base && ensure_one(rs, r, d, "base", base_out, size, err) < 0)
        return -1;
    /* A builder is made only when a build needs it: most deploys never do. */
    bool needed = deps < 0 || r->compile[0] != '\0' || (deps > 0 && r->deps_install[0] != '\0') ||
                  template_uses_builder(r);
    if (r->has_builder && needed && ensure_one(rs, r, d, "builder", builder_out, size, err) < 0)
        return -1;
    return 0;
}

int runtime_ensure_images(struct runtimes *rs, const struct runtime *r, struct docker *d, int deps,
                          char *base_out, char *builder_out, size_t size, tf_err *err)
{
    struct runtime *rw = (struct runtime *)r; /* its lock is the one thing that changes */
    pthread_mutex_lock(&rw->images_lock);
    int rc = ensure_images(rs, r, d, deps, base_out, builder_out, size, err);
    pthread_mutex_unlock(&rw->images_lock);
    return rc;
}

int runtimes_build_all(struct runtimes *rs, struct docker *d, tf_err *err)
{
    char base[256], builder[256];
    for (size_t i = 0; i < rs->n; i++) {
        const struct runtime *r = &rs->list[i];
        if (runtime_ensure_images(rs, r, d, RUNTIME_ALL_IMAGES, base, builder, sizeof base, err) <
            0)
            return -1;
        if (r->has_base)
            prune_older(d, r->name, "base", r->hash);
        if (r->has_builder)
            prune_older(d, r->name, "builder", r->hash);
    }
    return 0;
}

/* Replaces every word in text; returns a new string. */
static char *replace_words(const char *text, const char *const words[][2], size_t n)
{
    size_t cap = strlen(text) + 1;
    for (size_t i = 0; i < n; i++)
        for (const char *p = strstr(text, words[i][0]); p; p = strstr(p + 1, words[i][0]))
            cap += strlen(words[i][1]);
    char *out = malloc(cap), *o = out;
    if (out == NULL)
        return NULL;
    while (*text) {
        size_t i = 0;
        while (i < n && strncmp(text, words[i][0], strlen(words[i][0])) != 0)
            i++;
        if (i < n) {
            o = stpcpy(o, words[i][1]);
            text += strlen(words[i][0]);
        } else {
            *o++ = *text++;
        }
    }
    *o = '\0';
    return out;
}

int runtime_function_dockerfile(const struct runtimes *rs, const struct runtime *r,
                                const char *base, const char *builder, const char *labels,
                                char **out, tf_err *err)
{
    (void)rs;
    char path[700];
    snprintf(path, sizeof path, "%s/function.Dockerfile", r->dir);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "cannot read %s: %s", path, strerror(errno));
    char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    const char *const words[][2] = {{"@BASE@", base}, {"@BUILDER@", builder}, {"@LABELS@", labels}};
    *out = replace_words(text, words, 3);
    return *out != NULL ? 0 : tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
}
