#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "names.h"

#define MAX_KEPT_ENVS 256

static void fn_dir(const char *state_dir, const char *name, char *out, size_t size)
{
    snprintf(out, size, "%s/functions/%s", state_dir, name);
}

/* Replaces path with data: a temporary file, flushed to disk, renamed over it. */
static int write_whole(const char *path, const void *data, size_t len)
{
    char tmp[1300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    const char *p = data;
    size_t left = len;
    int rc = 0;
    while (left > 0 && rc == 0) {
        ssize_t n = write(fd, p, left);
        if (n < 0 && errno != EINTR)
            rc = -errno;
        else if (n > 0)
            p += n, left -= (size_t)n;
    }
    if (rc == 0 && fsync(fd) < 0)
        rc = -errno;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0)
        unlink(tmp);
    return rc;
}

static json_t *spec_json(const struct deploy_spec *s)
{
    json_t *envs = json_array();
    for (size_t i = 0; envs != NULL && i < s->n_envs; i++)
        json_array_append_new(envs, json_string(s->envs[i]));
    return json_pack("{s:s, s:s, s:I, s:o, s:I, s:f, s:I, s:I, s:s}", "name", s->name, "env",
                     s->env, "threads", (json_int_t)s->threads, "envs", envs, "memory_mb",
                     (json_int_t)s->memory_mb, "cpus", s->cpus, "timeout_s",
                     (json_int_t)s->timeout_s, "concurrency", (json_int_t)s->concurrency,
                     "subfolder", s->subfolder != NULL ? s->subfolder : "");
}

static int write_spec(const char *dir, json_t *spec)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/spec.json", dir);
    char *text = json_dumps(spec, JSON_INDENT(2));
    int rc = text != NULL ? write_whole(path, text, strlen(text)) : -ENOMEM;
    free(text);
    return rc;
}

int store_save(const char *state_dir, const struct deploy_spec *s, tf_err *err)
{
    char dir[1024], path[1200];
    snprintf(dir, sizeof dir, "%s/functions", state_dir);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return tf_err_set(err, TF_ERR_INTERNAL, "cannot keep function %s: %s: %s", s->name, dir,
                          strerror(errno));
    fn_dir(state_dir, s->name, dir, sizeof dir);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return tf_err_set(err, TF_ERR_INTERNAL, "cannot keep function %s: %s: %s", s->name, dir,
                          strerror(errno));
    snprintf(path, sizeof path, "%s/code.zip", dir);
    json_t *spec = spec_json(s);
    int rc = write_whole(path, s->zip, s->zip_len);
    if (rc == 0)
        rc = spec != NULL ? write_spec(dir, spec) : -ENOMEM;
    json_decref(spec);
    if (rc < 0)
        return tf_err_set(err, TF_ERR_INTERNAL, "cannot keep function %s in %s: %s", s->name, dir,
                          strerror(-rc));
    return 0;
}

static json_t *read_spec(const char *dir)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/spec.json", dir);
    json_error_t je;
    json_t *spec = json_load_file(path, 0, &je);
    if (spec == NULL)
        log_warn("kept function in %s: %s", dir, je.text);
    return spec;
}

int store_set_threads(const char *state_dir, const char *name, long long threads, tf_err *err)
{
    char dir[1024];
    fn_dir(state_dir, name, dir, sizeof dir);
    json_t *spec = read_spec(dir);
    int rc = spec != NULL ? 0 : -ENOENT;
    if (rc == 0)
        rc = json_object_set_new(spec, "threads", json_integer(threads)) == 0
                 ? write_spec(dir, spec)
                 : -ENOMEM;
    json_decref(spec);
    if (rc < 0)
        return tf_err_set(err, TF_ERR_INTERNAL, "cannot keep function %s's threads: %s", name,
                          strerror(-rc));
    return 0;
}

void store_remove(const char *state_dir, const char *name)
{
    char dir[1024], path[1200];
    fn_dir(state_dir, name, dir, sizeof dir);
    static const char *const files[] = {"code.zip", "spec.json", "code.zip.tmp", "spec.json.tmp"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    if (rmdir(dir) < 0 && errno != ENOENT)
        log_warn("cannot remove %s: %s", dir, strerror(errno));
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    unsigned char *data = NULL;
    long size = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (size >= 0 && fseek(f, 0, SEEK_SET) == 0 && (data = malloc((size_t)size + 1)) != NULL &&
        fread(data, 1, (size_t)size, f) != (size_t)size) {
        free(data);
        data = NULL;
    }
    fclose(f);
    *len = (size_t)size;
    return data;
}

/* Hands one kept function to fn: its spec.json and code.zip as a deploy_spec. */
static int load_one(const char *dir, store_each_fn *fn, void *ctx)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/code.zip", dir);
    json_t *spec = read_spec(dir);
    size_t zip_len = 0;
    unsigned char *zip = spec != NULL ? read_file(path, &zip_len) : NULL;
    json_t *envs = json_object_get(spec, "envs");
    const char *env_strings[MAX_KEPT_ENVS];
    struct deploy_spec s = {
        .name = json_string_value(json_object_get(spec, "name")),
        .env = json_string_value(json_object_get(spec, "env")),
        .threads = json_integer_value(json_object_get(spec, "threads")),
        .zip = zip,
        .zip_len = zip_len,
        .subfolder = json_string_value(json_object_get(spec, "subfolder")),
        .envs = env_strings,
        .n_envs = json_array_size(envs) < MAX_KEPT_ENVS ? json_array_size(envs) : MAX_KEPT_ENVS,
        .memory_mb = json_integer_value(json_object_get(spec, "memory_mb")),
        .cpus = json_number_value(json_object_get(spec, "cpus")),
        .timeout_s = json_integer_value(json_object_get(spec, "timeout_s")),
        .concurrency = json_integer_value(json_object_get(spec, "concurrency")),
    };
    for (size_t i = 0; i < s.n_envs; i++)
        env_strings[i] = json_string_value(json_array_get(envs, i));
    int rc = zip != NULL && s.name != NULL && s.env != NULL ? 0 : -1;
    if (rc == 0)
        fn(ctx, &s);
    else
        log_warn("kept function in %s cannot be read; skipped", dir);
    free(zip);
    json_decref(spec);
    return rc;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int is_function_dir(const struct dirent *e)
{
    return name_is_valid(e->d_name, strlen(e->d_name));
}

int store_load_all(const char *state_dir, store_each_fn *fn, void *ctx)
{
    char dir[700], sub[1000]; /* the state dir is at most 511 bytes, a name 255 */
    snprintf(dir, sizeof dir, "%s/functions", state_dir);
    struct dirent **names = NULL;
    int n = scandir(dir, &names, is_function_dir, by_name);
    if (n < 0)
        return 0; /* nothing kept yet */
    for (int i = 0; i < n; i++) {
        snprintf(sub, sizeof sub, "%s/%s", dir, names[i]->d_name);
        load_one(sub, fn, ctx);
        free(names[i]);
    }
    free(names);
    return n;
}
