/* Removes many Docker objects of one kind, several requests at a time. */
#ifndef TF_SWEEP_H
#define TF_SWEEP_H

#include <stddef.h>

#include "docker.h"
#include "err.h"

/* How many removals are in flight at once. */
#define SWEEP_PARALLEL 8

/* Removes (force) the n objects of kind whose ids are given, each tried even
 * when others fail. Returns 0, or negative with err describing the first failure. */
int sweep_remove(struct docker *d, enum docker_kind kind, char (*ids)[DOCKER_ID_MAX], size_t n,
                 tf_err *err);

#endif
