/* The state dir's copy of every deployed function, so a restarted daemon
 * (cleanly or not) serves them again with no re-upload:
 * <state-dir>/functions/NAME/spec.json (name, env, threads, envs, limits,
 * subfolder) and code.zip (the zip as uploaded). Written only after a deploy
 * succeeded, each file replaced whole (write, fsync, rename), so a crash
 * leaves the old copy or the new one. */
#ifndef TF_STORE_H
#define TF_STORE_H

#include <jansson.h>

#include <stdbool.h>

#include "err.h"
#include "lifecycle.h"

/* Keeps s (its code and settings). Return 0, or -1 with err set. */
int store_save(const char *state_dir, const struct deploy_spec *s, tf_err *err);

/* Records that name now runs threads handlers. */
int store_set_threads(const char *state_dir, const char *name, long long threads, tf_err *err);

/* Whether a copy of name is kept. */
bool store_has(const char *state_dir, const char *name);

/* Forgets name. A missing copy is no error. */
void store_remove(const char *state_dir, const char *name);

/* Called with the name of each kept function. */
typedef void store_name_fn(void *ctx, const char *name);

/* Calls fn with every kept function's name, in name order, reading no copy.
 * Returns how many there were. */
int store_each_name(const char *state_dir, store_name_fn *fn, void *ctx);

/* Forgets every function, and the folder they were kept in. */
void store_remove_all(const char *state_dir);

#define STORE_MAX_ENVS 256 /* as many as an upload may carry */
/* The largest spec.json or code.zip read back: a deploy's zip arrives in a
 * management request body, which is at most 64 MiB (daemon/config.c's
 * max_upload), so a larger kept file was not written by the daemon. */
#define STORE_MAX_FILE_BYTES ((size_t)64 << 20)

/* A kept spec.json read back, its strings pointing into json. */
struct store_spec {
    json_t *json;
    const char *envs[STORE_MAX_ENVS];
    const char *constraints[LIFECYCLE_CONSTRAINTS_MAX];
    struct deploy_spec spec; /* everything but the zip */
};

/* Reads the text of the spec.json kept in the folder named folder, checking
 * the type of every field it knows: name (equal to folder), env, threads
 * (1 to LIFECYCLE_THREADS_MAX), envs ("KEY=VALUE" strings), memory_mb,
 * timeout_s, concurrency (whole, not negative), cpus (not negative),
 * subfolder. A wrong one is TF_ERR_INVALID with err naming it, e.g.
 * `field "envs"[0] is not a string`. Only name and env are required; a
 * missing (or null) field takes an upload's default: threads 1, the others
 * 0 or none. The upper bounds of the limits are lifecycle_validate's, as for
 * an upload. store_spec_free in either case. */
int store_spec_parse(const char *text, size_t len, const char *folder, struct store_spec *k,
                     tf_err *err);
void store_spec_free(struct store_spec *k);

/* Called with each kept function; s and its strings live during the call. */
typedef void store_each_fn(void *ctx, const struct deploy_spec *s);

/* Calls fn for every kept function, in name order. A copy that cannot be
 * read, or whose spec.json has a field of the wrong type, is skipped with a
 * warning naming the file (and the field); one deleted meanwhile is passed
 * over. Returns how many were found. */
int store_load_all(const char *state_dir, store_each_fn *fn, void *ctx);

#endif
