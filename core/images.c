#include "images.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fnzip.h"
#include "log.h"

#define BASE_DOCKERFILE                                                                            \
    "FROM scratch\n"                                                                               \
    "COPY rootfs/ /\n"                                                                             \
    "WORKDIR /fn\n"                                                                                \
    "ENV PATH=/bin TINYFAAS_FN_DIR=/fn\n"                                                          \
    "ENTRYPOINT [\"/tinyfaas-shim\", \"binary\"]\n"

int images_runtime_known(const char *env)
{
    return env != NULL && strcmp(env, "binary") == 0;
}

const char *images_runtime_entry(const char *env)
{
    (void)env;
    return "fn.sh";
}

const char *images_runtime_names(void)
{
    return "binary";
}

static int read_file(const char *path, unsigned char **data, size_t *len, tf_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return tf_err_set(err, 500, "cannot open %s: %s", path, strerror(errno)), -errno;
    size_t cap = 1 << 20, n = 0;
    unsigned char *buf = malloc(cap);
    size_t got;
    while (buf != NULL && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            unsigned char *bigger = realloc(buf, cap *= 2);
            if (bigger == NULL) {
                free(buf);
                buf = NULL;
            }
            buf = bigger;
        }
    }
    fclose(f);
    if (buf == NULL)
        return tf_err_set(err, 500, "out of memory reading %s", path), -ENOMEM;
    *data = buf;
    *len = n;
    return 0;
}

/* The first 12 hex digits of sha256(shim || busybox || recipe): the image's version. */
static void content_hash(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen,
                         char out[13])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    EVP_DigestUpdate(ctx, a, alen);
    EVP_DigestUpdate(ctx, b, blen);
    EVP_DigestUpdate(ctx, BASE_DOCKERFILE, strlen(BASE_DOCKERFILE));
    EVP_DigestFinal_ex(ctx, md, &mdlen);
    EVP_MD_CTX_free(ctx);
    for (int i = 0; i < 6; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Adds a symlink per busybox applet, so fn.sh can call cat, sed, awk... */
static int add_applets(struct tarbuf *t, const char *busybox, tf_err *err)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "'%s' --list", busybox);
    FILE *p = popen(cmd, "r");
    if (p == NULL)
        return tf_err_set(err, 500, "cannot run %s --list", busybox), -EIO;
    char applet[128], path[160];
    int rc = 0;
    while (rc == 0 && fgets(applet, sizeof applet, p) != NULL) {
        applet[strcspn(applet, "\r\n")] = '\0';
        if (applet[0] == '\0' || strchr(applet, '/') != NULL || strcmp(applet, "busybox") == 0)
            continue;
        snprintf(path, sizeof path, "rootfs/bin/%s", applet);
        rc = tarbuf_add_symlink(t, path, "busybox", err);
    }
    pclose(p);
    return rc;
}

static void log_progress(void *ctx, const char *line)
{
    log_info("building %s: %s", (const char *)ctx, line);
}

static int build_binary_base(struct docker *d, const struct images_config *cfg, const char *tag,
                             const unsigned char *shim, size_t shim_len, const unsigned char *bb,
                             size_t bb_len, tf_err *err)
{
    struct tarbuf t = {0};
    int rc = tarbuf_open(&t, err);
    if (rc == 0)
        rc = tarbuf_add_file(&t, "Dockerfile", BASE_DOCKERFILE, strlen(BASE_DOCKERFILE), 0644, err);
    if (rc == 0)
        rc = tarbuf_add_file(&t, "rootfs/tinyfaas-shim", shim, shim_len, 0755, err);
    if (rc == 0)
        rc = tarbuf_add_file(&t, "rootfs/bin/busybox", bb, bb_len, 0755, err);
    if (rc == 0)
        rc = tarbuf_add_file(&t, "rootfs/fn/.keep", "", 0, 0644, err);
    if (rc == 0)
        rc = tarbuf_add_file(&t, "rootfs/tmp/.keep", "", 0, 0644, err);
    if (rc == 0)
        rc = add_applets(&t, cfg->busybox_path, err);
    if (rc == 0)
        rc = tarbuf_close(&t, err);
    if (rc == 0) {
        json_t *labels = json_pack("{s:s}", "tinyfaas.base", "binary");
        log_info("building base image %s", tag);
        rc = docker_image_build(d, t.data, t.len, tag, labels, log_progress, (void *)tag, err);
        json_decref(labels);
    }
    tarbuf_free(&t);
    return rc;
}

int images_ensure_base(struct docker *d, const struct images_config *cfg, const char *env,
                       char *tag_out, size_t tag_size, tf_err *err)
{
    if (!images_runtime_known(env))
        return tf_err_set(err, 400, "unknown env '%s' (known: %s)", env, images_runtime_names()),
               -EINVAL;
    unsigned char *shim = NULL, *bb = NULL;
    size_t shim_len = 0, bb_len = 0;
    int rc = read_file(cfg->shim_path, &shim, &shim_len, err);
    if (rc == 0)
        rc = read_file(cfg->busybox_path, &bb, &bb_len, err);
    if (rc == 0) {
        char hash[13];
        content_hash(shim, shim_len, bb, bb_len, hash);
        snprintf(tag_out, tag_size, "tinyfaas-base-binary:%s", hash);
        rc = docker_image_exists(d, tag_out, err);
        if (rc == 0)
            rc = build_binary_base(d, cfg, tag_out, shim, shim_len, bb, bb_len, err);
        else if (rc == 1)
            rc = 0;
    }
    free(shim);
    free(bb);
    return rc;
}
