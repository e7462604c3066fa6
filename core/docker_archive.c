/* Docker backend: the Engine API calls that move files in and out of
 * containers and make an image from a root filesystem or a container, with
 * which a function is built in a throwaway container and its image made in
 * one layer (core/buildbox.c, core/lifecycle_build.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docker.h"
#include "docker_http.h"

/* How long moving a function's files may take: they are a few MiB at most. */
#define ARCHIVE_TIMEOUT_S 120

static int no_memory(const char *what, tf_err *err)
{
    return tf_err_set(err, TF_ERR_INTERNAL, "docker: %s: out of memory", what);
}

/* One exchange whose answer body is wanted whole: 0 and *body on a 2xx,
 * else negative with err set from the engine's message. */
static int exchange(struct docker *d, const char *method, char *path, const void *send,
                    size_t send_len, const char *type, long timeout, const char *what,
                    struct docker__buf *body, tf_err *err)
{
    struct docker__sink sink = {0};
    long http = 0;
    if (path == NULL)
        return no_memory(what, err);
    int rc = docker__request(d, method, path, send, send_len, type, timeout, &sink, &http, err);
    free(path);
    if (rc == 0 && (http < 200 || http >= 300))
        rc = docker__engine_error(http, &sink.body, what, err);
    if (rc < 0)
        docker__buf_free(&sink.body);
    else
        *body = sink.body;
    return rc;
}

int docker_container_wait(struct docker *d, const char *id, long timeout_s, int *exit_code,
                          tf_err *err)
{
    struct docker__buf body = {0};
    int rc = exchange(d, "POST", docker__path("/containers/%s/wait", id), NULL, 0, NULL, timeout_s,
                      "wait for container", &body, err);
    if (rc < 0 && err != NULL && err->kind == TF_ERR_TIMEOUT)
        tf_err_set(err, TF_ERR_TIMEOUT, "docker: container %.12s still runs after %ld s", id,
                   timeout_s);
    if (rc < 0)
        return rc;
    json_t *j = json_loadb(body.p ? body.p : "", body.len, 0, NULL);
    json_t *code = json_object_get(j, "StatusCode");
    if (json_is_integer(code)) {
        *exit_code = (int)json_integer_value(code);
    } else {
        rc = tf_err_set(err, TF_ERR_UPSTREAM,
                        "docker: wait for container: the engine gave no StatusCode");
    }
    json_decref(j);
    docker__buf_free(&body);
    return rc;
}

int docker_container_put_archive(struct docker *d, const char *id, const char *dir, const void *tar,
                                 size_t tar_len, tf_err *err)
{
    struct docker__buf body = {0};
    int rc =
        exchange(d, "PUT", docker__path("/containers/%s/archive?path=%s", id, dir), tar, tar_len,
                 "application/x-tar", ARCHIVE_TIMEOUT_S, "copy into container", &body, err);
    docker__buf_free(&body);
    return rc;
}

/* A body gathered up to a bound of the caller's, which may pass DOCKER__BODY_MAX. */
struct capped {
    char *p;
    size_t len, cap, max;
};

static int capped_add(void *ctx, const char *p, size_t n)
{
    struct capped *c = ctx;
    if (n > c->max - c->len)
        return -EFBIG;
    if (c->len + n > c->cap) {
        size_t cap = c->cap ? c->cap : 65536;
        while (cap < c->len + n)
            cap = cap > c->max / 2 ? c->max : cap * 2;
        char *q = realloc(c->p, cap);
        if (q == NULL)
            return -ENOMEM;
        c->p = q;
        c->cap = cap;
    }
    memcpy(c->p + c->len, p, n);
    c->len += n;
    return 0;
}

int docker_container_get_archive(struct docker *d, const char *id, const char *path, size_t max,
                                 void **out, size_t *out_len, tf_err *err)
{
    struct capped c = {.max = max};
    struct docker__sink sink = {.stream = capped_add, .ctx = &c};
    char *url = docker__path("/containers/%s/archive?path=%s", id, path);
    long http = 0;
    if (url == NULL)
        return no_memory("copy from container", err);
    int rc = docker__request(d, "GET", url, NULL, 0, NULL, ARCHIVE_TIMEOUT_S, &sink, &http, err);
    free(url);
    if (rc == -EFBIG)
        rc = tf_err_set(err, TF_ERR_TOO_LARGE,
                        "docker: copy from container: %s is larger than %zu MiB", path, max >> 20);
    else if (rc == 0 && (http < 200 || http >= 300))
        rc = docker__engine_error(http, &sink.body, "copy from container", err);
    docker__buf_free(&sink.body);
    if (rc < 0) {
        free(c.p);
        return rc;
    }
    *out = c.p;
    *out_len = c.len;
    return 0;
}

/* The import answer is a 200 stream of JSON lines even when the import
 * fails; a failure is a line with "error". */
static int import_failure(const struct docker__buf *body, tf_err *err)
{
    const char *p = body->p ? body->p : "";
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        json_t *j = json_loadb(p, n, 0, NULL);
        const char *e = json_string_value(json_object_get(j, "error"));
        if (e != NULL) {
            tf_err_set(err, TF_ERR_INTERNAL, "docker: import image: %s", e);
            json_decref(j);
            return -EIO;
        }
        json_decref(j);
        p += n + (nl ? 1 : 0);
    }
    return 0;
}

/* base (malloc'd, freed here; NULL: out of memory) and each change as a
 * query parameter of its own, escaped as the rest of the path is. */
static int path_with_changes(struct docker__buf *path, char *base, const char *const *changes,
                             size_t n_changes)
{
    int rc = base ? docker__buf_add(path, base, strlen(base)) : -ENOMEM;
    free(base);
    for (size_t i = 0; rc == 0 && i < n_changes; i++) {
        char *part = docker__path("&changes=%s", changes[i]);
        rc = part ? docker__buf_add(path, part, strlen(part)) : -ENOMEM;
        free(part);
    }
    return rc;
}

int docker_image_import(struct docker *d, const void *tar, size_t tar_len, const char *tag,
                        const char *const *changes, size_t n_changes, tf_err *err)
{
    struct docker__buf path = {0};
    int rc = path_with_changes(&path, docker__path("/images/create?fromSrc=-&repo=%s", tag),
                               changes, n_changes);
    if (rc < 0) {
        docker__buf_free(&path);
        return no_memory("import image", err);
    }
    struct docker__buf body = {0};
    rc = exchange(d, "POST", path.p, tar, tar_len, "application/x-tar", ARCHIVE_TIMEOUT_S,
                  "import image", &body, err);
    if (rc == 0)
        rc = import_failure(&body, err);
    docker__buf_free(&body);
    return rc;
}

int docker_container_commit(struct docker *d, const char *id, const char *tag,
                            const char *const *changes, size_t n_changes, tf_err *err)
{
    /* The engine takes the repository and the tag apart; a ':' after the
     * last '/' starts the tag. */
    const char *colon = strrchr(tag, ':');
    if (colon != NULL && strchr(colon, '/') != NULL)
        colon = NULL;
    char repo[256];
    snprintf(repo, sizeof repo, "%.*s", colon ? (int)(colon - tag) : (int)strlen(tag), tag);
    struct docker__buf path = {0};
    int rc = path_with_changes(&path,
                               docker__path("/commit?container=%s&repo=%s&tag=%s&pause=0", id, repo,
                                            colon ? colon + 1 : "latest"),
                               changes, n_changes);
    if (rc < 0) {
        docker__buf_free(&path);
        return no_memory("commit container", err);
    }
    /* The body would override the container's configuration: none does. */
    struct docker__buf body = {0};
    rc = exchange(d, "POST", path.p, "{}", 2, "application/json", ARCHIVE_TIMEOUT_S,
                  "commit container", &body, err);
    docker__buf_free(&body);
    return rc;
}
