#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "names.h"

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
    json_t *envs = json_array(), *constraints = json_array();
    for (size_t i = 0; envs != NULL && i < s->n_envs; i++)
        json_array_append_new(envs, json_string(s->envs[i]));
    for (size_t i = 0; constraints != NULL && i < s->n_constraints; i++)
        json_array_append_new(constraints, json_string(s->constraints[i]));
    return json_pack("{s:s, s:s, s:I, s:o, s:I, s:f, s:I, s:I, s:s, s:o}", "name", s->name, "env",
                     s->env, "threads", (json_int_t)s->threads, "envs", envs, "memory_mb",
                     (json_int_t)s->memory_mb, "cpus", s->cpus, "timeout_s",
                     (json_int_t)s->timeout_s, "concurrency", (json_int_t)s->concurrency,
                     "subfolder", s->subfolder != NULL ? s->subfolder : "", "constraints",
                     constraints);
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

bool store_has(const char *state_dir, const char *name)
{
    char dir[1024], path[1200];
    fn_dir(state_dir, name, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/spec.json", dir);
    return access(path, F_OK) == 0;
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

/* The whole regular file at path, NUL-terminated, if at most max bytes.
 * Return 0, or -1 with err set. */
static int read_file(const char *path, size_t max, unsigned char **out, size_t *len, tf_err *err)
{
    /* O_NONBLOCK: a FIFO left where a file should be must not hang the start. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return tf_err_set(err, TF_ERR_INTERNAL, "cannot read it: %s", strerror(errno));
    struct stat st;
    unsigned char *data = NULL;
    size_t got = 0;
    int rc = 0;
    if (fstat(fd, &st) < 0)
        rc = tf_err_set(err, TF_ERR_INTERNAL, "cannot read it: %s", strerror(errno));
    else if (!S_ISREG(st.st_mode))
        rc = tf_err_set(err, TF_ERR_INVALID, "not a regular file");
    else if (st.st_size < 0 || (unsigned long long)st.st_size > max)
        rc = tf_err_set(err, TF_ERR_TOO_LARGE, "larger than %zu bytes", max);
    else if ((data = malloc((size_t)st.st_size + 1)) == NULL)
        rc = tf_err_set(err, TF_ERR_INTERNAL, "out of memory");
    while (rc == 0 && got < (size_t)st.st_size) {
        ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
        if (n < 0 && errno != EINTR)
            rc = tf_err_set(err, TF_ERR_INTERNAL, "cannot read it: %s", strerror(errno));
        else if (n == 0)
            break; /* it shrank meanwhile: what is there is checked like any other */
        else if (n > 0)
            got += (size_t)n;
    }
    close(fd);
    if (rc < 0) {
        free(data);
        return rc;
    }
    data[got] = '\0';
    *out = data;
    *len = got;
    return 0;
}

/* A field of the spec; JSON null counts as missing, as in an upload's body. */
static json_t *field(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_null(v) ? NULL : v;
}

/* A string field; a missing optional one leaves *out as it is. */
static int get_string(json_t *o, const char *key, bool required, const char **out, tf_err *err)
{
    json_t *v = field(o, key);
    if (v == NULL)
        return required ? tf_err_set(err, TF_ERR_INVALID, "field \"%s\" is missing", key) : 0;
    if (!json_is_string(v))
        return tf_err_set(err, TF_ERR_INVALID, "field \"%s\" is not a string", key);
    *out = json_string_value(v);
    return 0;
}

/* A whole-number field from min to max; missing leaves *out as it is. */
static int get_integer(json_t *o, const char *key, long long min, long long max, long long *out,
                       tf_err *err)
{
    json_t *v = field(o, key);
    if (v == NULL)
        return 0;
    if (!json_is_integer(v))
        return tf_err_set(err, TF_ERR_INVALID, "field \"%s\" is not a whole number", key);
    long long n = json_integer_value(v);
    if (n < min)
        return tf_err_set(err, TF_ERR_INVALID, "field \"%s\" is %lld, less than %lld", key, n, min);
    if (n > max)
        return tf_err_set(err, TF_ERR_INVALID, "field \"%s\" is %lld, more than %lld", key, n, max);
    *out = n;
    return 0;
}

/* The name, which must be the folder's: the folder is what delete removes. */
static int get_name(json_t *o, const char *folder, const char **out, tf_err *err)
{
    if (get_string(o, "name", true, out, err) < 0)
        return -1;
    if (!name_is_valid(*out, strlen(*out)))
        return tf_err_set(err, TF_ERR_INVALID, "field \"name\" is not a valid function name");
    if (strcmp(*out, folder) != 0)
        return tf_err_set(err, TF_ERR_INVALID, "field \"name\" is \"%s\", not the folder's name",
                          *out);
    return 0;
}

/* "cpus": any JSON number (an edited file may say 1 for 1.0), not negative. */
static int get_cpus(json_t *o, double *out, tf_err *err)
{
    json_t *v = field(o, "cpus");
    if (v == NULL)
        return 0;
    if (!json_is_number(v))
        return tf_err_set(err, TF_ERR_INVALID, "field \"cpus\" is not a number");
    double c = json_number_value(v);
    if (!(c >= 0)) /* NaN too, though jansson never makes one */
        return tf_err_set(err, TF_ERR_INVALID, "field \"cpus\" is negative");
    *out = c;
    return 0;
}

/* An optional array of at most max strings, each with a '=' after its
 * first character, as shape says: envs' KEY=VALUE, a constraint's
 * NAME==VALUE or NAME!=VALUE (lifecycle_validate checks the rest). */
static int get_strings(json_t *o, const char *key, const char *shape, const char **out, size_t max,
                       size_t *n, tf_err *err)
{
    json_t *v = field(o, key);
    if (v == NULL)
        return 0;
    if (!json_is_array(v))
        return tf_err_set(err, TF_ERR_INVALID, "field \"%s\" is not an array", key);
    if (json_array_size(v) > max)
        return tf_err_set(err, TF_ERR_INVALID, "field \"%s\" has more than %zu entries", key, max);
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item)
    {
        if (!json_is_string(item))
            return tf_err_set(err, TF_ERR_INVALID, "field \"%s\"[%zu] is not a string", key, i);
        const char *kv = json_string_value(item), *eq = strchr(kv, '=');
        if (eq == NULL || eq == kv)
            return tf_err_set(err, TF_ERR_INVALID, "field \"%s\"[%zu] is not %s", key, i, shape);
        out[(*n)++] = kv;
    }
    return 0;
}

int store_spec_parse(const char *text, size_t len, const char *folder, struct store_spec *k,
                     tf_err *err)
{
    *k =
        (struct store_spec){.spec = {.threads = 1, .envs = k->envs, .constraints = k->constraints}};
    json_error_t je;
    json_t *j = k->json = json_loadb(text, len, 0, &je);
    if (j == NULL)
        return tf_err_set(err, TF_ERR_INVALID, "not JSON: %s (line %d)", je.text, je.line);
    if (!json_is_object(j))
        return tf_err_set(err, TF_ERR_INVALID, "not a JSON object");
    /* Fields this daemon does not know are left alone: a newer one may have
     * written them, and the function still runs without them. */
    struct deploy_spec *s = &k->spec;
    if (get_name(j, folder, &s->name, err) < 0 || get_string(j, "env", true, &s->env, err) < 0 ||
        get_integer(j, "threads", 1, LIFECYCLE_THREADS_MAX, &s->threads, err) < 0 ||
        get_strings(j, "envs", "KEY=VALUE", k->envs, STORE_MAX_ENVS, &s->n_envs, err) < 0 ||
        get_strings(j, "constraints", "NAME==VALUE", k->constraints, LIFECYCLE_CONSTRAINTS_MAX,
                    &s->n_constraints, err) < 0 ||
        get_integer(j, "memory_mb", 0, LLONG_MAX, &s->memory_mb, err) < 0 ||
        get_cpus(j, &s->cpus, err) < 0 ||
        get_integer(j, "timeout_s", 0, LLONG_MAX, &s->timeout_s, err) < 0 ||
        get_integer(j, "concurrency", 0, LLONG_MAX, &s->concurrency, err) < 0 ||
        get_string(j, "subfolder", false, &s->subfolder, err) < 0)
        return -1;
    return 0;
}

void store_spec_free(struct store_spec *k)
{
    json_decref(k->json);
    k->json = NULL;
}

/* Hands the function kept in dir (its folder's name) to fn: its spec.json
 * and code.zip as a deploy_spec. Returns 0, 1 when dir is gone, or -1. */
static int load_one(const char *dir, const char *folder, store_each_fn *fn, void *ctx)
{
    char spec_path[1200], zip_path[1200];
    snprintf(spec_path, sizeof spec_path, "%s/spec.json", dir);
    snprintf(zip_path, sizeof zip_path, "%s/code.zip", dir);
    struct store_spec k = {0};
    tf_err err = {0};
    unsigned char *text = NULL, *zip = NULL;
    size_t text_len = 0, zip_len = 0;
    const char *failed = spec_path;
    int rc = read_file(spec_path, STORE_MAX_FILE_BYTES, &text, &text_len, &err);
    if (rc == 0)
        rc = store_spec_parse((const char *)text, text_len, folder, &k, &err);
    if (rc == 0) {
        failed = zip_path;
        rc = read_file(zip_path, STORE_MAX_FILE_BYTES, &zip, &zip_len, &err);
    }
    if (rc == 0) {
        k.spec.zip = zip;
        k.spec.zip_len = zip_len;
        fn(ctx, &k.spec);
    } else if (access(dir, F_OK) < 0 && errno == ENOENT) {
        rc = 1; /* deleted since the folder was listed: nothing to say */
    } else {
        log_warn("kept function in %s: %s; skipped", failed, err.msg);
    }
    free(zip);
    free(text);
    store_spec_free(&k);
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

int store_each_name(const char *state_dir, store_name_fn *fn, void *ctx)
{
    char dir[700];
    snprintf(dir, sizeof dir, "%s/functions", state_dir);
    struct dirent **names = NULL;
    int n = scandir(dir, &names, is_function_dir, by_name);
    for (int i = 0; i < n; i++) {
        fn(ctx, names[i]->d_name);
        free(names[i]);
    }
    free(names);
    return n > 0 ? n : 0;
}

struct load_all {
    const char *state_dir;
    store_each_fn *fn;
    void *ctx;
    int found; /* handed to fn, or warned about */
};

static void load_named(void *ctx, const char *name)
{
    struct load_all *a = ctx;
    char sub[1000]; /* the state dir is at most 511 bytes, a name 255 */
    snprintf(sub, sizeof sub, "%s/functions/%s", a->state_dir, name);
    a->found += load_one(sub, name, a->fn, a->ctx) != 1;
}

int store_load_all(const char *state_dir, store_each_fn *fn, void *ctx)
{
    struct load_all a = {state_dir, fn, ctx, 0};
    store_each_name(state_dir, load_named, &a);
    return a.found;
}

static void remove_named(void *ctx, const char *name)
{
    store_remove(ctx, name);
}

void store_remove_all(const char *state_dir)
{
    char dir[700];
    snprintf(dir, sizeof dir, "%s/functions", state_dir);
    store_each_name(state_dir, remove_named, (void *)state_dir);
    if (rmdir(dir) < 0 && errno != ENOENT)
        log_warn("cannot remove %s: %s", dir, strerror(errno));
}
