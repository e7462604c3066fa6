/* Brings back, after a start, the functions the state dir keeps (store.h).
 * It runs on a thread of its own while the daemon already serves, so a
 * function that comes back early answers while later ones still build. */
#ifndef TF_RESTORE_H
#define TF_RESTORE_H

#include "lifecycle.h"

struct restorer;

/* Starts redeploying every kept function through lc, one after another.
 * Return 0, or -errno when the thread cannot start. */
int restore_start(struct lifecycle *lc, const char *state_dir, struct restorer **out);

/* Lets the deploy under way finish, skips the rest, and frees. NULL: no-op. */
void restore_stop(struct restorer *r);

#endif
