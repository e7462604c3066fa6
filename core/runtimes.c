#include "runtimes.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "runtimes_internal.h"

/* ---- runtime.conf ---- */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *end = s + strlen(s);
    while (end > s && isspace((unsigned char)end[-1]))
        *--end = '\0';
    return s;
}

static int parse_deps(struct runtime *r, const char *v, tf_err *err)
{
    if (strncmp(v, "nonblank:", 9) == 0) {
        r->deps = DEPS_NONBLANK;
        snprintf(r->deps_file, sizeof r->deps_file, "%s", v + 9);
        return 0;
    }
    const char *colon = strncmp(v, "json-object:", 12) == 0 ? strchr(v + 12, ':') : NULL;
    if (colon != NULL) {
        r->deps = DEPS_JSON_OBJECT;
        snprintf(r->deps_file, sizeof r->deps_file, "%.*s", (int)(colon - v - 12), v + 12);
        snprintf(r->deps_key, sizeof r->deps_key, "%s", colon + 1);
        return 0;
    }
    return tf_err_set(err, TF_ERR_INTERNAL, "runtime %s: unknown deps rule '%s'", r->name, v);
}

/* A command line of runtime.conf, refused rather than cut short. */
static int set_command(const struct runtime *r, const char *k, const char *v, char *out,
                       size_t size, tf_err *err)
{
    if (strlen(v) >= size)
        return tf_err_set(err, TF_ERR_INTERNAL, "runtime %s: %s= longer than %zu bytes", r->name, k,
                          size - 1);
    snprintf(out, size, "%s", v);
    return 0;
}

static int apply_key(struct runtime *r, const char *k, const char *v, tf_err *err)
{
    if (strcmp(k, "entry") == 0)
        snprintf(r->entry, sizeof r->entry, "%s", v);
    else if (strcmp(k, "base") == 0)
        r->has_base = strcmp(v, "yes") == 0;
    else if (strcmp(k, "builder") == 0)
        r->has_builder = strcmp(v, "yes") == 0;
    else if (strcmp(k, "deps") == 0)
        return parse_deps(r, v, err);
    else if (strcmp(k, "registry_base") == 0)
        snprintf(r->registry_base, sizeof r->registry_base, "%s", v);
    else if (strcmp(k, "compile") == 0)
        return set_command(r, k, v, r->compile, sizeof r->compile, err);
    else if (strcmp(k, "deps_install") == 0)
        return set_command(r, k, v, r->deps_install, sizeof r->deps_install, err);
    return 0; /* unknown keys are for newer daemons */
}

static int load_one(struct runtime *r, const char *root, const char *name, tf_err *err)
{
    *r = (struct runtime){0};
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(r->dir, sizeof r->dir, "%s/%s", root, name);
    char path[600], line[1024];
    snprintf(path, sizeof path, "%s/runtime.conf", r->dir);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 1; /* not a runtime folder (the shared shim, say) */
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
        char *s = trim(line), *eq = strchr(s, '=');
        if (*s == '#' || *s == '\0')
            continue;
        if (eq == NULL) {
            rc = tf_err_set(err, TF_ERR_INTERNAL, "%s: line without '=': %s", path, s);
            break;
        }
        *eq = '\0';
        rc = apply_key(r, trim(s), trim(eq + 1), err);
    }
    fclose(f);
    if (rc == 0 && r->entry[0] == '\0')
        rc = tf_err_set(err, TF_ERR_INTERNAL, "%s: no entry=", path);
    return rc;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const struct runtime *)a)->name, ((const struct runtime *)b)->name);
}

int runtimes_load(const struct runtimes_config *cfg, struct runtimes **out, tf_err *err)
{
    DIR *dir = opendir(cfg->runtime_dir);
    if (dir == NULL)
        return tf_err_set(err, TF_ERR_INTERNAL, "cannot read the runtime dir %s: %s",
                          cfg->runtime_dir, strerror(errno));
    struct runtimes *rs = calloc(1, sizeof *rs);
    int rc = rs != NULL ? 0 : -ENOMEM;
    struct dirent *de;
    while (rc == 0 && (de = readdir(dir)) != NULL && rs->n < MAX_RUNTIMES) {
        if (de->d_name[0] == '.')
            continue;
        int one = load_one(&rs->list[rs->n], cfg->runtime_dir, de->d_name, err);
        if (one < 0)
            rc = one;
        else if (one == 0)
            rs->n++;
    }
    closedir(dir);
    if (rc < 0) {
        free(rs);
        return rc;
    }
    rs->cfg = *cfg;
    qsort(rs->list, rs->n, sizeof rs->list[0], by_name);
    for (size_t i = 0; i < rs->n; i++) {
        runtime_compute_hash(rs, &rs->list[i]);
        pthread_mutex_init(&rs->list[i].images_lock, NULL);
    }
    for (size_t i = 0; i < rs->n; i++)
        snprintf(rs->names + strlen(rs->names), sizeof rs->names - strlen(rs->names), "%s%s",
                 i ? ", " : "", rs->list[i].name);
    if (rs->n == 0)
        log_warn("no runtime found in %s", cfg->runtime_dir);
    *out = rs;
    return 0;
}

void runtimes_free(struct runtimes *rs)
{
    for (size_t i = 0; rs != NULL && i < rs->n; i++)
        pthread_mutex_destroy(&rs->list[i].images_lock);
    free(rs);
}

const struct runtime *runtimes_find(const struct runtimes *rs, const char *env)
{
    for (size_t i = 0; env != NULL && i < rs->n; i++)
        if (strcmp(rs->list[i].name, env) == 0)
            return &rs->list[i];
    return NULL;
}

const char *runtimes_names(const struct runtimes *rs)
{
    return rs->names;
}

const char *runtime_entry(const struct runtime *r)
{
    return r->entry;
}

const char *runtime_compile_command(const struct runtime *r)
{
    return r->compile[0] ? r->compile : NULL;
}

const char *runtime_deps_command(const struct runtime *r)
{
    return r->deps_install[0] ? r->deps_install : NULL;
}

bool runtime_declares_deps(const struct runtime *r, const char *path, const void *data, size_t len)
{
    if (r->deps == DEPS_NEVER || strcmp(path, r->deps_file) != 0)
        return false;
    if (r->deps == DEPS_NONBLANK) {
        for (size_t i = 0; i < len; i++)
            if (!isspace(((const unsigned char *)data)[i]))
                return true;
        return false;
    }
    json_t *j = json_loadb(data, len, 0, NULL);
    json_t *deps = json_object_get(j, r->deps_key);
    bool yes = json_is_object(deps) && json_object_size(deps) > 0;
    json_decref(j);
    return yes;
}
