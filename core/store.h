/* The state dir's copy of every deployed function, so a restarted daemon
 * (cleanly or not) serves them again with no re-upload:
 * <state-dir>/functions/NAME/spec.json (name, env, threads, envs, limits,
 * subfolder) and code.zip (the zip as uploaded). Written only after a deploy
 * succeeded, each file replaced whole (write, fsync, rename), so a crash
 * leaves the old copy or the new one. */
#ifndef TF_STORE_H
#define TF_STORE_H

#include "err.h"
#include "lifecycle.h"

/* Keeps s (its code and settings). Return 0, or -1 with err set. */
int store_save(const char *state_dir, const struct deploy_spec *s, tf_err *err);

/* Records that name now runs threads handlers. */
int store_set_threads(const char *state_dir, const char *name, long long threads, tf_err *err);

/* Forgets name. A missing copy is no error. */
void store_remove(const char *state_dir, const char *name);

/* Called with each kept function; s and its strings live during the call. */
typedef void store_each_fn(void *ctx, const struct deploy_spec *s);

/* Calls fn for every kept function, in name order. A copy that cannot be
 * read is logged and skipped. Returns how many were found. */
int store_load_all(const char *state_dir, store_each_fn *fn, void *ctx);

#endif
